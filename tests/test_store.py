from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from bot.core.model import JobResult, Outcome
from bot.core.request import Approval, AuditKind, RequestJob, RequestState, StartRequest
from bot.store import StartState, Store, Verdict

JOBS = ("9a470239-2308-4bb5-a6bc-1040402fjb21", "dbb8127c-b093-4b94-b764-7161e151jb2s")


def make_request(rid: str = "SJ-TEST0001", *, expires_at: float = 2_000.0) -> StartRequest:
    return StartRequest(
        id=rid,
        team_id="T1",
        channel_id="C1",
        requester_id="U1",
        project="prod",
        region="ap-southeast-1",
        approval=Approval.TWO_PERSON,
        jobs=tuple(RequestJob(job_id=j) for j in JOBS),
        start_time_ms=None,
        reason="CHG-1",
        language="en-us",
        state=RequestState.PENDING,
        created_at=1_000.0,
        expires_at=expires_at,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "db" / "startjobs.db")


def test_database_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "startjobs.db"
    Store(path).insert_request(make_request(), actor="U1", detail={})
    for name in ("startjobs.db", "startjobs.db-wal"):
        mode = stat.S_IMODE(os.stat(tmp_path / name).st_mode)
        assert mode & 0o077 == 0, f"{name} is {oct(mode)}"


def test_request_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "startjobs.db"
    first = Store(path)
    first.insert_request(make_request(), actor="U1", detail={"jobs": 2})
    first.set_message_ts("SJ-TEST0001", "111.222")
    first.close()
    again = Store(path).get("SJ-TEST0001")
    assert again is not None
    assert again.job_ids == JOBS
    assert again.message_ts == "111.222"
    assert again.state is RequestState.PENDING


def test_only_one_decision_wins(store: Store) -> None:
    store.insert_request(make_request(), actor="U1", detail={})
    first = store.decide(
        Verdict("SJ-TEST0001", target=RequestState.APPROVED, actor="U2", now=1_100)
    )
    second = store.decide(
        Verdict("SJ-TEST0001", target=RequestState.REJECTED, actor="U3", now=1_101)
    )
    assert first.won and not second.won
    assert second.request is not None
    assert second.request.state is RequestState.APPROVED
    assert second.request.decided_by == "U2"
    start = store.start("SJ-TEST0001", 1)
    assert start is not None and start.state is StartState.CLAIMED
    assert start.job_ids == JOBS


def test_expired_request_cannot_be_approved(store: Store) -> None:
    store.insert_request(make_request(expires_at=1_050), actor="U1", detail={})
    late = store.decide(Verdict("SJ-TEST0001", target=RequestState.APPROVED, actor="U2", now=1_060))
    assert not late.won
    assert store.start("SJ-TEST0001", 1) is None
    assert store.expired_pending(1_060) == ["SJ-TEST0001"]


def test_mark_sent_once_and_record_once(store: Store) -> None:
    store.insert_request(make_request(), actor="U1", detail={})
    store.decide(Verdict("SJ-TEST0001", target=RequestState.APPROVED, actor="U2", now=1_100))
    assert store.mark_sent("SJ-TEST0001", 1, now=1_101)
    assert not store.mark_sent("SJ-TEST0001", 1, now=1_102)
    results = [
        JobResult(JOBS[0], Outcome.SUCCESS),
        JobResult(JOBS[1], Outcome.FAILED, "DRS.M00304", "already started"),
    ]
    kw = {"now": 1_103.0, "calls": [], "followup_interval": 5.0, "followup_max": 60.0}
    assert store.record_outcomes("SJ-TEST0001", 1, results, **kw)
    assert not store.record_outcomes("SJ-TEST0001", 1, results, **kw)
    req = store.get("SJ-TEST0001")
    assert req is not None
    assert req.state is RequestState.DONE
    assert [j.outcome for j in req.jobs] == [Outcome.SUCCESS, Outcome.FAILED]
    assert [j.attempts for j in req.jobs] == [1, 1]
    kinds = [e.kind for e in store.events("SJ-TEST0001")]
    assert kinds == [AuditKind.REQUESTED, AuditKind.APPROVED, AuditKind.OUTCOME]


