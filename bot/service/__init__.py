"""The use cases, which know no Slack: :class:`Service` puts one process's together.

* :mod:`bot.service.commands`: what answers a person (access, submit, decide, retry, search);
* :mod:`bot.service.publishing`, :mod:`bot.service.steps` and :mod:`bot.service.followup`:
  what runs after the answer (publish, start, record, report, follow up);
* :mod:`bot.service.recovery`: what a crash or another process left behind, and expiry;
* :mod:`bot.service.reading`: status, history and help, limited to what the asker may see;
* :mod:`bot.service.home`: each person's App Home (their approvals, requests, follow-ups);
* :mod:`bot.service.ports`: what they need from the outside.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.service.commands import Commands
from bot.service.context import Context
from bot.service.followup import FollowUp
from bot.service.home import Home, HomeTab
from bot.service.model import new_request_id
from bot.service.publishing import Publishing
from bot.service.reading import Reading
from bot.service.recovery import Recovery
from bot.service.selecting import Selecting
from bot.service.steps import Steps


class Service:
    """One process's use cases over one :class:`~bot.service.context.Context`."""

    def __init__(
        self,
        ctx: Context,
        *,
        new_id: Callable[[], str] = new_request_id,
        home_tab: HomeTab | None = None,
    ) -> None:
        self.ctx = ctx
        self.publishing = Publishing(ctx)
        self.steps = Steps(ctx, self.publishing)
        self.prechecking = self.steps.prechecking
        self.followup = FollowUp(ctx, self.steps)
        self.commands = Commands(ctx, self.steps, new_id=new_id)
        self.selecting = Selecting(ctx)
        self.recovery = Recovery(ctx, self.steps, self.followup)
        self.reading = Reading(
            policy=ctx.policy, directory=ctx.directory, store=ctx.store, drs_for=ctx.drs_for
        )
        self.tasks = ctx.tasks
        self.home = Home(ctx, home_tab)
        # Who refreshes the Home tabs of the people who see a changed request: the working
        # replicas, told by a note, when this one only answers; else this one.
        if ctx.handoff is not None:
            ctx.on_change.append(ctx.handoff.changed)
        elif home_tab is not None:
            ctx.on_change.append(self.home.updates.request_changed)
