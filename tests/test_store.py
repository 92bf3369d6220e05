from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from bot.core.model import JobResult, Outcome
from bot.core.request import Approval, AuditKind, RequestJob, RequestState, StartRequest, StartState
from bot.service.ports import PostTurn
from bot.store import SCHEMA_VERSION, Recorded, Store, Verdict

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
    assert store.mark_sent("SJ-TEST0001", 1, now=1_101, owner="A", lease=15)
    assert not store.mark_sent("SJ-TEST0001", 1, now=1_102, owner="B", lease=15)
    results = [
        JobResult(JOBS[0], Outcome.SUCCESS),
        JobResult(JOBS[1], Outcome.FAILED, "DRS.M00304", "already started"),
    ]
    kw = {"now": 1_103.0, "calls": [], "followup_interval": 5.0, "followup_max": 60.0}
    assert store.record_outcomes("SJ-TEST0001", 1, results, **kw) is Recorded.RECORDED
    recovered = [JobResult(j, Outcome.UNKNOWN) for j in JOBS[:2]]
    again = store.record_outcomes("SJ-TEST0001", 1, recovered, recovered=True, **kw)
    assert again is Recorded.IGNORED
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
    store.mark_sent("SJ-TEST0001", 1, now=1_101, owner="A", lease=15)
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
    store.mark_sent("SJ-TEST0001", 1, now=1_101, owner="A", lease=15)
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
    store.mark_sent("SJ-TEST0001", 1, now=1_101, owner="A", lease=15)
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


KW = {"now": 1_103.0, "calls": [], "followup_interval": 5.0, "followup_max": 60.0}


def test_a_live_lease_cannot_be_taken_over_and_an_expired_one_can_once(store: Store) -> None:
    store.insert_request(make_request(), actor="U1", detail={})
    store.decide(Verdict("SJ-TEST0001", target=RequestState.APPROVED, actor="U2", now=1_100))
    assert store.mark_sent("SJ-TEST0001", 1, now=1_101, owner="A", lease=15)
    assert not store.take_over("SJ-TEST0001", 1, owner="B", now=1_110, lease=15)
    assert store.renew_lease("SJ-TEST0001", 1, owner="A", until=1_130)
    assert not store.take_over("SJ-TEST0001", 1, owner="B", now=1_125, lease=15)
    assert store.take_over("SJ-TEST0001", 1, owner="B", now=1_131, lease=15)
    assert not store.take_over("SJ-TEST0001", 1, owner="C", now=1_132, lease=15)
    assert not store.renew_lease("SJ-TEST0001", 1, owner="A", until=1_150)  # A lost it
    start = store.start("SJ-TEST0001", 1)
    assert start is not None and start.lease_owner == "B"
    kinds = [e.kind for e in store.events("SJ-TEST0001")]
    assert kinds.count(AuditKind.TAKEN_OVER) == 1


def test_the_owners_late_answer_is_merged_into_a_takeovers_record(store: Store) -> None:
    store.insert_request(make_request(), actor="U1", detail={})
    store.decide(Verdict("SJ-TEST0001", target=RequestState.APPROVED, actor="U2", now=1_100))
    store.mark_sent("SJ-TEST0001", 1, now=1_101, owner="A", lease=15)
    assert store.take_over("SJ-TEST0001", 1, owner="B", now=1_200, lease=15)
    reconciled = [
        JobResult(JOBS[0], Outcome.UNKNOWN, error_msg="answer lost"),
        JobResult(JOBS[1], Outcome.SUCCESS, error_msg="confirmed by batch-status"),
    ]
    assert (
        store.record_outcomes("SJ-TEST0001", 1, reconciled, recovered=True, **KW)
        is Recorded.RECORDED
    )
    assert store.get("SJ-TEST0001").state is RequestState.UNKNOWN  # type: ignore[union-attr]
    answer = [
        JobResult(JOBS[0], Outcome.SUCCESS, order_id="ORDER-0"),
        # A later refusal never turns a seen start into a failure.
        JobResult(JOBS[1], Outcome.FAILED, "DRS.M00304", "already started"),
    ]
    assert store.record_outcomes("SJ-TEST0001", 1, answer, **KW) is Recorded.MERGED
    req = store.get("SJ-TEST0001")
    assert req is not None
    assert [j.outcome for j in req.jobs] == [Outcome.SUCCESS, Outcome.SUCCESS]
    assert req.jobs[0].order_id == "ORDER-0"
    assert req.state is RequestState.DONE
    assert AuditKind.MERGED in [e.kind for e in store.events("SJ-TEST0001")]


