"""Hostile but correctly signed Slack requests against the bot, over real HTTP on loopback.

Every example is a request Slack's signature would vouch for but a broken client, a stale
modal or an attacker with a leaked signing secret could have shaped: slash commands with any
text, ``block_actions``, ``view_submission`` and ``block_suggestion`` payloads with fields
missing, of the wrong type, huge, in any script, naming other teams and requests that do not
exist, and envelopes that are not payloads at all. For each one:

* the bot answers, and never with a 5xx;
* nothing is logged at ERROR (a listener that raised, a background task that failed);
* what it cannot serve gets a 4xx or something the user sees: an inline error, a notice in
  the modal, an acknowledgement text, or a Slack call addressed to the user;
* DRS is never asked to start a job. The senders are never approvers, so nothing here can
  legitimately lead to a start either.

How examples run: Hypothesis calls a plain function per example, while the whole stack (the
bot, the fake Slack, the DRS simulator: :class:`~tests.e2e.harness.Harness`) runs on an event
loop in a background thread, started once per test function. Each example hands its request
to that loop with ``run_coroutine_threadsafe`` and waits until the bot is quiet again before
the checks, so the Slack calls seen are the ones that example caused. A sync ``@given`` test
keeps Hypothesis in charge of generation and shrinking and keeps the harness alive across
examples, without depending on how an async test plugin drives Hypothesis.

``STARTJOBS_FUZZ_EXAMPLES`` sets the examples per test (default 40, a few seconds each);
the long mode is e.g. ``STARTJOBS_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz_payloads.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.devkit.sim.driver import DriverResponse
from bot.devkit.sim.drs_jobs import DEMO_JOBS
from bot.slack.ui.ids import ActionId, BlockId, CallbackId, When
from tests.core.strategies import chat_text, job_ids
from tests.e2e.harness import ALICE, BOB, CAROL, CHANNEL, DAVE, MALLORY, OTHER_CHANNEL, Harness

EXAMPLES = int(os.environ.get("STARTJOBS_FUZZ_EXAMPLES", "40"))
FORM = "application/x-www-form-urlencoded"
ORDERS = DEMO_JOBS[0][0]
# Slack Web API calls through which a person sees an answer.
SHOWN = {
    "chat.postEphemeral",
    "chat.postMessage",
    "chat.update",
    "views.open",
    "views.update",
    "views.push",
    "response_url",
}
APPROVERS = {BOB, CAROL}
T = TypeVar("T")

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


# -- the stack on a background loop ---------------------------------------------------------------


class BackgroundStack:
    """A started :class:`Harness` on an event loop of its own thread, for sync test code."""

    def __init__(self, tmp: Path) -> None:
        self.h = Harness(tmp)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="fuzz-stack", daemon=True
        )
        self.request_id = ""
        self.message_ts = ""
        self.start_view = ""

    def __enter__(self) -> BackgroundStack:
        self._thread.start()
        try:
            self.run(self._setup())
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.h.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _setup(self) -> None:
        await self.h.__aenter__()
        self.h.sim.seed_demo()
        # A real pending request (two-person approval) for payloads to aim at, and a real
        # start modal to submit.
        _, message = await self.h.request(ALICE, "prod", [ORDERS])
        self.request_id = self.h.request_id(message)
        self.message_ts = message.ts
        self.start_view = await self.h.open_modal(ALICE)
        await self._quiet()

    async def _quiet(self) -> None:
        """Return once the bot's background work is done and Slack calls have stopped (what a
        listener does after its ack runs in Bolt's own task: quiet for 0.15 s means done)."""
        calls, still = len(self.h.slack.calls), 0
        while still < 3:
            await self.h.b.service.tasks.drain(10.0)
            await asyncio.sleep(0.05)
            now = len(self.h.slack.calls)
            still = still + 1 if now == calls else 0
            calls = now

    def exchange(self, make: Callable[[], tuple[bytes, str]]) -> Exchange:
        """Build a request on the loop (trigger ids and response URLs are issued there), send
        it signed, wait until the bot is quiet; what it answered and what it did."""

        async def go() -> Exchange:
            body, content_type = make()
            before = len(self.h.slack.calls)
            resp = await self.h.d.raw(body, content_type=content_type)
            await self._quiet()
            methods = [c.method for c in self.h.slack.calls[before:]]
            starts = sum(1 for c in self.h.sim.calls if c.endpoint == "batch-starting")
            return Exchange(resp, methods, starts)

        return self.run(go())


