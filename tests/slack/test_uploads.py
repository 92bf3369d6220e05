"""Uploaded lists (download from Slack only, with the bot token), the form's new inputs, the
job search options and the frozen-list wording: unit level, without the bot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from blockkit_checks import all_text, check_message, check_view, mrkdwn_text
from sample_requests import EVIL, NOW, request
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.model import JobInfo
from bot.core.request import Approval
from bot.core.secret import Secret
from bot.core.selection import Selection
from bot.devkit.sim.slack import FakeSlack
from bot.slack.listeners import options
from bot.slack.ui import blocks, views
from bot.slack.ui.forms import FileRef, files_value, project_of_view, read_start_form
from bot.slack.ui.ids import HINT_VALUE, ActionId, BlockId, When
from bot.slack.uploads import Downloader, UploadError, read_uploads

A = "9a470239-2308-4bb5-a6bc-1040402fjb21"
B = "dbb8127c-b093-4b94-b764-7161e151jb2s"
TOKEN = "xoxb-upload-test-token"
FILE_URL = "https://files.slack.com/files-pri/T1-F1/download/wave.csv"


def _ref(url: str = FILE_URL, size: int | None = None, name: str = "wave.csv") -> FileRef:
    return FileRef(id="F1", name=name, size=size, url=url)


def _downloader(
    handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any
) -> tuple[Downloader, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    downloader = Downloader(
        token=Secret(TOKEN),
        api_url="https://slack.com/api/",
        transport=httpx.MockTransport(record),
        **kwargs,
    )
    return downloader, seen


# --- where the token may go ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_url", "url", "trusted"),
    [
        ("https://slack.com/api/", FILE_URL, True),
        ("https://slack.com/api/", "https://slack.com/files-pri/T1-F1/x.csv", True),
        ("https://slack.com/api/", "http://files.slack.com/files-pri/x.csv", False),
        ("https://slack.com/api/", "https://files.slack.com.evil.example/x.csv", False),
        ("https://slack.com/api/", "https://evil.example/files-pri/x.csv", False),
        ("https://slack.com/api/", "https://u:p@files.slack.com/x.csv", False),
        ("https://slack.com/api/", "not a url at all", False),
        ("http://127.0.0.1:9999/api/", "http://127.0.0.1:9999/files-pri/T-F/x.csv", True),
        ("http://127.0.0.1:9999/api/", "http://127.0.0.2:9999/files-pri/T-F/x.csv", False),
        ("http://files.internal/api/", "http://files.internal/x.csv", False),
    ],
)
def test_the_token_only_goes_to_slack(api_url: str, url: str, trusted: bool) -> None:
    assert Downloader(token=Secret(TOKEN), api_url=api_url).trusted(url) is trusted


async def test_fetch_sends_the_bot_token_and_returns_the_bytes() -> None:
    downloader, seen = _downloader(lambda r: httpx.Response(200, content=A.encode()))
    assert await downloader.fetch(_ref()) == A.encode()
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert str(seen[0].url) == FILE_URL


async def test_untrusted_address_is_refused_without_a_request() -> None:
    downloader, seen = _downloader(lambda r: httpx.Response(200))
    with pytest.raises(UploadError, match="not Slack's"):
        await downloader.fetch(_ref("https://evil.example/wave.csv"))
    assert seen == []


async def test_declared_size_over_the_limit_is_refused_before_downloading() -> None:
    downloader, seen = _downloader(lambda r: httpx.Response(200), max_bytes=1024)
    with pytest.raises(UploadError, match=r"wave.csv is 2 KiB; at most 1 KiB"):
        await downloader.fetch(_ref(size=2048))
    assert seen == []


async def test_a_body_longer_than_the_limit_stops_the_download() -> None:
    downloader, _ = _downloader(lambda r: httpx.Response(200, content=b"a" * 5000), max_bytes=1024)
    with pytest.raises(UploadError, match="too large"):
        await downloader.fetch(_ref(size=10))  # Slack's size said small: the body decides


@pytest.mark.parametrize(
    ("response", "words"),
    [
        (httpx.Response(302, headers={"Location": "https://slack.com/signin"}), "HTTP 302"),
        (httpx.Response(403), "files:read"),
        (httpx.Response(500), "HTTP 500"),
        (
            httpx.Response(200, headers={"Content-Type": "text/html"}, content=b"<html>"),
            "a web page",
        ),
    ],
)
async def test_refusals_say_what_to_do(response: httpx.Response, words: str) -> None:
    downloader, seen = _downloader(lambda r: response)
    with pytest.raises(UploadError, match=words) as caught:
        await downloader.fetch(_ref())
    assert len(seen) == 1  # a redirect is never followed with the token
    assert TOKEN not in str(caught.value)


async def test_transport_failures_become_messages() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    downloader, _ = _downloader(slow)
    with pytest.raises(UploadError, match="took too long"):
        await downloader.fetch(_ref())

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    downloader, _ = _downloader(broken)
    with pytest.raises(UploadError, match=r"Could not download wave\.csv"):
        await downloader.fetch(_ref())


async def test_read_uploads_merges_files_and_stops_at_the_first_problem() -> None:
    bodies = {"a.txt": f"{A}\n{B}\n", "b.csv": f"job_id,name\n{B},x\n", "bad.txt": "abc\n"}

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bodies[request.url.path.rsplit("/", 1)[-1]].encode())

    downloader, _ = _downloader(serve)
    refs = [_ref(f"https://files.slack.com/f/{n}", name=n) for n in ("a.txt", "b.csv")]
    got = await read_uploads(downloader, refs, max_jobs=10)
    assert got.ids == (A, B) and got.problem is None
    assert got.repeats == 1 and got.names == ("a.txt", "b.csv")
    bad = [*refs, _ref("https://files.slack.com/f/bad.txt", name="bad.txt")]
    failed = await read_uploads(downloader, bad, max_jobs=10)
    assert failed.ids == ()
    assert failed.problem == (
        "bad.txt: 1 line is not a job ID, fix or remove it: line 1: 'abc' is not a job ID: "
        "expected 8-4-4-4-12 letters/digits."
    )


async def test_download_from_the_fake_slack_over_http() -> None:
    async with FakeSlack(bot_token=TOKEN) as fake:
        uploaded = fake.add_user_file("U01ALICE", "wave.txt", f"{A}\n".encode())
        state = {"files": [fake.workspace.files.file_json(uploaded.id)]}
        values = {BlockId.UPLOAD.value: {ActionId.UPLOAD.value: state}}
        (ref,) = files_value(values, BlockId.UPLOAD, ActionId.UPLOAD)
        assert ref.size == len(A) + 1 and ref.url is not None and "/download/" in ref.url
        downloader = Downloader(token=Secret(TOKEN), api_url=fake.url)
        assert await downloader.fetch(ref) == f"{A}\n".encode()
        wrong = Downloader(token=Secret("xoxb-not-ours"), api_url=fake.url)
        with pytest.raises(UploadError, match="HTTP 403"):
            await wrong.fetch(ref)
        # Without an address, files.info (with the bot's client) supplies it.
        client = AsyncWebClient(token=TOKEN, base_url=fake.url)
        looked_up = Downloader(token=Secret(TOKEN), api_url=fake.url, client=client)
        bare = FileRef(id=uploaded.id, name="wave.txt")
        assert await looked_up.fetch(bare) == f"{A}\n".encode()
        with pytest.raises(UploadError, match="no download address"):
            await downloader.fetch(bare)
        downloads = [c for c in fake.calls if c.method == "file_download"]
        assert [c.status for c in downloads] == [200, 403, 200]


# --- the form's new inputs ------------------------------------------------------------------------


def _values(**given: Any) -> dict[str, Any]:
    """A start form's ``state.values`` with project prod, reason, start now, plus ``given``
    entries named by block (each ``{action_id: element_state}``)."""
    values: dict[str, Any] = {
        BlockId.PROJECT.value: {ActionId.PROJECT.value: {"selected_option": {"value": "prod"}}},
        BlockId.WHEN.value: {ActionId.WHEN.value: {"selected_option": {"value": When.NOW.value}}},
        BlockId.REASON.value: {ActionId.REASON.value: {"value": "CHG-1"}},
    }
    for block, state in given.items():
        block_id = BlockId[block.upper()]
        values[block_id.value] = {ActionId[block.upper()].value: state}
    return values


def _read(values: dict[str, Any], max_jobs: int = 10) -> Any:
    return read_start_form(
        values,
        allowed_projects=frozenset({"prod"}),
        max_jobs=max_jobs,
        now=datetime.fromtimestamp(NOW, UTC),
    )


def _picked(*values: str) -> dict[str, Any]:
    return {
        "selected_options": [
            {"value": v, "text": {"type": "plain_text", "text": v}} for v in values
        ]
    }


def test_typed_and_picked_ids_are_one_list() -> None:
    form = _read(_values(job_ids={"value": f"{A}"}, job_pick=_picked(B, A, HINT_VALUE)))
    assert form.ok and form.job_ids == (A, B)
    assert not form.needs_lookup


def test_nothing_given_is_an_error_on_the_id_box() -> None:
    form = _read(_values(status_filter={"value": "CONFIGURATION"}))
    assert set(form.errors) == {BlockId.JOB_IDS.value}
    assert "no job IDs given" in form.errors[BlockId.JOB_IDS]
    assert "upload a list" in form.errors[BlockId.JOB_IDS]


def test_forged_pick_and_bad_selection_parts_are_marked_on_their_fields() -> None:
    form = _read(
        _values(
            job_pick=_picked("../../etc"),
            name_pattern={"value": "mig-*"},
            status_filter={"value": "RUNNING"},
        )
    )
    assert set(form.errors) == {BlockId.JOB_PICK.value, BlockId.STATUS_FILTER.value}
    form = _read(
        _values(
            name_pattern={"value": "mig-*"},
            type_filter={"selected_option": {"value": "mirror"}},
        )
    )
    assert set(form.errors) == {BlockId.TYPE_FILTER.value}


def test_a_pattern_or_a_file_needs_a_lookup() -> None:
    form = _read(
        _values(
            name_pattern={"value": "mig-shop-*"},
            status_filter={"value": "configuration"},
            type_filter={"selected_option": {"value": "sync"}},
        )
    )
    assert form.ok and form.needs_lookup and form.job_ids == ()
    assert form.selection == Selection("mig-shop-*", "CONFIGURATION", "sync")
    upload = {"files": [{"id": "F1", "name": "w.csv", "url_private": FILE_URL, "size": 10}]}
    form = _read(_values(upload=upload))
    assert form.ok and form.files == (FileRef("F1", "w.csv", 10, FILE_URL),)
    # The status box keeps its default when no pattern is given: it selects nothing.
    assert _read(_values(status_filter={"value": "CONFIGURATION"})).selection is None


def test_too_many_typed_and_picked() -> None:
    form = _read(_values(job_ids={"value": A}, job_pick=_picked(B)), max_jobs=1)
    assert "2 job IDs typed and picked, at most 1" in form.errors[BlockId.JOB_IDS]


def test_project_of_view_prefers_the_current_choice() -> None:
    metadata = '{"channel": "C0OPS", "project": "dev"}'
    assert project_of_view({"private_metadata": metadata, "state": {"values": {}}}) == "dev"
    state = {"values": {BlockId.PROJECT.value: _values()[BlockId.PROJECT.value]}}
    assert project_of_view({"private_metadata": metadata, "state": state}) == "prod"
    assert project_of_view({"private_metadata": '{"channel": "C0OPS"}'}) is None
    assert project_of_view(None) is None


# --- views, options and messages ---------------------------------------------------------------


def test_start_modal_with_every_input_is_valid() -> None:
    view = views.start_modal(
        [views.ProjectChoice("prod", "cn-north-4", Approval.TWO_PERSON)],
        views.StartPrefill(name_pattern="mig-*", status_filter="CONFIGURATION", type_filter="sync"),
        private_metadata='{"channel": "C0OPS", "project": "prod"}',
        max_jobs=1000,
        pick=True,
        by_name=True,
        upload=True,
    )
    check_view(view)
    by_block = {b.get("block_id"): b for b in view["blocks"]}
    pick = by_block[BlockId.JOB_PICK.value]
    assert pick["element"]["type"] == "multi_external_select"
    assert pick["element"]["action_id"] == ActionId.JOB_PICK.value
    assert pick["optional"] is True
    kind = by_block[BlockId.TYPE_FILTER.value]["element"]
    assert kind["initial_option"]["value"] == "sync"
    order = [b.get("block_id") for b in view["blocks"]]
    assert order.index(BlockId.PROJECT.value) < order.index(BlockId.JOB_PICK.value)
    check_view(views.selecting_modal(f"name {EVIL}"))
    assert "&lt;!channel&gt;" in mrkdwn_text(views.selecting_modal(EVIL)["blocks"])


def test_job_options_rank_mark_and_cap() -> None:
    infos = [
        JobInfo(f"{n:08d}-0000-4000-8000-{n:012d}", name=f"mig-{n:03d}", status="CONFIGURATION")
        for n in range(150)
    ]
    running = JobInfo(
        A, name="mig-000-running", status="FULL_TRANSFER_STARTED", engine_type="mysql"
    )
    got = options.job_options([running, *infos, infos[0]])
    assert len(got) == options.MAX_OPTIONS
    assert got[0]["value"] == infos[0].job_id
    assert all(o["value"] != A for o in got)  # not startable: ranked after 150 startable ones
    marked = options.job_option(running)
    assert ":warning: cannot start now: FULL_TRANSFER_STARTED · mysql" in str(marked)
    long = options.job_option(JobInfo(B, name="n" * 300, status="CONFIGURATION"))
    assert len(long["text"]["text"]) <= 75 and long["value"] == B
    assert options.job_options([]) == [options.hint_option("No job name contains that text")]
    assert options.hint_option("x")["value"] == HINT_VALUE


def test_request_message_says_the_list_is_frozen() -> None:
    req = request(1000)
    msg = blocks.request_message(req, now=NOW, source=f"name {EVIL}* · status CONFIGURATION")
    check_message(msg)
    text = all_text(msg.blocks)
    assert "frozen when requested" in text
    assert "exactly these 1,000 jobs are started" in text
    assert "<!channel>" not in mrkdwn_text(msg.blocks)
    comment = blocks.job_list_comment(req, source=EVIL)
    assert "&lt;!channel&gt;" in comment and "<!channel>" not in comment
    assert "not included" in comment
    assert "Jobs chosen by" not in all_text(blocks.request_message(req, now=NOW).blocks)