def test_unknown_outcome_makes_request_unknown_and_confirm_settles_it(store: Store) -> None:
    store.insert_request(make_request(), actor="U1", detail={})
    store.decide(Verdict("SJ-TEST0001", target=RequestState.APPROVED, actor="U2", now=1_100))
    store.mark_sent("SJ-TEST0001", 1, now=1_101)
    store.record_outcomes(
        "SJ-TEST0001",
        1,
        [JobResult(JOBS[0], Outcome.SUCCESS), JobResult(JOBS[1], Outcome.UNKNOWN)],
        now=1_102,
        calls=[],
        followup_interval=5,
        followup_max=60,
    )
    req = store.get("SJ-TEST0001")
    assert req is not None and req.state is RequestState.UNKNOWN
    store.confirm_outcomes("SJ-TEST0001", {JOBS[1]: Outcome.SUCCESS, JOBS[0]: Outcome.FAILED})
    req = store.get("SJ-TEST0001")
    assert req is not None
    # Only the unknown one changes: a seen outcome is never overwritten.
    assert [j.outcome for j in req.jobs] == [Outcome.SUCCESS, Outcome.SUCCESS]


def test_all_refused_is_failed(store: Store) -> None:
    store.insert_request(make_request(), actor="U1", detail={})
    store.decide(Verdict("SJ-TEST0001", target=RequestState.APPROVED, actor="U2", now=1_100))
    store.mark_sent("SJ-TEST0001", 1, now=1_101)
    store.record_outcomes(
        "SJ-TEST0001",
        1,
        [JobResult(j, Outcome.FAILED, "APIGW.0301", "bad signature") for j in JOBS],
        now=1_102,
        calls=[],
        followup_interval=5,
        followup_max=60,
    )
    req = store.get("SJ-TEST0001")
    assert req is not None and req.state is RequestState.FAILED


def test_concurrent_processes_decide_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    Store(path).insert_request(make_request(), actor="U1", detail={})
    stores = [Store(path) for _ in range(8)]
    wins: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def click(s: Store, n: int) -> None:
        barrier.wait()
        d = s.decide(Verdict("SJ-TEST0001", target=RequestState.APPROVED, actor=f"U{n}", now=1_100))
        wins.append(d.won)

    threads = [threading.Thread(target=click, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]
    assert len(stores[0].starts_in(StartState.CLAIMED)) == 1


def test_retry_claims_only_when_nothing_in_flight(store: Store) -> None:
    store.insert_request(make_request(), actor="U1", detail={})
    store.decide(Verdict("SJ-TEST0001", target=RequestState.APPROVED, actor="U2", now=1_100))
    assert store.claim_retry("SJ-TEST0001", [JOBS[1]], actor="U2", now=1_101) is None
    store.mark_sent("SJ-TEST0001", 1, now=1_101)
    store.record_outcomes(
        "SJ-TEST0001",
        1,
        [JobResult(JOBS[0], Outcome.SUCCESS), JobResult(JOBS[1], Outcome.FAILED, "DRS.M01504")],
        now=1_102,
        calls=[],
        followup_interval=5,
        followup_max=60,
    )
    retry = store.claim_retry("SJ-TEST0001", [JOBS[1]], actor="U2", now=1_103)
    assert retry is not None and retry.attempt == 2 and retry.job_ids == (JOBS[1],)
    assert store.claim_retry("SJ-TEST0001", [JOBS[1]], actor="U3", now=1_104) is None


def _log_pages(path: Path) -> int:
    """Pages in the write-ahead log, as another connection finds it (it copies none)."""
    with sqlite3.connect(path) as other:
        other.execute("PRAGMA wal_autocheckpoint = 0")
        _, in_log, _ = other.execute("PRAGMA wal_checkpoint(NOOP)").fetchone()
    return int(in_log)


def _fill(store: Store, n: int) -> None:
    for i in range(n):
        store.insert_request(make_request(f"SJ-FILL{i:05d}"), actor="U1", detail={"x": "y" * 500})


def test_without_autocheckpoint_no_commit_copies_the_log_and_checkpoint_does(
    tmp_path: Path,
) -> None:
    path = tmp_path / "own.db"
    store = Store(path, autocheckpoint=False)
    _fill(store, 700)
    pages = _log_pages(path)
    assert pages > 1_000  # past the point where a commit would have checkpointed
    in_log, copied = store.checkpoint()
    assert in_log == copied >= pages
    store.close()
    # The default: the commit that fills the log past 1,000 pages copies it back.
    default = Store(tmp_path / "default.db")
    _fill(default, 700)
    assert _log_pages(tmp_path / "default.db") < pages
    default.close()


def test_a_checkpoint_from_another_thread_copies_the_log_and_the_store_writes_on(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "busy.db", autocheckpoint=False)
    _fill(store, 200)
    results: list[tuple[int, int]] = []
    worker = threading.Thread(target=lambda: results.append(store.checkpoint()))
    worker.start()
    store.insert_request(make_request("SJ-DURING01"), actor="U1", detail={})
    worker.join()
    assert results and results[0][0] == results[0][1] > 0
    assert store.get("SJ-DURING01") is not None
    assert Store(":memory:").checkpoint() == (0, 0)
