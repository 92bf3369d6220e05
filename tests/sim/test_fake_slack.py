"""The fake Slack Web API, driven by the real slack_sdk AsyncWebClient over loopback HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.webhook.async_client import AsyncWebhookClient
from slack_sim_support import TOKEN, Clock, client_for, modal, section

from bot.core.secret import Secret
from bot.devkit.sim.slack import FakeChannel, FakeSlack, FakeUser

CHANNEL = "C0OPS"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeSlack]:
    users = {
        "U1": FakeUser(name="alice", tz="Asia/Shanghai", locale="zh-CN"),
        "U2": FakeUser(name="bob", tz="Europe/Berlin"),
    }
    channels = {
        CHANNEL: FakeChannel(name="db-ops", members=("U0BOT", "U1", "U2")),
        "C0QUIET": FakeChannel(name="quiet", members=("U1",)),
        "C0SECRET": FakeChannel(name="secret", members=("U1",), is_private=True),
    }
    async with FakeSlack(
        bot_token=TOKEN,
        users=users,
        channels=channels,
        usergroups={"S0DBA": ["U1", "U2"]},
        clock=clock,
    ) as f:
        yield f


async def api_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


# ---- auth and plumbing ---------------------------------------------------------------------


async def test_auth_test_answers_like_slack_with_scopes_header(fake: FakeSlack) -> None:
    response = await client_for(fake).auth_test()
    assert response["ok"] is True
    assert response["user_id"] == "U0BOT"
    assert response["team_id"] == "T0STARTJOBS"
    assert "chat:write" in response.headers["x-oauth-scopes"].split(",")
    assert fake.calls_to("auth.test")[0].ok


async def test_wrong_token_is_invalid_auth_and_missing_token_not_authed(fake: FakeSlack) -> None:
    error = await api_error(client_for(fake, token="xoxb-wrong").auth_test())
    assert error.response["error"] == "invalid_auth"
    async with httpx.AsyncClient() as http:
        answer = (await http.post(fake.url + "auth.test")).json()
    assert answer == {"ok": False, "error": "not_authed"}


async def test_token_in_form_body_is_accepted_and_not_recorded(fake: FakeSlack) -> None:
    async with httpx.AsyncClient() as http:
        answer = (await http.post(fake.url + "auth.test", data={"token": TOKEN})).json()
    assert answer["ok"] is True
    assert "token" not in fake.calls[-1].args


def test_the_token_never_shows_in_a_repr() -> None:
    fake = FakeSlack(bot_token=Secret("xoxb-very-secret"))
    assert "very-secret" not in repr(vars(fake))


async def test_unknown_method_is_404(fake: FakeSlack) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(fake.url + "chat.nope", headers={"Authorization": "Bearer x"})
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_method"


async def test_missing_scope_names_the_needed_scope() -> None:
    async with FakeSlack(bot_token=TOKEN, scopes=("chat:write",)) as fake:
        error = await api_error(client_for(fake).usergroups_users_list(usergroup="S1"))
    assert error.response["error"] == "missing_scope"
    assert error.response["needed"] == "usergroups:read"


# ---- messages ------------------------------------------------------------------------------


async def test_post_update_and_thread_replies_build_what_people_see(fake: FakeSlack) -> None:
    client = client_for(fake)
    blocks = [section("*Request* 1", "summary")]
    parent = await client.chat_postMessage(channel=CHANNEL, text="Request 1", blocks=blocks)
    first = await client.chat_postMessage(channel=CHANNEL, text="started 3", thread_ts=parent["ts"])
    second = await client.chat_postMessage(channel=CHANNEL, text="failed 1", thread_ts=parent["ts"])
    await client.chat_update(channel=CHANNEL, ts=parent["ts"], text="Request 1: done")

    assert float(parent["ts"]) < float(first["ts"]) < float(second["ts"])
    [top] = fake.messages(CHANNEL)
    assert top.text == "Request 1: done"
    assert top.blocks[0]["block_id"] == "summary"  # blocks kept when the update omits them
    assert top.edits == 1
    assert [m.text for m in fake.thread(CHANNEL, parent["ts"])] == ["started 3", "failed 1"]
    assert all(m.thread_ts == parent["ts"] for m in fake.thread(CHANNEL, parent["ts"]))


async def test_form_encoded_blocks_as_json_string_are_accepted(fake: FakeSlack) -> None:
    blocks = json.dumps([section("hello")])
    await client_for(fake).api_call(
        "chat.postMessage", data={"channel": CHANNEL, "text": "hi", "blocks": blocks}
    )
    [msg] = fake.messages(CHANNEL)
    assert msg.blocks[0]["text"]["text"] == "hello"
    assert msg.blocks[0]["block_id"]  # Slack fills in missing block ids


async def test_chat_update_can_drop_blocks_with_an_empty_list(fake: FakeSlack) -> None:
    client = client_for(fake)
    posted = await client.chat_postMessage(channel=CHANNEL, text="x", blocks=[section("b")])
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="y", blocks=[])
    assert fake.messages(CHANNEL)[0].blocks == []


async def test_message_errors(fake: FakeSlack) -> None:
    client = client_for(fake)
    assert (await api_error(client.chat_postMessage(channel="C0QUIET", text="x"))).response[
        "error"
    ] == "not_in_channel"
    assert (await api_error(client.chat_postMessage(channel="C0NOPE", text="x"))).response[
        "error"
    ] == "channel_not_found"
    assert (await api_error(client.chat_postMessage(channel="C0SECRET", text="x"))).response[
        "error"
    ] == "channel_not_found"
    assert (
        await api_error(client.api_call("chat.postMessage", json={"channel": CHANNEL}))
    ).response["error"] == "no_text"
    assert (await api_error(client.chat_update(channel=CHANNEL, ts="1.2", text="x"))).response[
        "error"
    ] == "message_not_found"
    posted = await client.chat_postMessage(channel=CHANNEL, text="x")
    too_long = client.chat_update(channel=CHANNEL, ts=posted["ts"], text="y" * 4001)
    assert (await api_error(too_long)).response["error"] == "msg_too_long"
    assert fake.messages(CHANNEL)[0].text == "x"


async def test_public_channel_is_open_with_chat_write_public() -> None:
    channels = {"C0QUIET": FakeChannel(name="quiet", members=())}
    scopes = ("chat:write", "chat:write.public")
    async with FakeSlack(bot_token=TOKEN, channels=channels, scopes=scopes) as fake:
        await client_for(fake).chat_postMessage(channel="C0QUIET", text="hi")
        assert len(fake.messages("C0QUIET")) == 1


async def test_block_limits(fake: FakeSlack) -> None:
    client = client_for(fake)
    fifty = [section(f"line {i}") for i in range(50)]
    await client.chat_postMessage(channel=CHANNEL, text="ok", blocks=fifty)
    error = await api_error(
        client.chat_postMessage(channel=CHANNEL, text="x", blocks=[*fifty, section("one more")])
    )
    assert error.response["error"] == "invalid_blocks"
    assert any("/blocks" in m for m in error.response["response_metadata"]["messages"])

    long_section = client.chat_postMessage(channel=CHANNEL, text="x", blocks=[section("a" * 3001)])
    assert (await api_error(long_section)).response["error"] == "invalid_blocks"
    button = {
        "type": "actions",
        "elements": [
            {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "b" * 76}}
        ],
    }
    long_button = client.chat_postMessage(channel=CHANNEL, text="x", blocks=[button])
    assert (await api_error(long_button)).response["error"] == "invalid_blocks"
    twins = [section("a", "same"), section("b", "same")]
    dup = client.chat_postMessage(channel=CHANNEL, text="x", blocks=twins)
    assert (await api_error(dup)).response["error"] == "invalid_blocks"
    unknown = client.chat_postMessage(channel=CHANNEL, text="x", blocks=[{"type": "banner"}])
    assert (await api_error(unknown)).response["error"] == "invalid_blocks"
    bad_json = client.api_call(
        "chat.postMessage", data={"channel": CHANNEL, "text": "x", "blocks": "[{"}
    )
    assert (await api_error(bad_json)).response["error"] == "invalid_blocks_format"
    assert len(fake.messages(CHANNEL)) == 1


async def test_long_text_is_truncated_at_40000(fake: FakeSlack) -> None:
    await client_for(fake).chat_postMessage(channel=CHANNEL, text="z" * 40_500)
    assert len(fake.messages(CHANNEL)[0].text) == 40_000


async def test_aggregate_block_text_cap_when_enabled() -> None:
    async with FakeSlack(bot_token=TOKEN, blocks_char_limit=5000) as fake:
        blocks = [section("a" * 2900), section("b" * 2900)]
        error = await api_error(
            client_for(fake).chat_postMessage(channel="C1", text="x", blocks=blocks)
        )
    assert error.response["error"] == "msg_blocks_too_long"


async def test_ephemeral_messages(fake: FakeSlack) -> None:
    client = client_for(fake)
    answer = await client.chat_postEphemeral(channel=CHANNEL, user="U1", text="only you")
    assert answer["message_ts"]
    [seen] = fake.ephemerals("U1")
    assert (seen.text, seen.channel, seen.source) == ("only you", CHANNEL, "chat.postEphemeral")
    assert fake.ephemerals("U2") == []
    outsider = client.chat_postEphemeral(channel=CHANNEL, user="U9", text="x")
    assert (await api_error(outsider)).response["error"] == "user_not_found"
    fake.set_channel("C0TWO", FakeChannel(name="two", members=("U0BOT",)))
    not_member = client.chat_postEphemeral(channel="C0TWO", user="U1", text="x")
    assert (await api_error(not_member)).response["error"] == "user_not_in_channel"


async def test_permalink_of_message_and_reply(fake: FakeSlack) -> None:
    client = client_for(fake)
    parent = await client.chat_postMessage(channel=CHANNEL, text="p")
    reply = await client.chat_postMessage(channel=CHANNEL, text="r", thread_ts=parent["ts"])
    link = (await client.chat_getPermalink(channel=CHANNEL, message_ts=parent["ts"]))["permalink"]
    assert (
        link == f"https://startjobs.slack.com/archives/{CHANNEL}/p{parent['ts'].replace('.', '')}"
    )
    reply_link = await client.chat_getPermalink(channel=CHANNEL, message_ts=reply["ts"])
    assert f"thread_ts={parent['ts']}" in reply_link["permalink"]
    missing = client.chat_getPermalink(channel=CHANNEL, message_ts="1.000001")
    assert (await api_error(missing)).response["error"] == "message_not_found"


# ---- views ---------------------------------------------------------------------------------


async def test_views_open_needs_a_fresh_unused_trigger(fake: FakeSlack, clock: Clock) -> None:
    client = client_for(fake)
    trigger = fake.issue_trigger_id("U1")
    opened = await client.views_open(trigger_id=trigger, view=modal())
    view = opened["view"]
    assert view["id"].startswith("V")
    assert view["hash"]
    [stored] = fake.views()
    assert (stored.id, stored.user, stored.callback_id) == (view["id"], "U1", "start_form")
    assert stored.view["blocks"][0]["element"]["action_id"] == "job_ids"

    again = client.views_open(trigger_id=trigger, view=modal())
    assert (await api_error(again)).response["error"] == "exchanged_trigger_id"
    unknown = client.views_open(trigger_id="1.2.3", view=modal())
    assert (await api_error(unknown)).response["error"] == "invalid_trigger_id"
    stale = fake.issue_trigger_id("U1")
    clock.advance(3.5)
    expired = client.views_open(trigger_id=stale, view=modal())
    assert (await api_error(expired)).response["error"] == "expired_trigger_id"


async def test_views_update_with_hash_detects_conflicts(fake: FakeSlack) -> None:
    client = client_for(fake)
    trigger = fake.issue_trigger_id("U1")
    view = (await client.views_open(trigger_id=trigger, view=modal()))["view"]
    updated = await client.views_update(
        view_id=view["id"], hash=view["hash"], view=modal(title="Checking")
    )
    assert updated["view"]["hash"] != view["hash"]
    stale = client.views_update(view_id=view["id"], hash=view["hash"], view=modal(title="Late"))
    assert (await api_error(stale)).response["error"] == "hash_conflict"
    current = fake.view(view["id"])
    assert current is not None
    assert current.view["title"]["text"] == "Checking"
    assert current.updates == 1
    missing = client.views_update(view_id="V0NOPE", view=modal())
    assert (await api_error(missing)).response["error"] == "not_found"


async def test_modal_limits_are_invalid_arguments(fake: FakeSlack) -> None:
    client = client_for(fake)
    cases = [
        modal(title="x" * 25),
        modal(submit={"type": "plain_text", "text": "s" * 25}),
        modal(blocks=[section(f"{i}") for i in range(101)]),
        modal(private_metadata="m" * 3001),
        {**modal(), "submit": None},  # input blocks need a submit button
    ]
    for view in cases:
        trigger = fake.issue_trigger_id("U1")
        error = await api_error(client.views_open(trigger_id=trigger, view=view))
        assert error.response["error"] == "invalid_arguments", view
        assert error.response["response_metadata"]["messages"]
    assert fake.views() == []


async def test_views_push_stops_at_three(fake: FakeSlack) -> None:
    client = client_for(fake)
    views = fake.workspace.views
    root = (await client.views_open(trigger_id=views.issue_trigger_id("U1"), view=modal()))["view"]
    for _ in range(2):
        trigger = views.issue_trigger_id("U1", view_id=root["id"])
        await client.views_push(trigger_id=trigger, view=modal(title="More"))
    trigger = views.issue_trigger_id("U1", view_id=root["id"])
    error = await api_error(client.views_push(trigger_id=trigger, view=modal()))
    assert error.response["error"] == "push_limit_reached"
    stack = views.stack(root["id"])
    assert [v.previous_view_id for v in stack] == [None, stack[0].id, stack[1].id]


async def test_submission_acknowledgements_act_on_the_view_stack(fake: FakeSlack) -> None:
    client = client_for(fake)
    views = fake.workspace.views
    opened = await client.views_open(trigger_id=views.issue_trigger_id("U1"), view=modal())
    root = opened["view"]["id"]

    views.apply_ack(root, {"response_action": "errors", "errors": {"jobs": "bad id"}})
    errored = fake.view(root)
    assert errored is not None
    assert errored.errors == {"jobs": "bad id"}
    assert not errored.closed

    views.apply_ack(root, {"response_action": "update", "view": modal(title="Confirm")})
    updated = fake.view(root)
    assert updated is not None
    assert updated.view["title"]["text"] == "Confirm"
    assert updated.errors is None

    views.apply_ack(root, {"response_action": "push", "view": modal(title="Step 2")})
    top = views.stack(root)[-1]
    assert (top.view["title"]["text"], top.previous_view_id) == ("Step 2", root)

    views.apply_ack(top.id, None)  # an empty ack closes just the submitted view
    assert [v.id for v in views.stack(root)] == [root]

    views.apply_ack(root, {"response_action": "push", "view": modal(title="Step 2")})
    views.apply_ack(root, {"response_action": "clear"})
    assert views.stack(root) == []


# ---- people --------------------------------------------------------------------------------


async def test_users_info_gives_timezone_and_locale(fake: FakeSlack) -> None:
    client = client_for(fake)
    user = (await client.users_info(user="U1", include_locale=True))["user"]
    assert (user["name"], user["tz"], user["tz_offset"], user["locale"]) == (
        "alice",
        "Asia/Shanghai",
        8 * 3600,
        "zh-CN",
    )
    assert "locale" not in (await client.users_info(user="U1"))["user"]
    missing = client.users_info(user="U404")
    assert (await api_error(missing)).response["error"] == "user_not_found"


async def test_usergroups(fake: FakeSlack) -> None:
    client = client_for(fake)
    assert (await client.usergroups_users_list(usergroup="S0DBA"))["users"] == ["U1", "U2"]
    fake.set_usergroup("S0DBA", ["U2"])
    assert (await client.usergroups_users_list(usergroup="S0DBA"))["users"] == ["U2"]
    missing = client.usergroups_users_list(usergroup="S0NOPE")
    assert (await api_error(missing)).response["error"] == "no_such_subteam"


async def test_usergroups_on_a_free_plan() -> None:
    async with FakeSlack(bot_token=TOKEN, plan_has_usergroups=False) as fake:
        error = await api_error(client_for(fake).usergroups_users_list(usergroup="S1"))
    assert error.response["error"] == "plan_upgrade_required"


async def test_conversations_info(fake: FakeSlack) -> None:
    client = client_for(fake)
    channel = (await client.conversations_info(channel=CHANNEL))["channel"]
    assert (channel["name"], channel["is_member"], channel["is_private"]) == (
        "db-ops",
        True,
        False,
    )
    assert not (await client.conversations_info(channel="C0QUIET"))["channel"]["is_member"]
    secret = client.conversations_info(channel="C0SECRET")
    assert (await api_error(secret)).response["error"] == "channel_not_found"


# ---- files ---------------------------------------------------------------------------------


async def test_files_upload_v2_end_to_end(fake: FakeSlack) -> None:
    client = client_for(fake)
    parent = await client.chat_postMessage(channel=CHANNEL, text="Request 7")
    content = b"job_id,outcome\n9a47,success\n"
    done = await client.files_upload_v2(
        content=content,
        filename="results.csv",
        title="Results",
        channel=CHANNEL,
        thread_ts=parent["ts"],
        initial_comment="full table",
    )
    [uploaded] = fake.files
    assert (uploaded.content, uploaded.filename, uploaded.title) == (
        content,
        "results.csv",
        "Results",
    )
    assert (uploaded.channel, uploaded.thread_ts) == (CHANNEL, parent["ts"])
    assert done["file"]["id"] == uploaded.id
    [share] = fake.thread(CHANNEL, parent["ts"])
    assert share.files == (uploaded.id,)
    assert share.text == "full table"

    info = (await client.files_info(file=uploaded.id))["file"]
    assert info["size"] == len(content)
    async with httpx.AsyncClient() as http:
        denied = await http.get(info["url_private"])
        wrong = await http.get(info["url_private"], headers={"Authorization": "Bearer xoxb-no"})
        allowed = await http.get(
            info["url_private_download"], headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert (denied.status_code, wrong.status_code) == (403, 403)
    assert allowed.content == content


async def test_complete_upload_refuses_unknown_or_empty_files(fake: FakeSlack) -> None:
    client = client_for(fake)
    error = await api_error(client.files_completeUploadExternal(files=[{"id": "F0NOPE"}]))
    assert error.response["error"] == "file_not_found"
    url = await client.files_getUploadURLExternal(filename="a.csv", length=3)
    not_uploaded = client.files_completeUploadExternal(files=[{"id": url["file_id"]}])
    assert (await api_error(not_uploaded)).response["error"] == "file_not_found"
    assert fake.files == []


async def test_a_user_file_is_readable_through_files_info(fake: FakeSlack) -> None:
    attached = fake.add_user_file("U1", "jobs.txt", b"9a47\ndbb8\n")
    info = (await client_for(fake).files_info(file=attached.id))["file"]
    async with httpx.AsyncClient() as http:
        got = await http.get(info["url_private"], headers={"Authorization": f"Bearer {TOKEN}"})
    assert got.content == b"9a47\ndbb8\n"


# ---- faults, rate limits, latency ----------------------------------------------------------


async def test_rate_limit_is_honoured_by_the_retry_handler() -> None:
    async with FakeSlack(bot_token=TOKEN) as fake:  # real clock: we measure the wait
        fake.rate_limit("chat.postMessage", retry_after=1)
        client = client_for(fake, retry_handlers=[AsyncRateLimitErrorRetryHandler()])
        posted = await client.chat_postMessage(channel="C1", text="after the wait")
        first, second = fake.calls_to("chat.postMessage")
    assert posted["ok"]
    assert (first.status, first.error) == (429, "ratelimited")
    assert second.ok
    assert second.at - first.at >= 1.0


async def test_rate_limit_without_a_handler_surfaces_429(fake: FakeSlack) -> None:
    fake.rate_limit("chat.update", retry_after=7)
    error = await api_error(client_for(fake).chat_update(channel=CHANNEL, ts="1.1", text="x"))
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "7"


async def test_fail_counts(fake: FakeSlack) -> None:
    client = client_for(fake)
    fake.fail("users.info", "fatal_error", count=2)
    for _ in range(2):
        assert (await api_error(client.users_info(user="U1"))).response["error"] == "fatal_error"
    assert (await client.users_info(user="U1"))["ok"]
    fake.fail("auth.test", "account_inactive", count=None)
    for _ in range(3):
        error = await api_error(client.auth_test())
        assert error.response["error"] == "account_inactive"
    fake.clear_faults()
    assert (await client.auth_test())["ok"]


async def test_latency_delays_answers(fake: FakeSlack) -> None:
    client = client_for(fake)
    fake.set_latency(0.2, method="auth.test")
    started = time.perf_counter()
    await client.auth_test()
    assert time.perf_counter() - started >= 0.2
    started = time.perf_counter()
    await client.users_info(user="U1")
    assert time.perf_counter() - started < 0.2


async def test_wait_for(fake: FakeSlack) -> None:
    with pytest.raises(TimeoutError):
        await fake.wait_for(lambda: bool(fake.messages(CHANNEL)), timeout=0.05)
    await client_for(fake).chat_postMessage(channel=CHANNEL, text="x")
    await fake.wait_for(lambda: bool(fake.messages(CHANNEL)), timeout=0.05)


# ---- response_url --------------------------------------------------------------------------


async def test_response_url_posts(fake: FakeSlack, clock: Clock) -> None:
    client = client_for(fake)
    posted = await client.chat_postMessage(channel=CHANNEL, text="Approve?")
    chat = fake.workspace.chat
    url = chat.issue_response_url(
        channel=CHANNEL, user="U1", message_ts=posted["ts"], thread_ts=None
    )
    hook = AsyncWebhookClient(url)

    assert (await hook.send(text="working on it")).status_code == 200
    [seen] = fake.ephemerals("U1")
    assert (seen.text, seen.source) == ("working on it", "response_url")

    await hook.send(text="Approved by bob", replace_original=True)
    assert fake.messages(CHANNEL)[0].text == "Approved by bob"

    await hook.send(text="Started 3 jobs", response_type="in_channel")
    assert [m.text for m in fake.messages(CHANNEL)] == ["Approved by bob", "Started 3 jobs"]

    await hook.send_dict({"delete_original": True})
    assert [m.text for m in fake.messages(CHANNEL)] == ["Started 3 jobs"]
    assert (await hook.send(text="fifth")).status_code == 200
    used = await hook.send(text="sixth")
    assert used.status_code == 404
    assert "used_url" in used.body

    late = AsyncWebhookClient(
        chat.issue_response_url(channel=CHANNEL, user="U1", message_ts=None, thread_ts=None)
    )
    clock.advance(31 * 60)
    expired = await late.send(text="too late")
    assert expired.status_code == 404
    assert "expired_url" in expired.body


async def test_response_url_refuses_empty_and_invalid_messages(fake: FakeSlack) -> None:
    url = fake.workspace.chat.issue_response_url(
        channel=CHANNEL, user="U1", message_ts=None, thread_ts=None
    )
    hook = AsyncWebhookClient(url)
    assert (await hook.send_dict({"text": ""})).status_code == 400
    too_many = [section(str(i)) for i in range(51)]
    answer = await hook.send(text="x", blocks=too_many)
    assert answer.status_code == 400
    assert "invalid_blocks" in answer.body
    assert fake.ephemerals() == []
