"""Decisions on a pending request: approve (starts exactly once), reject, cancel, confirm;
the policy checked again at the click; expiry; a scheduled time that passed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from bot.core.precheck import JobPrecheck, PrecheckState
from bot.core.request import AuditKind, RequestState, StartState
from bot.service import Service
from bot.service.ports import StartedNowInstead
from bot.service.precheck_reads import read_prechecks
from tests.conftest import ALICE, BOB, CAROL, DAVE, DBA_LEADS, MALLORY
from tests.service.fakes import FakeDirectory, FakeDrs, FakeNotifier, FakeStore
from tests.service.support import JOBS, ServiceFactory, draft, settle, submitted

if TYPE_CHECKING:
    from tests.conftest import FakeClock, PolicyFactory


async def test_approve_starts_the_batch_once(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs
) -> None:
    rid = await submitted(service)

    reply = await service.commands.approve(rid, BOB, "go ahead")
    await settle(service)

    assert reply.ok
    assert drs.started == [(JOBS, None, "en-us")]
    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.DONE
    assert (req.decided_by, req.decision_comment) == (BOB, "go ahead")
    assert [j.attempts for j in req.jobs] == [1, 1, 1]
    assert len(notifier.outcomes_of(rid)) == 1
    start = await store.start(rid, 1)
    assert start is not None
    assert start.state is StartState.POSTED


async def test_two_approvals_at_once_start_the_batch_once(
    service: Service, store: FakeStore, drs: FakeDrs
) -> None:
    rid = await submitted(service)
    store.calls.clear()

    replies = await asyncio.gather(
        service.commands.approve(rid, BOB, None), service.commands.approve(rid, CAROL, None)
    )
    await settle(service)

    # Both passed the policy check; the store's conditional update let one win.
    assert store.calls.count("decide") == 2
    assert sorted(r.ok for r in replies) == [False, True]
    (loser,) = [r for r in replies if not r.ok]
    assert "was already approved by" in loser.text
    assert len(drs.started) == 1
    assert await store.last_attempt(rid) == 1


async def test_a_second_approval_later_is_refused(
    service: Service, store: FakeStore, drs: FakeDrs
) -> None:
    rid = await submitted(service)
    assert (await service.commands.approve(rid, BOB, None)).ok
    await settle(service)

    again = await service.commands.approve(rid, CAROL, None)
    await settle(service)

    assert not again.ok
    assert f"was already approved by <@{BOB}>" in again.text
    assert len(drs.started) == 1


async def test_reject_ends_the_request_and_refreshes_its_message(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs
) -> None:
    rid = await submitted(service)

    reply = await service.commands.reject(rid, CAROL, "not during the freeze")
    await settle(service)

    assert reply.ok
    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.REJECTED
    assert req.decision_comment == "not during the freeze"
    assert [r.state for r, _ in notifier.request_updates] == [RequestState.REJECTED]
    assert drs.started == []
    assert await store.start(rid, 1) is None
    assert not (await service.commands.approve(rid, BOB, None)).ok


async def test_cancel_by_the_requester_only(
    service: Service, store: FakeStore, drs: FakeDrs
) -> None:
    rid = await submitted(service)

    by_bob = await service.commands.cancel(rid, BOB)
    assert not by_bob.ok
    assert f"only <@{ALICE}>" in by_bob.text
    assert AuditKind.REFUSED in store.kinds(rid)

    reply = await service.commands.cancel(rid, ALICE)
    await settle(service)
    assert reply.ok
    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.CANCELLED
    assert drs.started == []


async def test_confirm_starts_a_pattern_list_of_a_project_without_approval(
    service: Service, store: FakeStore, drs: FakeDrs
) -> None:
    rid = await submitted(service, draft("dev", source="name matches nightly-*"))

    assert not (await service.commands.confirm(rid, DAVE)).ok  # not the requester
    reply = await service.commands.confirm(rid, ALICE)
    await settle(service)

    assert reply.ok
    assert drs.started == [(JOBS, None, "en-us")]
    req = await store.get(rid)
    assert req is not None
    assert req.decided_by == ALICE
    assert req.decision_comment == "confirmed by the requester after seeing the 3 jobs"


async def test_confirm_is_refused_where_an_approver_is_needed(
    service: Service, store: FakeStore, drs: FakeDrs
) -> None:
    rid = await submitted(service)

    reply = await service.commands.confirm(rid, ALICE)

    assert not reply.ok
    assert "needs an approver" in reply.text
    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.PENDING
    assert drs.started == []


async def test_self_approval_is_refused_under_two_person_approval(
    service: Service, store: FakeStore, directory: FakeDirectory, drs: FakeDrs
) -> None:
    directory.members[ALICE] = {DBA_LEADS}  # an approver too, yet she made this request
    rid = await submitted(service)

    reply = await service.commands.approve(rid, ALICE, None)
    await settle(service)

    assert not reply.ok
    assert "needs two people" in reply.text
    refused = [e for e in await store.events(rid) if e.kind is AuditKind.REFUSED]
    assert [(e.actor, e.detail) for e in refused] == [(ALICE, {"action": "approve"})]
    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.PENDING
    assert drs.started == []


async def test_rights_are_checked_again_at_the_click(
    service: Service, directory: FakeDirectory, drs: FakeDrs
) -> None:
    rid = await submitted(service)
    directory.members[CAROL] = set()  # left the DBA leads since the request was posted

    assert not (await service.commands.approve(rid, CAROL, None)).ok
    assert not (await service.commands.approve(rid, MALLORY, None)).ok
    directory.unreadable.add(DBA_LEADS)
    unreadable = await service.commands.approve(rid, CAROL, None)
    await settle(service)

    assert not unreadable.ok
    assert DBA_LEADS in unreadable.text
    assert drs.started == []


async def test_an_expired_request_is_not_approved_and_is_marked_expired(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await submitted(service)
    fake_clock.advance(3600)

    reply = await service.commands.approve(rid, BOB, None)
    await settle(service)

    assert not reply.ok
    assert "expired" in reply.text
    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.EXPIRED
    assert [r.state for r, _ in notifier.request_updates] == [RequestState.EXPIRED]
    assert drs.started == []


async def test_a_passed_schedule_is_not_approved_without_start_now(
    service: Service, store: FakeStore, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    at_ms = int((fake_clock() + 600) * 1000)
    rid = await submitted(service, draft(start_time_ms=at_ms))
    fake_clock.advance(601)

    reply = await service.commands.approve(rid, BOB, None)
    await settle(service)

    assert not reply.ok
    assert reply.code == "schedule_passed"
    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.PENDING
    assert req.start_time_ms == at_ms
    assert drs.started == []


async def test_start_now_drops_the_passed_schedule_and_says_so(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    at_ms = int((fake_clock() + 600) * 1000)
    rid = await submitted(service, draft(start_time_ms=at_ms))
    fake_clock.advance(601)

    reply = await service.commands.approve(rid, BOB, None, start_now=True)
    await settle(service)

    assert reply.ok
    assert drs.started == [(JOBS, None, "en-us")]  # started now, without the old time
    req = await store.get(rid)
    assert req is not None
    assert req.start_time_ms is None
    approved = [e for e in await store.events(rid) if e.kind is AuditKind.APPROVED]
    assert approved[0].detail == {"start_now_instead": True, "scheduled_for_ms": at_ms}
    assert notifier.notes_of(rid) == [StartedNowInstead(BOB, at_ms / 1000)]


async def test_a_schedule_still_ahead_is_kept_and_sent_to_drs(
    service: Service, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    at_ms = int((fake_clock() + 600) * 1000)
    rid = await submitted(service, draft(start_time_ms=at_ms))

    assert (await service.commands.approve(rid, BOB, None, start_now=True)).ok
    await settle(service)

    assert drs.started == [(JOBS, at_ms, "en-us")]


async def test_confirm_is_refused_once_the_schedule_passed(
    service: Service, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    at_ms = int((fake_clock() + 600) * 1000)
    rid = await submitted(service, draft("dev", source="pattern x-*", start_time_ms=at_ms))
    fake_clock.advance(601)

    reply = await service.commands.confirm(rid, ALICE)

    assert not reply.ok
    assert "which has passed" in reply.text
    assert drs.started == []


async def test_an_approval_with_no_precheck_read_is_told_to_read_them(
    service: Service, store: FakeStore, drs: FakeDrs
) -> None:
    """No precheck of the request's jobs was ever read (it was posted while the rule was off,
    say): the approver is told the bot has none yet, not that the jobs failed, and nothing
    starts; once read (all passed here), the approval goes ahead."""
    rid = await submitted(service)
    store.precheck_rows.pop(rid, None)

    reply = await service.commands.check_decision(rid, BOB, "approve")

    assert not reply.ok
    assert "has no precheck result of 3 of the 3 jobs yet" in reply.text
    assert drs.started == []
    req = await store.get(rid)
    project = service.ctx.policy.project("prod")
    assert req is not None and project is not None
    await read_prechecks(service.ctx, req, project)
    assert (await service.commands.check_decision(rid, BOB, "approve")).ok


async def test_an_approval_reads_only_what_can_refuse_it(
    new_service: ServiceFactory, store: FakeStore, make_policy: PolicyFactory
) -> None:
    """Answering an approval, with no change freeze configured, reads the request and makes
    the decision (which checks the prechecks under ``require``): no audit trail read, no
    precheck read. When this process opened the approver's form, not even the request."""
    calls: dict[str, list[str]] = {}
    for n, rule in enumerate(("require", "warn"), start=1):

        def edit(d: dict[str, Any], rule: str = rule) -> None:
            d["projects"]["prod"]["precheck"] = rule

        svc = new_service(owner="P", first_id=100 * n)
        svc.ctx.policy = make_policy(edit)
        rid = await submitted(svc)
        store.calls.clear()
        reply = await svc.commands.approve(rid, BOB, None)
        assert reply.ok, reply.text
        calls[rule] = list(store.calls)
        await settle(svc)
        shown = await submitted(svc)
        assert (await svc.commands.open_form(shown, BOB, "approve")).ok
        store.calls.clear()
        assert (await svc.commands.approve(shown, BOB, None)).ok
        calls[f"{rule}, form shown here"] = list(store.calls)
        await settle(svc)
    assert calls == {
        "require": ["get", "decide"],
        "warn": ["get", "decide"],
        "require, form shown here": ["decide"],
        "warn, form shown here": ["decide"],
    }


