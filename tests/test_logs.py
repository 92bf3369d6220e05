from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot import logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    logging.getLogger().handlers.clear()


def test_redactor_scrubs_messages_args_and_tracebacks(captured: io.StringIO) -> None:
    redactor = logs.setup("DEBUG", ["sk-very-secret-value"])
    root = logging.getLogger()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(captured)
    log = logging.getLogger("bot.test")
    log.info("token %s and key %s", "xoxb-123-456-abc", "sk-very-secret-value")
    log.debug("headers Authorization: SDK-HMAC-SHA256 Access=AKID, Signature=deadbeef")
    log.debug("subject (b'X-Subject-Token', b'MII%s')", "A" * 60)
    try:
        raise RuntimeError("failed with sk-very-secret-value in the message")
    except RuntimeError:
        log.exception("call failed")
    out = captured.getvalue()
    assert "sk-very-secret-value" not in out
    assert "xoxb-123-456-abc" not in out
    assert "deadbeef" not in out
    assert "MII" + "A" * 40 not in out
    assert out.count("***") >= 4
    assert "RuntimeError" in out, "the traceback itself is kept"
    assert redactor.scrub("plain text") == "plain text"


def test_wire_loggers_stay_quiet_at_debug(captured: io.StringIO) -> None:
    logs.setup("DEBUG")
    assert not logging.getLogger("httpcore.http11").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("bot").isEnabledFor(logging.DEBUG)