def test_a_lost_channel_is_recorded_once(store: Store) -> None:
    store.insert_request(make_request(), actor="U1", detail={})
    assert store.lose_channel("SJ-TEST0001", "is_archived", now=1_100)
    assert not store.lose_channel("SJ-TEST0001", "not_in_channel", now=1_101)
    req = store.get("SJ-TEST0001")
    assert req is not None and req.channel_problem == "is_archived"
    kinds = [e.kind for e in store.events("SJ-TEST0001")]
    assert kinds.count(AuditKind.CHANNEL_LOST) == 1


def test_a_post_that_began_is_remembered_until_confirmed(store: Store) -> None:
    store.insert_request(make_request(), actor="U1", detail={})
    first = store.begin_message_post("SJ-TEST0001", 1_100, owner="A", alive_until=1_110)
    assert first == PostTurn(True, None)
    again = store.begin_message_post("SJ-TEST0001", 1_105, owner="A", alive_until=1_115)
    assert again == PostTurn(True, 1_100)


def test_a_version_1_database_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute(
        "INSERT INTO requests (id, team_id, channel_id, requester_id, project, region, approval,"
        " reason, language, state, created_at, expires_at) VALUES"
        " ('SJ-OLD00001', 'T1', 'C1', 'U1', 'prod', 'r', 'two-person', 'why', 'en-us',"
        " 'pending', 1000, 2000)"
    )
    db.execute(
        "INSERT INTO starts (request_id, attempt, state, job_ids, created_at, sent_at)"
        " VALUES ('SJ-OLD00001', 1, 'sent', '[]', 1000, 1001)"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = Store(path)
    try:
        req = store.get("SJ-OLD00001")
        assert req is not None and req.channel_problem is None and req.reason == "why"
        # A start sent by version 1 has no lease: it counts as leased for a lease after it.
        assert not store.take_over("SJ-OLD00001", 1, owner="B", now=1_010, lease=15)
        assert store.take_over("SJ-OLD00001", 1, owner="B", now=1_020, lease=15)
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        store.close()


# The tables as version 1 (the first released schema) wrote them.
V1_SCHEMA = """
CREATE TABLE requests (
    id TEXT PRIMARY KEY, team_id TEXT NOT NULL, channel_id TEXT NOT NULL,
    requester_id TEXT NOT NULL, project TEXT NOT NULL, region TEXT NOT NULL,
    approval TEXT NOT NULL, start_time_ms INTEGER, reason TEXT NOT NULL,
    language TEXT NOT NULL, state TEXT NOT NULL, created_at REAL NOT NULL,
    expires_at REAL NOT NULL, message_ts TEXT, outcome_ts TEXT, decided_by TEXT,
    decided_at REAL, decision_comment TEXT, followup_done INTEGER NOT NULL DEFAULT 0,
    followup_next_at REAL, followup_deadline REAL,
    settled_notified INTEGER NOT NULL DEFAULT 0, message_stale INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE request_jobs (
    request_id TEXT NOT NULL REFERENCES requests (id), seq INTEGER NOT NULL,
    job_id TEXT NOT NULL, name TEXT, status_at_request TEXT,
    prepaid INTEGER NOT NULL DEFAULT 0, outcome TEXT, error_code TEXT, error_msg TEXT,
    order_id TEXT, drs_status TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (request_id, seq)
);
CREATE TABLE starts (
    request_id TEXT NOT NULL REFERENCES requests (id), attempt INTEGER NOT NULL,
    state TEXT NOT NULL, job_ids TEXT NOT NULL, actor TEXT, created_at REAL NOT NULL,
    sent_at REAL, outcome_ts TEXT, PRIMARY KEY (request_id, attempt)
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, at REAL NOT NULL,
    actor TEXT, kind TEXT NOT NULL, detail TEXT NOT NULL
);
"""
