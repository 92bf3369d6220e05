"""Logging for the commands a person reads in the terminal (``demo``, ``check``).

Their output is the point, so the bot's logs stay out of it unless asked for; when shown they
go to stderr through the same redaction as the server's (:class:`bot.logs.Redactor`). The
set-up is undone on exit, so calling a command in-process leaves logging as it was.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterable, Iterator

from bot.logs import Redactor


@contextlib.contextmanager
def scoped_logging(verbose: bool, secrets: Iterable[str] = ()) -> Iterator[Redactor]:
    """Within the block: INFO and up to stderr (redacted) when ``verbose``, else nothing."""
    root = logging.getLogger()
    old_level = root.level
    redactor = Redactor(secrets)
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
        handler.addFilter(redactor)
        root.setLevel(logging.INFO)
    else:
        # A handler that drops everything also keeps Python's last-resort stderr output away.
        handler = logging.NullHandler()
        root.setLevel(logging.CRITICAL + 1)
    root.addHandler(handler)
    try:
        yield redactor
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
