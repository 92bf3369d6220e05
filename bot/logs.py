"""Logging set-up with a last line of defence against leaked secrets.

Secrets are kept in :class:`bot.core.secret.Secret` and never formatted, but a library may
log a request or an exception text that contains one. :class:`Redactor` rewrites every record
(message, arguments and traceback text) before any handler sees it: known secret values and
anything shaped like a Slack token are replaced by ``***``.

Lines are text by default; ``STARTJOBS_LOG_FORMAT=json`` makes each record one JSON object on
one line (:class:`JsonFormatter`): time, level, logger, message, exception, and the request
ID, project, user and DRS request ID where known (:mod:`bot.service.logcontext`). The
redaction runs before either formatter, so JSON lines are scrubbed the same way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from bot.service import logcontext

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")

# Wire-level loggers that print raw headers (IAM's X-Subject-Token among them) at DEBUG.
WIRE_LOGGERS = ("httpcore", "hpack")
# slack_sdk's Web API clients dump every request and answer body at DEBUG (people's text
# among them), and decide whether to build those dumps from the logger's own level, not from
# whether DEBUG is enabled: left unset, every call formats its whole payload twice for
# nothing. Set explicitly, they build nothing.
PAYLOAD_LOGGERS = ("slack_sdk.web.async_base_client", "slack_sdk.web.base_client")

_TOKEN_SHAPES = re.compile(
    r"xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|MII[A-Za-z0-9_+/=-]{40,}"
    r"|(?i:(?:signature|access|x-auth-token|x-subject-token|password)[=:]\s*)[^\s,\"']+"
)


class Redactor(logging.Filter):
    """Replaces secret values and token-shaped text in every record passing through."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._values = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, "***")
        return _TOKEN_SHAPES.sub(_mask, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = self.scrub(formatter.formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        exception = record.exc_text
        if record.exc_info and not exception:  # a record no Redactor saw (not the bot's)
            exception = self.formatException(record.exc_info)
        if exception:
            entry["exception"] = exception
        if record.stack_info:
            entry["stack"] = record.stack_info
        entry.update(logcontext.current())
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(fmt: str, datefmt: str = "%Y-%m-%dT%H:%M:%S") -> logging.Formatter:
    """The formatter for ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return JsonFormatter()
    return logging.Formatter(LINE_FORMAT, datefmt)


def _mask(match: re.Match[str]) -> str:
    text = match.group(0)
    for sep in ("=", ":"):
        if sep in text and not text.startswith(("xox", "xapp")):
            key = text.split(sep, 1)[0]
            return f"{key}{sep}***"
    return "***"


def quiet_wire_loggers() -> None:
    """Keep header- and payload-dumping loggers at INFO whatever the root level is.

    httpcore traces every response header at DEBUG, IAM tokens included, and slack_sdk every
    request and answer body; nobody needs that in the bot's log, and a record never made
    cannot leak through any handler.
    """
    for name in (*WIRE_LOGGERS, *PAYLOAD_LOGGERS):
        logging.getLogger(name).setLevel(logging.INFO)


def setup(level: str, secrets: Iterable[str] = (), fmt: str = "text") -> Redactor:
    """Log to stderr at ``level`` with every record redacted, as text lines or (``fmt``
    "json") JSON lines. Returns the filter in use."""
    redactor = Redactor(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet_wire_loggers()
    return redactor


@contextlib.contextmanager
def scoped_logging(verbose: bool, secrets: Iterable[str] = ()) -> Iterator[Redactor]:
    """Logging for commands a person reads in the terminal (``demo``, ``check``).

    Within the block: INFO and up to stderr, redacted, when ``verbose``; else nothing (their
    output is the point). Undone on exit, so an in-process call leaves logging as it was.
    """
    root = logging.getLogger()
    old_level = root.level
    redactor = Redactor(secrets)
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LINE_FORMAT, "%H:%M:%S"))
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
