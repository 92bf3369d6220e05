"""STARTJOBS_LOG_FORMAT=json: one JSON object per line, redacted, with what each line is about."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import logs
from bot.config import ConfigError, load_config
from bot.service import logcontext
from tests.test_config import env

SECRET = "sk-very-secret-value"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.setup("INFO", [SECRET], "json")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    logging.getLogger().handlers.clear()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_its_fields(captured: io.StringIO) -> None:
    log = logging.getLogger("bot.test")
    log.info("plain %s", "line")
    try:
        raise RuntimeError(f"failed\nover two lines with {SECRET}")
    except RuntimeError:
        log.exception("call failed with token %s", "xoxb-123-456-abc")
    first, second = lines(captured)  # a traceback stays inside its line
    assert first["message"] == "plain line"
    assert first["level"] == "INFO"
    assert first["logger"] == "bot.test"
    assert str(first["time"]).endswith("+00:00")
    assert "exception" not in first
    assert second["level"] == "ERROR"
    assert "RuntimeError" in str(second["exception"])
    assert "over two lines" in str(second["exception"])
    out = captured.getvalue()
    assert SECRET not in out
    assert "xoxb-123-456-abc" not in out
    assert out.count("***") >= 2


async def test_what_a_task_is_about_is_on_its_lines_only(captured: io.StringIO) -> None:
    log = logging.getLogger("bot.test")

    async def working(request_id: str, user: str) -> None:
        logcontext.bind(request_id=request_id, project="prod", user=user)
        await asyncio.sleep(0)
        log.info("working on %s", request_id)
        logcontext.bind(drs_request_id="drs-req-1")
        log.info("called DRS")

    await asyncio.gather(
        asyncio.create_task(working("SJ-AAAA2222", "U01ALICE")),
        asyncio.create_task(working("SJ-BBBB3333", "U02BOB")),
    )
    log.info("outside any request")
    found = lines(captured)
    by_request = {(e.get("request_id"), e["message"]): e for e in found}
    alice = by_request[("SJ-AAAA2222", "working on SJ-AAAA2222")]
    assert alice["user"] == "U01ALICE"
    assert alice["project"] == "prod"
    assert "drs_request_id" not in alice
    assert by_request[("SJ-BBBB3333", "called DRS")]["drs_request_id"] == "drs-req-1"
    assert by_request[("SJ-BBBB3333", "called DRS")]["user"] == "U02BOB"
    outside = found[-1]
    assert outside["message"] == "outside any request"
    assert not {"request_id", "user", "project", "drs_request_id"} & outside.keys()


def test_scope_undoes_what_was_bound_inside_it() -> None:
    def body() -> None:
        logcontext.bind(user="U01ALICE")
        with logcontext.scope():
            logcontext.bind(request_id="SJ-AAAA2222", user="U02BOB")
            assert logcontext.current()["user"] == "U02BOB"
        assert logcontext.current().get("user") == "U01ALICE"
        assert "request_id" not in logcontext.current()

    contextvars.copy_context().run(body)  # this test's binding stays out of the others'


def test_text_stays_the_default(tmp_path: Path) -> None:
    settings, _ = load_config(env(tmp_path))
    assert settings.log_format == "text"
    settings, _ = load_config(env(tmp_path, STARTJOBS_LOG_FORMAT="JSON"))
    assert settings.log_format == "json"


def test_a_bad_format_says_what_to_use(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env(tmp_path, STARTJOBS_LOG_FORMAT="yaml"))
    (problem,) = [p for p in caught.value.problems if "STARTJOBS_LOG_FORMAT" in p]
    assert "'yaml'" in problem
    assert "text" in problem and "json" in problem
