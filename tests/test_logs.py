from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot import logs
from bot.devkit.sim.slack import FakeSlack


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


async def test_slack_sdk_builds_no_payload_dumps_once_quieted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client_logger = logging.getLogger("slack_sdk.web.async_base_client")
    fake = FakeSlack()
    await fake.start()
    try:
        client = AsyncWebClient(token="xoxb-fake-token", base_url=fake.url)
        client_logger.setLevel(logging.NOTSET)  # as slack_sdk leaves it
        await client.chat_postMessage(channel="C0OPS", text="people's words")
        dumps = [r for r in caplog.records if r.name == client_logger.name]
        assert any("people's words" in r.getMessage() for r in dumps)  # built and logged
        caplog.clear()
        logs.quiet_wire_loggers()
        await client.chat_postMessage(channel="C0OPS", text="people's words")
        assert [r for r in caplog.records if r.name == client_logger.name] == []
    finally:
        client_logger.setLevel(logging.NOTSET)
        await fake.stop()