async def test_a_shown_form_is_decided_on_what_is_true_at_its_submission(
    service: Service,
    store: FakeStore,
    directory: FakeDirectory,
    drs: FakeDrs,
    fake_clock: FakeClock,
) -> None:
    """The request a form showed is not read again at its submission, but everything that
    can change since is checked: another decision, a precheck run again, the approver's
    rights, the expiry."""
    decided = await submitted(service)
    for approver in (BOB, CAROL):
        assert (await service.commands.open_form(decided, approver, "approve")).ok
    assert (await service.commands.approve(decided, CAROL, None)).ok
    late = await service.commands.approve(decided, BOB, None)
    assert not late.ok and "was already approved by" in late.text

    rerun = await submitted(service)
    assert (await service.commands.open_form(rerun, BOB, "approve")).ok
    failed = JobPrecheck(JOBS[1], PrecheckState.FAILED, passed_rate="80%", read_at=1e12)
    await store.save_prechecks(rerun, [failed])
    held = await service.commands.approve(rerun, BOB, None)
    assert not held.ok and held.code == "precheck" and f"`{JOBS[1]}`" in held.text
    refused = [e for e in await store.events(rerun) if e.kind is AuditKind.REFUSED]
    assert [e.detail for e in refused] == [{"action": "approve", "precheck": "not passed"}]

    fake_clock.advance(61)  # the requester's rate: three a minute
    demoted = await submitted(service)
    assert (await service.commands.open_form(demoted, CAROL, "approve")).ok
    directory.members[CAROL] = set()  # left the DBA leads after opening the form
    assert not (await service.commands.approve(demoted, CAROL, None)).ok

    expired = await submitted(service)
    fake_clock.advance(3600 - 60)  # a minute before the request expires
    assert (await service.commands.open_form(expired, BOB, "reject")).ok
    fake_clock.advance(120)  # it expires while the form is open (and still kept)
    store.calls.clear()
    too_late = await service.commands.reject(expired, BOB, "no")
    assert store.calls[0] == "decide"  # found expired on the form's request: no read first
    await settle(service)
    assert not too_late.ok and "expired" in too_late.text
    for rid, state in (
        (rerun, RequestState.PENDING),
        (demoted, RequestState.PENDING),
        (expired, RequestState.EXPIRED),
    ):
        req = await store.get(rid)
        assert req is not None and req.state is state
    assert len(drs.started) == 1  # the one approval that was made
