"""Reading the jobs' DRS prechecks for the request message (when it is posted, and each time
it is updated); :mod:`bot.service.prechecking` runs and polls them."""

from __future__ import annotations

from bot.core.policy import ProjectPolicy
from bot.core.precheck import JobPrecheck, PrecheckRule
from bot.core.request import StartRequest
from bot.service.context import Context


async def read_prechecks(ctx: Context, req: StartRequest, project: ProjectPolicy) -> None:
    """Read every job's precheck from DRS and store it (nothing when the project's rule is
    off); :func:`stored_prechecks` gives what was kept. A failed read leaves the jobs
    unreadable (shown so), never passed."""
    if project.precheck is PrecheckRule.OFF:
        return
    found = await ctx.drs_for(project).precheck_results(req.job_ids)
    await ctx.store.save_prechecks(req.id, found)


async def stored_prechecks(
    ctx: Context, req: StartRequest
) -> tuple[dict[str, JobPrecheck] | None, PrecheckRule]:
    """What the request message shows of the prechecks: the stored ones (None when the rule is
    off) and the project's rule."""
    project = ctx.policy.project(req.project)
    rule = project.precheck if project is not None else PrecheckRule.OFF
    if rule is PrecheckRule.OFF:
        return None, rule
    return await ctx.store.prechecks(req.id), rule
