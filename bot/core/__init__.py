"""Pure domain: values, parsing, policy decisions, the request state machine, summaries.

Nothing in this package performs I/O or imports ``slack_*``, ``httpx`` or ``aiohttp``.
"""
