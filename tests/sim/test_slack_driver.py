"""The driver against a real slack_bolt AsyncApp served on loopback with Bolt's aiohttp adapter."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from slack_sim_support import TOKEN, client_for

from bot.devkit.sim.driver import SlackDriver, sign
from bot.devkit.sim.slack import FakeChannel, FakeSlack, FakeUser

SECRET = "test-signing-secret"
CHANNEL = "C0OPS"
FORM = "application/x-www-form-urlencoded"


def option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value.title()}, "value": value}


def request_form(channel: str) -> dict[str, Any]:
    def field_(block_id: str, label: str, element: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "input",
            "block_id": block_id,
            "label": {"type": "plain_text", "text": label},
            "element": element,
            "optional": True,
        }

    return {
        "type": "modal",
        "callback_id": "start_form",
        "private_metadata": channel,
        "notify_on_close": True,
        "title": {"type": "plain_text", "text": "Start DRS jobs"},
        "submit": {"type": "plain_text", "text": "Request"},
        "blocks": [
            field_("jobs", "Job IDs", {"type": "plain_text_input", "action_id": "job_ids"}),
            field_(
                "project",
                "Project",
                {
                    "type": "static_select",
                    "action_id": "project",
                    "options": [option("prod"), option("test")],
                    "initial_option": option("test"),
                },
            ),
            field_("when", "Start at", {"type": "datetimepicker", "action_id": "start_at"}),
            field_(
                "where",
                "Region",
                {"type": "external_select", "action_id": "region", "min_query_length": 1},
            ),
            field_("list", "Job list file", {"type": "file_input", "action_id": "upload"}),
            {
                "type": "actions",
                "block_id": "extra",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "more",
                        "value": "details",
                        "text": {"type": "plain_text", "text": "More"},
                    }
                ],
            },
        ],
    }


@dataclass
class Bot:
    """A minimal Bolt app recording every request body its listeners saw."""

    fake: FakeSlack
    received: list[dict[str, Any]] = field(default_factory=list)
    app: AsyncApp = field(init=False)

    def __post_init__(self) -> None:
        client = AsyncWebClient(token=TOKEN, base_url=self.fake.url)
        # AsyncApp has no token_verification_enabled: it calls auth.test on the first request.
        self.app = AsyncApp(signing_secret=SECRET, client=client)
        app = self.app

        @app.command("/startjobs")
        async def on_command(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
            self.received.append(body)
            if body["text"] == "help":
                await ack(text="Usage: /startjobs [project] [job ids]")
                return
            await ack()
            await client.views_open(
                trigger_id=body["trigger_id"], view=request_form(body["channel_id"])
            )

        @app.command("/slow")
        async def on_slow(ack: AsyncAck, body: dict[str, Any]) -> None:
            await asyncio.sleep(0.3)
            await ack()

        @app.action("approve")
        async def on_approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await ack()
            self.received.append(body)
            await respond(text=f"Approved by <@{body['user']['id']}>", replace_original=True)

        @app.action("more")
        async def on_more(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
            await ack()
            self.received.append(body)
            details = {
                "type": "modal",
                "callback_id": "details",
                "title": {"type": "plain_text", "text": "Details"},
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Jobs"}}],
            }
            await client.views_push(trigger_id=body["trigger_id"], view=details)

        @app.view("start_form")
        async def on_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
            self.received.append(body)
            values = body["view"]["state"]["values"]
            if not values["jobs"]["job_ids"]["value"]:
                await ack(response_action="errors", errors={"jobs": "Enter at least one job ID"})
                return
            await ack()

        @app.view_closed("start_form")
        async def on_closed(ack: AsyncAck, body: dict[str, Any]) -> None:
            self.received.append(body)
            await ack()

        @app.options("region")
        async def on_options(ack: AsyncAck, body: dict[str, Any]) -> None:
            self.received.append(body)
            typed = body["value"]
            regions = [r for r in ("cn-north-4", "cn-east-3") if r.startswith(typed)]
            await ack(options=[option(r) for r in regions])


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    users = {"U1": FakeUser(name="alice"), "U2": FakeUser(name="bob")}
    channels = {CHANNEL: FakeChannel(name="db-ops", members=("U0BOT", "U1", "U2"))}
    async with FakeSlack(bot_token=TOKEN, users=users, channels=channels) as f:
        yield f


@pytest.fixture
async def bot(fake: FakeSlack) -> Bot:
    return Bot(fake)


@pytest.fixture
async def driver(fake: FakeSlack, bot: Bot) -> AsyncIterator[SlackDriver]:
    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(
            await bot.app.async_dispatch(await to_bolt_request(request))
        )

    web_app = web.Application()
    web_app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with SlackDriver(
        events_url=f"http://127.0.0.1:{port}/slack/events", signing_secret=SECRET, fake=fake
    ) as d:
        yield d
    await runner.cleanup()


async def open_form(driver: SlackDriver, fake: FakeSlack, user: str = "U1") -> str:
    response = await driver.slash(user, CHANNEL, "")
    assert response.ok
    await fake.wait_for(lambda: any(v.user == user and not v.closed for v in fake.views()))
    return [v for v in fake.views() if v.user == user][-1].id


async def test_slash_command_reaches_bolt_and_its_trigger_opens_a_modal(
    driver: SlackDriver, fake: FakeSlack, bot: Bot
) -> None:
    response = await driver.slash("U1", CHANNEL, "prod 9a47")
    assert response.status == 200
    assert response.text == ""
    assert response.elapsed < 3
    await fake.wait_for(lambda: bool(fake.views()))
    [body] = bot.received
    assert body["command"] == "/startjobs"
    assert (body["text"], body["user_id"], body["user_name"]) == ("prod 9a47", "U1", "alice")
    assert (body["channel_id"], body["channel_name"], body["team_id"]) == (
        CHANNEL,
        "db-ops",
        "T0STARTJOBS",
    )
    assert body["response_url"].startswith(fake.root_url + "response/")
    [view] = fake.views()
    assert (view.user, view.private_metadata, view.closed) == ("U1", CHANNEL, False)
    assert fake.calls_to("views.open")[0].ok


async def test_slash_ack_with_text_shows_to_the_user_only(
    driver: SlackDriver, fake: FakeSlack
) -> None:
    response = await driver.slash("U1", CHANNEL, "help")
    assert response.text.startswith("Usage")  # Bolt answers a text-only ack as plain text
    [shown] = fake.ephemerals("U1")
    assert (shown.source, shown.channel) == ("ack", CHANNEL)
    assert shown.text.startswith("Usage")
    assert fake.messages(CHANNEL) == []


async def test_click_carries_the_message_and_respond_replaces_it(
    driver: SlackDriver, fake: FakeSlack, bot: Bot
) -> None:
    button = {
        "type": "button",
        "action_id": "approve",
        "value": "req-1",
        "style": "primary",
        "text": {"type": "plain_text", "text": "Approve"},
    }
    blocks = [{"type": "actions", "block_id": "decide", "elements": [button]}]
    posted = await client_for(fake).chat_postMessage(channel=CHANNEL, text="Req", blocks=blocks)

    response = await driver.click(
        "U2", action_id="approve", value="req-1", channel=CHANNEL, message_ts=posted["ts"]
    )
    assert response.status == 200
    await fake.wait_for(lambda: fake.messages(CHANNEL)[0].text == "Approved by <@U2>")
    [body] = bot.received
    assert body["type"] == "block_actions"
    action = body["actions"][0]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "approve",
        "decide",
        "req-1",
        "button",
    )
    assert body["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    assert body["message"]["ts"] == posted["ts"]
    assert body["message"]["blocks"][0]["block_id"] == "decide"
    assert (body["user"]["id"], body["channel"]["id"]) == ("U2", CHANNEL)
    assert body["trigger_id"]


async def test_click_on_a_missing_element_is_a_test_error(
    driver: SlackDriver, fake: FakeSlack
) -> None:
    posted = await client_for(fake).chat_postMessage(channel=CHANNEL, text="plain")
    with pytest.raises(ValueError, match="approve"):
        await driver.click(
            "U2", action_id="approve", value="x", channel=CHANNEL, message_ts=posted["ts"]
        )
    with pytest.raises(ValueError, match="no message"):
        await driver.click("U2", action_id="approve", value="x", channel=CHANNEL, message_ts="1.1")


async def test_view_submission_state_and_response_actions(
    driver: SlackDriver, fake: FakeSlack, bot: Bot
) -> None:
    view_id = await open_form(driver, fake)
    attached = fake.add_user_file("U1", "jobs.txt", b"9a47\n")

    refused = await driver.submit_view("U1", view_id, {"jobs": {"job_ids": ""}})
    assert refused.json == {
        "response_action": "errors",
        "errors": {"jobs": "Enter at least one job ID"},
    }
    shown = fake.view(view_id)
    assert shown is not None
    assert shown.errors == {"jobs": "Enter at least one job ID"}
    assert not shown.closed

    accepted = await driver.submit_view(
        "U1",
        view_id,
        {
            "jobs": {"job_ids": "9a47 dbb8"},
            "project": {"project": "prod"},
            "when": {"start_at": 1_764_554_400},
            "where": {"region": "cn-north-4"},
            "list": {"upload": [attached.id]},
        },
    )
    assert accepted.status == 200
    done = fake.view(view_id)
    assert done is not None
    assert done.closed

    body = bot.received[-1]
    assert body["type"] == "view_submission"
    view = body["view"]
    assert (view["id"], view["callback_id"], view["private_metadata"]) == (
        view_id,
        "start_form",
        CHANNEL,
    )
    assert view["hash"] == shown.hash
    values = view["state"]["values"]
    assert values["jobs"]["job_ids"] == {"type": "plain_text_input", "value": "9a47 dbb8"}
    assert values["project"]["project"]["selected_option"]["value"] == "prod"
    assert values["when"]["start_at"] == {
        "type": "datetimepicker",
        "selected_date_time": 1_764_554_400,
    }
    assert values["where"]["region"]["selected_option"]["value"] == "cn-north-4"
    [uploaded] = values["list"]["upload"]["files"]
    assert uploaded["id"] == attached.id
    assert uploaded["url_private"].startswith(fake.root_url)


async def test_untouched_inputs_submit_their_initial_values(
    driver: SlackDriver, fake: FakeSlack, bot: Bot
) -> None:
    view_id = await open_form(driver, fake)
    await driver.submit_view("U1", view_id, {"jobs": {"job_ids": "x"}})
    values = bot.received[-1]["view"]["state"]["values"]
    assert values["project"]["project"]["selected_option"]["value"] == "test"
    assert values["when"]["start_at"]["selected_date_time"] is None
    assert values["list"]["upload"]["files"] == []


async def test_submitting_an_unknown_field_is_a_test_error(
    driver: SlackDriver, fake: FakeSlack
) -> None:
    view_id = await open_form(driver, fake)
    with pytest.raises(ValueError, match="nope"):
        await driver.submit_view("U1", view_id, {"nope": {"x": "1"}})
    with pytest.raises(ValueError, match="staging"):
        await driver.submit_view("U1", view_id, {"project": {"project": "staging"}})


async def test_a_click_inside_a_modal_can_push_a_view(
    driver: SlackDriver, fake: FakeSlack, bot: Bot
) -> None:
    view_id = await open_form(driver, fake)
    response = await driver.view_action("U1", view_id, action_id="more", value="details")
    assert response.status == 200
    await fake.wait_for(lambda: len(fake.workspace.views.stack(view_id)) == 2)
    body = bot.received[-1]
    assert body["container"] == {"type": "view", "view_id": view_id}
    assert body["actions"][0]["block_id"] == "extra"
    assert body["view"]["id"] == view_id
    pushed = fake.workspace.views.stack(view_id)[-1]
    assert (pushed.callback_id, pushed.previous_view_id) == ("details", view_id)


async def test_only_the_owner_can_submit_a_view(driver: SlackDriver, fake: FakeSlack) -> None:
    view_id = await open_form(driver, fake)
    with pytest.raises(ValueError, match="belongs to U1"):
        await driver.submit_view("U2", view_id, {"jobs": {"job_ids": "x"}})


async def test_block_suggestion_returns_the_apps_options(
    driver: SlackDriver, fake: FakeSlack, bot: Bot
) -> None:
    view_id = await open_form(driver, fake)
    response = await driver.options(
        "U1", action_id="region", block_id="where", value="cn-e", view_id=view_id
    )
    assert response.json == {"options": [option("cn-east-3")]}
    body = bot.received[-1]
    assert (body["type"], body["view"]["id"], body["value"]) == (
        "block_suggestion",
        view_id,
        "cn-e",
    )


async def test_closing_a_notify_on_close_view_tells_the_app(
    driver: SlackDriver, fake: FakeSlack, bot: Bot
) -> None:
    view_id = await open_form(driver, fake)
    response = await driver.close_view("U1", view_id)
    assert response is not None
    assert response.status == 200
    assert bot.received[-1]["type"] == "view_closed"
    assert bot.received[-1]["view"]["id"] == view_id
    closed = fake.view(view_id)
    assert closed is not None
    assert closed.closed


async def test_bolt_rejects_forged_and_stale_requests(driver: SlackDriver, bot: Bot) -> None:
    form = {"command": "/startjobs", "text": "help", "user_id": "U1", "channel_id": CHANNEL}
    body = urllib.parse.urlencode({**form, "team_id": "T0STARTJOBS"}).encode()
    forged = await driver.raw(body, content_type=FORM, signature=sign("wrong-secret", 0, body))
    assert forged.status == 401
    stale = await driver.raw(body, content_type=FORM, timestamp=int(time.time()) - 600)
    assert stale.status == 401
    assert bot.received == []
    genuine = await driver.raw(body, content_type=FORM)
    assert genuine.status == 200
    assert len(bot.received) == 1


async def test_a_slow_ack_is_reported_as_timed_out(fake: FakeSlack, driver: SlackDriver) -> None:
    driver.ack_timeout = 0.1
    response = await driver.slash("U1", CHANNEL, "", command="/slow")
    assert response.timed_out
    assert response.late
    assert not response.ok
    assert fake.ephemerals() == []


def test_signature_matches_slacks_documented_example() -> None:
    # The example from Slack's "Verifying requests from Slack" guide.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert (
        sign("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, body)
        == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )
