"""The App Home in Socket Mode: a real ``python -m bot`` holding one Socket Mode connection to
the fake Slack; ``app_home_opened`` arrives as an Events API envelope, the Home's buttons and
the approve form as interactive ones, and the bot acknowledges each over the WebSocket."""

from __future__ import annotations

from pathlib import Path

from bot.devkit.sim.drs_jobs import DEMO_JOBS
from bot.devkit.sim.socket_driver import SocketModeDriver
from bot.slack.ui.ids import ActionId, BlockId
from tests.e2e.harness import ALICE, BOB
from tests.e2e.process import ProcessHarness

ORDERS = DEMO_JOBS[0][0]
APP_TOKEN = "xapp-1-A0STARTJOBS-1-homesocketsecret"


async def test_approve_from_the_home_tab_over_socket_mode(tmp_path: Path) -> None:
    async with ProcessHarness(tmp_path, SLACK_APP_TOKEN=APP_TOKEN) as h:
        await h.slack.socket.wait_connected(1)
        h.driver = SocketModeDriver(fake=h.slack)
        h.sim.seed_demo()
        _, msg = await h.request(ALICE, "prod", [ORDERS], reason="CHG-88 over the socket")
        rid = h.request_id(msg)

        opened = await h.d.app_home_opened(BOB)
        assert opened.ok and not opened.late, opened
        await h.wait(lambda: (home := h.slack.home(BOB)) is not None and rid in str(home.view))
        home = h.slack.home(BOB)
        assert home is not None and "CHG-88 over the socket" in str(home.view["blocks"])

        before = {v.id for v in h.slack.views()}
        clicked = await h.d.view_action(BOB, home.id, action_id=ActionId.APPROVE.value, value=rid)
        assert clicked.ok and not clicked.late, clicked
        await h.wait(lambda: any(v.id not in before for v in h.slack.views()))
        (form,) = [v for v in h.slack.views() if v.id not in before]
        comment = {BlockId.COMMENT.value: {ActionId.COMMENT.value: "go"}}
        answer = await h.d.submit_view(BOB, form.id, comment)
        assert answer.ok and answer.json is None, answer

        await h.wait(lambda: len(h.thread(msg)) >= 1, 15.0)
        assert h.sim.start_calls_for(ORDERS) == 1
        # Every envelope went over the one connection and was acknowledged there.
        kinds = {d.app_token for d in h.slack.socket.delivered}
        assert kinds == {APP_TOKEN} and all(d.acked for d in h.slack.socket.delivered)
        await h.wait(lambda: rid not in str((h.slack.home(BOB) or home).view["blocks"]), 10.0)
