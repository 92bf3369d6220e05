"""Named crash points for recovery tests: ``STARTJOBS_FAILPOINT=<name>`` kills the process there.

The process sends itself SIGKILL at the named point, exactly as a power cut or an OOM kill
would stop it: no ``finally`` blocks, no flushing. Unset (the default) it does nothing. The
points mark the moments recovery must handle:

- ``after_approval``: the approval (and its claimed start) is committed, nothing sent.
- ``after_send``: the start is marked sent and the DRS answer has arrived, not yet recorded.
- ``after_record``: outcomes are stored, nothing posted to the thread.
- ``after_post``: the outcome is posted to the thread but not yet marked as posted.
"""

from __future__ import annotations

import os
import signal

ENV = "STARTJOBS_FAILPOINT"


def hit(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
