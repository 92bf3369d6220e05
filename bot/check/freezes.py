"""``startjobs check``'s word on the change-freeze windows of a policy that loaded.

A window with a problem never gets here: the policy loader refuses the file with one message
per problem (bad cron, unknown timezone, bad duration, a window that never opens, an unknown
key), which the check prints as ``FAIL config`` lines. What loads is listed, each window with
whether it is open now and when it opens next, so a reviewer sees what the file means.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bot.check.online import Finding
from bot.core.freeze import Kind, duration_text
from bot.core.policy import Policy
from bot.core.times import format_utc


def freeze_findings(policy: Policy, now: float | None = None) -> list[Finding]:
    """One ``ok freeze`` line per window, saying so when it applies to no project."""
    now = time.time() if now is None else now
    found: list[Finding] = []
    for w in policy.freezes:
        projects = [p for p in sorted(policy.projects) if w.applies_to(p)]
        which = ", ".join(w.projects) if w.projects else "every project"
        at = w.state_at(now)
        span, nxt = at.span, at.next_opening
        state = f"open now until {_utc(span.ends)}" if span is not None else "closed now"
        state += f"; next opens {_utc(nxt)}" if nxt is not None else "; opens no more this year"
        kind = "deny" if w.kind is Kind.DENY else "allow"
        text = (
            f"{w.name}: {kind} {w.schedule.text!r} {w.timezone} for "
            f"{duration_text(w.duration)} on {which}; {state}"
        )
        if not projects:
            text += "; it matches no project of the policy yet (check its projects globs)"
        found.append(Finding("ok", "freeze", text))
    return found


def _utc(t: float) -> str:
    return format_utc(datetime.fromtimestamp(t, UTC))
