"""Writes made at the same moment (new requests, decisions) are committed together, each caller
returning only once its own write is on disk, and one failure touching nobody else."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path

import pytest
from test_store import make_request

from bot.core.request import RequestJob, RequestState
from bot.group_commit import GroupCommit
from bot.store import StartState, Store, Verdict


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "startjobs.db")


def commits_of(store: Store) -> list[str]:
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    return statements


def stored_ids(path: str) -> set[str]:
    """What another connection (another process, after a crash) finds on disk."""
    with sqlite3.connect(path) as other:
        return {row[0] for row in other.execute("SELECT id FROM requests")}


async def test_requests_made_in_the_same_turn_share_one_commit(store: Store) -> None:
    group = GroupCommit(store)
    statements = commits_of(store)
    ids = [f"SJ-GROUP{i:03d}" for i in range(40)]
    seen_on_disk: dict[str, bool] = {}

    async def submit(rid: str) -> None:
        await group.insert(make_request(rid), actor="U1", detail={"jobs": 2})
        seen_on_disk[rid] = rid in stored_ids(store.path)

    await asyncio.gather(*(submit(rid) for rid in ids))
    assert statements.count("COMMIT") == 1
    assert seen_on_disk == dict.fromkeys(ids, True)  # each returned once committed
    for rid in ids:
        req = store.get(rid)
        assert req is not None and len(req.jobs) == 2
        assert [e.kind.value for e in store.events(rid)] == ["requested"]


async def test_requests_in_later_turns_are_committed_in_later_transactions(store: Store) -> None:
    group = GroupCommit(store)
    statements = commits_of(store)
    for i in range(3):
        await group.insert(make_request(f"SJ-LATER{i:03d}"), actor="U1", detail={})
    assert statements.count("COMMIT") == 3
    assert stored_ids(store.path) == {"SJ-LATER000", "SJ-LATER001", "SJ-LATER002"}


async def test_a_request_that_cannot_be_stored_fails_alone_and_leaves_nothing_behind(
    store: Store,
) -> None:
    store.insert_request(make_request("SJ-TAKEN001"), actor="U1", detail={})
    group = GroupCommit(store)
    taken = dataclasses.replace(make_request("SJ-TAKEN001"), reason="a second one")
    # Its request row goes in, then a job row is refused: the row must go again.
    broken = dataclasses.replace(
        make_request("SJ-BROKEN01"),
        jobs=(RequestJob(job_id="ok"), RequestJob(job_id=None)),  # type: ignore[arg-type]
    )
    results = await asyncio.gather(
        group.insert(make_request("SJ-FINE0001"), actor="U1", detail={}),
        group.insert(taken, actor="U2", detail={}),
        group.insert(broken, actor="U3", detail={}),
        group.insert(make_request("SJ-FINE0002"), actor="U1", detail={}),
        return_exceptions=True,
    )
    assert results[0] is None and results[3] is None
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert isinstance(results[2], sqlite3.IntegrityError)
    assert stored_ids(store.path) == {"SJ-TAKEN001", "SJ-FINE0001", "SJ-FINE0002"}
    first = store.get("SJ-TAKEN001")
    assert first is not None and first.reason == "CHG-1"  # the earlier request is untouched
    assert [e.actor for e in store.events("SJ-TAKEN001")] == ["U1"]
    assert store.events("SJ-BROKEN01") == []
    with sqlite3.connect(store.path) as other:
        assert other.execute(
            "SELECT count(*) FROM request_jobs WHERE request_id = 'SJ-BROKEN01'"
        ).fetchone() == (0,)


async def test_a_failed_transaction_fails_every_caller_and_stores_nothing(store: Store) -> None:
    group = GroupCommit(store)
    store._db.execute("PRAGMA busy_timeout = 50")
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    results = await asyncio.gather(
        *(group.insert(make_request(f"SJ-LOCKED{i:02d}"), actor="U1", detail={}) for i in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, sqlite3.OperationalError) for r in results)
    blocker.execute("ROLLBACK")
    blocker.close()
    assert stored_ids(store.path) == set()
    await group.insert(make_request("SJ-AFTER001"), actor="U1", detail={})  # and it recovers
    assert stored_ids(store.path) == {"SJ-AFTER001"}


async def test_a_caller_that_gave_up_does_not_disturb_the_others(store: Store) -> None:
    group = GroupCommit(store)
    quitter = asyncio.ensure_future(
        group.insert(make_request("SJ-QUIT0001"), actor="U1", detail={})
    )
    stayer = asyncio.ensure_future(group.insert(make_request("SJ-STAY0001"), actor="U1", detail={}))
    await asyncio.sleep(0)  # both queued
    quitter.cancel()
    await stayer
    assert quitter.cancelled()
    # Queued before it gave up, it is stored all the same (maintenance publishes such requests).
    assert stored_ids(store.path) == {"SJ-QUIT0001", "SJ-STAY0001"}


def states_on_disk(path: str) -> dict[str, str]:
    with sqlite3.connect(path) as other:
        return dict(other.execute("SELECT id, state FROM requests").fetchall())


async def test_decisions_made_in_the_same_turn_share_one_commit_with_new_requests(
    store: Store,
) -> None:
    ids = [f"SJ-DECIDE{i:02d}" for i in range(30)]
    for rid in ids:
        store.insert_request(make_request(rid), actor="U1", detail={})
    group = GroupCommit(store)
    statements = commits_of(store)
    seen: dict[str, str] = {}

    async def approve(rid: str) -> None:
        decision = await group.decide(
            Verdict(rid, target=RequestState.APPROVED, actor="U2", now=1_500.0, comment="go")
        )
        assert decision.won and decision.request is not None
        assert decision.request.state is RequestState.APPROVED
        seen[rid] = states_on_disk(store.path)[rid]

    await asyncio.gather(
        *(approve(rid) for rid in ids),
        group.insert(make_request("SJ-NEWONE01"), actor="U1", detail={}),
    )
    assert statements.count("COMMIT") == 1
    assert seen == dict.fromkeys(ids, "approved")  # each returned once committed
    for rid in ids:
        start = store.start(rid, 1)  # approving claims the first start in the same write
        assert start is not None and start.state is StartState.CLAIMED
        assert [e.kind.value for e in store.events(rid)] == ["requested", "approved"]
    assert states_on_disk(store.path)["SJ-NEWONE01"] == "pending"


async def test_two_decisions_of_one_request_in_one_group_let_exactly_the_first_win(
    store: Store,
) -> None:
    store.insert_request(make_request("SJ-RACE0001"), actor="U1", detail={})
    group = GroupCommit(store)
    approved, rejected, unknown = await asyncio.gather(
        group.decide(Verdict("SJ-RACE0001", target=RequestState.APPROVED, actor="U2", now=1_500.0)),
        group.decide(
            Verdict(
                "SJ-RACE0001", target=RequestState.REJECTED, actor="U3", now=1_500.0, comment="no"
            )
        ),
        group.decide(Verdict("SJ-NOSUCH01", target=RequestState.APPROVED, actor="U2", now=1_500.0)),
    )
    assert approved.won and not rejected.won
    assert rejected.request is not None and rejected.request.state is RequestState.APPROVED
    assert rejected.request.decided_by == "U2"
    assert not unknown.won and unknown.request is None
    assert [e.kind.value for e in store.events("SJ-RACE0001")] == ["requested", "approved"]


async def test_an_expired_request_is_not_approved_in_a_group(store: Store) -> None:
    store.insert_request(make_request("SJ-EXPIRED1", expires_at=1_200.0), actor="U1", detail={})
    decision = await GroupCommit(store).decide(
        Verdict("SJ-EXPIRED1", target=RequestState.APPROVED, actor="U2", now=1_500.0)
    )
    assert not decision.won
    assert states_on_disk(store.path) == {"SJ-EXPIRED1": "pending"}
    assert store.start("SJ-EXPIRED1", 1) is None


async def test_a_decision_that_cannot_be_written_fails_alone_and_is_undone(store: Store) -> None:
    for rid in ("SJ-CLAIMED1", "SJ-FINE0003"):
        store.insert_request(make_request(rid), actor="U1", detail={})
    # A start already claimed for a pending request: approving must claim it again, and fails.
    store._db.execute(
        "INSERT INTO starts (request_id, attempt, state, job_ids, actor, created_at)"
        " VALUES ('SJ-CLAIMED1', 1, 'claimed', '[]', 'U9', 1.0)"
    )
    group = GroupCommit(store)
    broken, fine = await asyncio.gather(
        group.decide(Verdict("SJ-CLAIMED1", target=RequestState.APPROVED, actor="U2", now=1_500.0)),
        group.decide(Verdict("SJ-FINE0003", target=RequestState.APPROVED, actor="U2", now=1_500.0)),
        return_exceptions=True,
    )
    assert isinstance(broken, sqlite3.IntegrityError)
    assert not isinstance(fine, BaseException) and fine.won
    assert states_on_disk(store.path) == {"SJ-CLAIMED1": "pending", "SJ-FINE0003": "approved"}
    assert [e.kind.value for e in store.events("SJ-CLAIMED1")] == ["requested"]