@dataclass(frozen=True)
class Exchange:
    resp: DriverResponse
    slack_methods: list[str]
    drs_starts: int


class ErrorRecords(logging.Handler):
    """Every record at ERROR or above, from any logger and any thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        shown = [f"{r.name}: {r.getMessage()}" for r in self.records]
        self.records.clear()
        return shown


@pytest.fixture
def errors() -> Iterator[ErrorRecords]:
    handler = ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[BackgroundStack]:
    with BackgroundStack(tmp_path) as s:
        yield s


def check(ex: Exchange, errors: ErrorRecords, example: object) -> None:
    """The properties every example must keep."""
    resp, logged = ex.resp, errors.take()  # taken first: a failed example leaves none behind
    what = repr(example)[:400]
    assert not resp.timed_out and resp.status < 500, (resp.status, resp.text[:300], what)
    assert logged == [], what
    assert ex.drs_starts == 0, what
    if 400 <= resp.status < 500:
        return
    assert resp.status == 200, (resp.status, what)
    assert said_something(resp) or SHOWN & set(ex.slack_methods), (
        "acknowledged without telling anyone anything",
        ex.slack_methods,
        what,
    )


def said_something(resp: DriverResponse) -> bool:
    """The acknowledgement itself shows the person something."""
    body = resp.json
    if body is None:
        return bool(resp.text.strip())
    action = body.get("response_action")
    if action == "errors":
        return bool(body.get("errors"))
    if action in ("update", "push"):
        return bool(body.get("view"))
    return any(body.get(k) for k in ("text", "blocks", "options", "option_groups", "challenge"))


# -- strategies -----------------------------------------------------------------------------------

OURS = "T0STARTJOBS"  # the fake Slack's workspace, which the bot's token belongs to
huge = st.integers(3_000, 120_000).map(lambda n: "Ω" * n) | st.just("x" * 1_100_000)
weird_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "SJ-AAAAAAAA",
            "<!channel>",
            "<@U02BOB>",
            "*bold* _it_ ~x~ `c`",
            "```",
            "&lt;&amp;",
            "null",
            "{}",
            "[]",
            "🚀" * 30,
            "\u202eevil",
            "a" * 3001,
        ]
    ),
    huge,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    weird_text,
)
any_json: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
users = st.one_of(
    st.sampled_from([ALICE, DAVE, MALLORY, "U0NOBODY", "W0ENTERPRISE", ""]),
    st.text(max_size=12),
).filter(lambda u: u not in APPROVERS)
teams = st.sampled_from([OURS, OURS, OURS, "T0OTHERTEAM", "", "E0GRID"]) | st.text(max_size=12)
channels = st.sampled_from([CHANNEL, CHANNEL, OTHER_CHANNEL, "D0DIRECT", "G0PRIVATE", ""]) | (
    st.text(max_size=12)
)
# Only addresses on loopback, or none that resolve: the bot may post to a response_url.
URL_KINDS = ("issued", "unknown", "refused", "junk", "empty", "missing")
DELETE = object()


def interactive(kind: str, *, team: str, user: str) -> dict[str, Any]:
    """What every interactive payload of ``kind`` starts with, from ``team`` and ``user``."""
    return {
        "type": kind,
        "team": {"id": team, "domain": "startjobs"},
        "user": {"id": user, "username": "someone", "team_id": team},
        "api_app_id": "A0STARTJOBS",
        "token": "fake-verification-token",
    }


def trigger_and_url(
    stack: BackgroundStack, user: str, trigger: str, url_kind: str
) -> dict[str, str]:
    """Fields ``trigger_id`` and ``response_url`` of the kinds drawn (call on the loop)."""
    fake = stack.h.slack
    fields: dict[str, str] = {}
    if trigger == "issued":
        fields["trigger_id"] = fake.issue_trigger_id(user)
    elif trigger == "junk":
        fields["trigger_id"] = "1.2.junk"
    urls = {
        "unknown": f"{fake.root_url}response/T0000NOPE",
        "refused": "http://127.0.0.1:9/response/closed",
        "junk": "not a url",
        "empty": "",
    }
    if url_kind == "issued":
        fields["response_url"] = fake.issue_response_url(channel=CHANNEL, user=user)
    elif url_kind != "missing":
        fields["response_url"] = urls[url_kind]
    return fields


def mutate(payload: dict[str, Any], mutations: list[tuple[tuple[Any, ...], Any]]) -> dict[str, Any]:
    """Delete or replace the value at each path (paths through missing parts are skipped)."""
    for path, value in mutations:
        node: Any = payload
        for key in path[:-1]:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        last = path[-1]
        if isinstance(node, dict) or (isinstance(node, list) and isinstance(last, int)):
            try:
                if value is DELETE:
                    del node[last]
                else:
                    node[last] = value
            except (KeyError, IndexError):
                pass
    return payload


def mutations(paths: list[tuple[Any, ...]]) -> st.SearchStrategy[list[tuple[tuple[Any, ...], Any]]]:
    return st.lists(st.tuples(st.sampled_from(paths), st.just(DELETE) | any_json), max_size=3)


def form(fields: dict[str, str]) -> tuple[bytes, str]:
    return urlencode(fields).encode(), FORM


def payload_body(payload: object) -> tuple[bytes, str]:
    return urlencode({"payload": json.dumps(payload)}).encode(), FORM


# -- the tests ------------------------------------------------------------------------------------

SLASH_FIELDS = ("team_id", "channel_id", "user_id", "command", "text", "trigger_id")


def test_slash_commands_with_any_text(stack: BackgroundStack, errors: ErrorRecords) -> None:
    @fuzz
    @given(
        text=chat_text | weird_text,
        user=users,
        channel=channels,
        team=teams,
        command=st.sampled_from(["/startjobs", "/startjobs", "/startjobs", "/other", ""]),
        trigger=st.sampled_from(["issued", "issued", "junk", "missing"]),
        url_kind=st.sampled_from(URL_KINDS),
        dropped=st.sets(st.sampled_from(SLASH_FIELDS), max_size=2),
    )
    def example(
        text: str,
        user: str,
        channel: str,
        team: str,
        command: str,
        trigger: str,
        url_kind: str,
        dropped: set[str],
    ) -> None:
        def make() -> tuple[bytes, str]:
            fields = {
                "token": "fake-verification-token",
                "team_id": team,
                "team_domain": "startjobs",
                "channel_id": channel,
                "channel_name": "ops",
                "user_id": user,
                "user_name": "someone",
                "command": command,
                "text": text,
                "api_app_id": "A0STARTJOBS",
                "is_enterprise_install": "false",
                **trigger_and_url(stack, user, trigger, url_kind),
            }
            return form({k: v for k, v in fields.items() if k not in dropped})

        check(stack.exchange(make), errors, (command, text[:200], user, channel, team, dropped))

    example()


BUTTONS = [ActionId.APPROVE, ActionId.REJECT, ActionId.CANCEL, ActionId.RETRY]
ACTION_PATHS: list[tuple[Any, ...]] = [
    ("team",),
    ("team", "id"),
    ("user",),
    ("user", "id"),
    ("user", "team_id"),
    ("channel",),
    ("channel", "id"),
    ("actions",),
    ("actions", 0),
    ("actions", 0, "value"),
    ("actions", 0, "action_id"),
    ("actions", 0, "block_id"),
    ("container",),
    ("message",),
    ("trigger_id",),
    ("type",),
]


def test_button_clicks_with_broken_fields(stack: BackgroundStack, errors: ErrorRecords) -> None:
    request_ids = st.sampled_from(
        [stack.request_id, stack.request_id.lower(), "SJ-AAAAAAAA", "SJ-", ""]
    )

    @fuzz
    @given(
        action=st.sampled_from(BUTTONS).map(str) | st.sampled_from(["sj_nope", ""]),
        value=request_ids | weird_text,
        user=users,
        channel=channels,
        team=teams,
        trigger=st.sampled_from(["issued", "issued", "junk", "missing"]),
        url_kind=st.sampled_from(URL_KINDS),
        changes=mutations(ACTION_PATHS),
    )
    def example(
        action: str,
        value: str,
        user: str,
        channel: str,
        team: str,
        trigger: str,
        url_kind: str,
        changes: list[tuple[tuple[Any, ...], Any]],
    ) -> None:
        def make() -> tuple[bytes, str]:
            payload: dict[str, Any] = {
                **interactive("block_actions", team=team, user=user),
                "container": {
                    "type": "message",
                    "message_ts": stack.message_ts,
                    "channel_id": channel,
                    "is_ephemeral": False,
                },
                "channel": {"id": channel, "name": "ops"},
                "message": {"ts": stack.message_ts, "text": "request", "blocks": []},
                "state": {"values": {}},
                "actions": [
                    {
                        "action_id": action,
                        "block_id": BlockId.REQUEST_ACTIONS.value,
                        "type": "button",
                        "value": value,
                        "action_ts": "1700000000.000001",
                    }
                ],
                **trigger_and_url(stack, user, trigger, url_kind),
            }
            return payload_body(mutate(payload, changes))

        check(stack.exchange(make), errors, (action, value[:100], user, channel, team, changes))

    example()


def _state(
    project: Any, jobs: Any, when: Any, start_at: Any, reason: Any, comment: Any, upload: Any
) -> dict[str, Any]:
    return {
        BlockId.PROJECT.value: {
            ActionId.PROJECT.value: {"type": "static_select", "selected_option": {"value": project}}
        },
        BlockId.JOB_IDS.value: {
            ActionId.JOB_IDS.value: {"type": "plain_text_input", "value": jobs}
        },
        BlockId.WHEN.value: {
            ActionId.WHEN.value: {"type": "radio_buttons", "selected_option": {"value": when}}
        },
        BlockId.START_AT.value: {
            ActionId.START_AT.value: {"type": "datetimepicker", "selected_date_time": start_at}
        },
        BlockId.REASON.value: {
            ActionId.REASON.value: {"type": "plain_text_input", "value": reason}
        },
        BlockId.COMMENT.value: {
            ActionId.COMMENT.value: {"type": "plain_text_input", "value": comment}
        },
        BlockId.UPLOAD.value: {ActionId.UPLOAD.value: {"type": "file_input", "files": upload}},
    }


VIEW_PATHS: list[tuple[Any, ...]] = [
    ("team",),
    ("user",),
    ("user", "id"),
    ("view",),
    ("view", "id"),
    ("view", "callback_id"),
    ("view", "private_metadata"),
    ("view", "state"),
    ("view", "state", "values"),
    ("view", "state", "values", BlockId.PROJECT.value),
    ("view", "state", "values", BlockId.JOB_IDS.value, ActionId.JOB_IDS.value),
    ("view", "state", "values", BlockId.REASON.value, ActionId.REASON.value, "value"),
    ("view", "state", "values", BlockId.COMMENT.value),
    ("view", "state", "values", BlockId.UPLOAD.value, ActionId.UPLOAD.value, "files"),
    ("type",),
]


def test_modal_submissions_with_broken_fields(stack: BackgroundStack, errors: ErrorRecords) -> None:
    def metadata_for(callback: str) -> st.SearchStrategy[Any]:
        channel_meta = st.sampled_from(
            [
                json.dumps({"channel": CHANNEL}),
                json.dumps({"channel": CHANNEL, "project": "prod"}),
                json.dumps({"channel": OTHER_CHANNEL}),
                json.dumps({"channel": 42}),
                "{",
            ]
        )
        request_meta = st.sampled_from([stack.request_id, "SJ-AAAAAAAA", ""])
        return (channel_meta if callback == CallbackId.START else request_meta) | weird_text

    projects = st.sampled_from(["prod", "prod", "nope", ""]) | weird_text.filter(
        lambda p: p != "dev"
    )
    typed_ids = st.lists(job_ids | st.just(ORDERS), max_size=4).map("\n".join) | weird_text
    uploads = st.sampled_from(["not-a-list", None]) | st.lists(
        st.fixed_dictionaries(
            {"id": st.sampled_from(["F0NOPE", "F1"]), "name": st.just("ids.txt")},
            optional={
                "url_private_download": st.sampled_from(
                    ["https://evil.example/ids.txt", "not a url", ""]
                ),
                "size": st.integers(-1, 10**9) | weird_text,
            },
        ),
        max_size=2,
    )

    @fuzz
    @given(
        data=st.data(),
        callback=st.sampled_from([str(c) for c in CallbackId] + ["startjobs_nope", ""]),
        user=users,
        team=teams,
        project=projects | any_json,
        jobs=typed_ids | any_json,
        when=st.sampled_from([When.NOW.value, When.AT.value, "later"]) | any_json,
        start_at=st.integers(-(2**40), 2**40) | any_json,
        reason=st.sampled_from(["CHG-1", ""]) | weird_text | any_json,
        comment=weird_text | any_json,
        upload=uploads,
        changes=mutations(VIEW_PATHS),
    )
    def example(
        data: st.DataObject,
        callback: str,
        user: str,
        team: str,
        project: Any,
        jobs: Any,
        when: Any,
        start_at: Any,
        reason: Any,
        comment: Any,
        upload: Any,
        changes: list[tuple[tuple[Any, ...], Any]],
    ) -> None:
        metadata = data.draw(metadata_for(callback), label="private_metadata")
        view_id = data.draw(st.sampled_from([stack.start_view, "V0NOSUCHVIEW", ""]), label="view")

        def make() -> tuple[bytes, str]:
            payload: dict[str, Any] = {
                **interactive("view_submission", team=team, user=user),
                "trigger_id": stack.h.slack.issue_trigger_id(user or "U0NOBODY"),
                "view": {
                    "id": view_id,
                    "team_id": team,
                    "type": "modal",
                    "callback_id": callback,
                    "private_metadata": metadata,
                    "hash": "1700000000.abcdef",
                    "title": {"type": "plain_text", "text": "Start DRS jobs"},
                    "blocks": [],
                    "state": {
                        "values": _state(project, jobs, when, start_at, reason, comment, upload)
                    },
                },
                "response_urls": [],
            }
            return payload_body(mutate(payload, changes))

        check(stack.exchange(make), errors, (callback, user, team, str(metadata)[:100], changes))

    example()


def test_job_name_suggestions_with_broken_fields(
    stack: BackgroundStack, errors: ErrorRecords
) -> None:
    suggestions = st.fixed_dictionaries(
        {
            "type": st.just("block_suggestion"),
            "team": st.fixed_dictionaries({"id": teams}),
            "user": st.fixed_dictionaries({"id": users, "team_id": teams}),
            "action_id": st.sampled_from([ActionId.JOB_PICK.value, "sj_nope"]) | weird_text,
            "block_id": st.just(BlockId.JOB_PICK.value),
            "value": weird_text | any_json,
            "view": st.fixed_dictionaries(
                {
                    "id": st.just("V0NOSUCHVIEW"),
                    "callback_id": st.just(CallbackId.START.value),
                    "private_metadata": st.sampled_from(
                        [json.dumps({"channel": CHANNEL, "project": "prod"}), "{"]
                    )
                    | weird_text,
                }
            )
            | any_json,
        }
    )

    @fuzz
    @given(payload=suggestions)
    def example(payload: dict[str, Any]) -> None:
        check(stack.exchange(lambda: payload_body(payload)), errors, payload)

    example()


def test_bodies_that_are_no_payload_are_refused(
    stack: BackgroundStack, errors: ErrorRecords
) -> None:
    bodies = st.one_of(
        any_json.map(payload_body),
        st.fixed_dictionaries(
            {"type": st.sampled_from(["shortcut", "message_action", "view_closed", "nope"])},
            optional={"team": st.fixed_dictionaries({"id": teams}), "callback_id": weird_text},
        ).map(payload_body),
        weird_text.map(lambda t: (urlencode({"payload": t}).encode(), FORM)),
        st.dictionaries(st.text(max_size=10), weird_text, max_size=4).map(form),
        any_json.map(lambda v: (json.dumps(v).encode(), "application/json")),
        st.binary(max_size=200).map(lambda b: (b, FORM)),
    )

    @fuzz
    @given(request=bodies)
    def example(request: tuple[bytes, str]) -> None:
        ex = stack.exchange(lambda: request)
        resp, logged = ex.resp, errors.take()
        assert 400 <= resp.status < 500, (resp.status, resp.text[:300], request[0][:300])
        assert logged == [], request[0][:300]
        assert ex.drs_starts == 0

    example()
