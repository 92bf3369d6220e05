"""A ``STARTJOBS_DB`` the bot cannot use stops start-up with the one configuration message.

A directory, a file that is not a database, a read-only file or directory: each is named with
what to fix before the bot serves anything, never as a traceback from the first write.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.stack import REPO, child_env, free_port, policy_toml, project_table
from bot.config import ConfigError, database_problems, load_config

FIX = "point it at a file path the bot can create and write"
NOBODY = 65534


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user may enter (pytest's own tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="startjobs-db-check-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for p in [path, *path.rglob("*")]:
            with contextlib.suppress(OSError):
                p.chmod(0o755 if p.is_dir() else 0o644)
        shutil.rmtree(path)


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """File permissions apply within: as user ``nobody`` when the tests run as root (root
    writes anything), unchanged otherwise."""
    if os.geteuid() != 0:
        yield
        return
    try:
        os.seteuid(NOBODY)
    except PermissionError:
        pytest.skip("running as root without the right to drop privileges")
    try:
        yield
    finally:
        os.seteuid(0)


def environment(where: Path, db: Path, **extra: str) -> dict[str, str]:
    config = where / "startjobs.toml"
    project = project_table("http://127.0.0.1:9", requesters=["U01ALICE"], approvers=["U02BOB"])
    config.write_text(policy_toml({"prod": project}), "utf-8")
    config.chmod(0o644)
    return {
        "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
        "SLACK_SIGNING_SECRET": "signing-secret",
        "STARTJOBS_CONFIG": str(config),
        "STARTJOBS_DB": str(db),
        "HUAWEICLOUD_SDK_AK": "AKEXAMPLE",
        "HUAWEICLOUD_SDK_SK": "SKEXAMPLESECRET",
        **extra,
    }


def make_database(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE kept (x)")
    db.commit()
    db.close()


def run_bot(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m bot`` with ``env``; killed after 20 s (a bot that starts serving)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", os.devnull],
        env=child_env(**env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


@pytest.mark.parametrize("broken", ["a directory", "not a database"])
def test_the_bot_refuses_to_start_with_one_message(tmp_path: Path, broken: str) -> None:
    if broken == "a directory":
        db = tmp_path / "data"
        db.mkdir()
        expected = f"STARTJOBS_DB={db}: is a directory; {FIX}"
    else:
        db = tmp_path / "startjobs.db"
        db.write_text("name,status\nmig-1,CONFIGURATION\n" * 200, "utf-8")
        expected = f"STARTJOBS_DB={db}: is not a SQLite database (file is not a database)"
    before = db.read_bytes() if db.is_file() else None
    done = run_bot(environment(tmp_path, db, PORT=str(free_port())))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("startjobs cannot start; fix the configuration:\n"), done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert (db.read_bytes() if db.is_file() else None) == before  # the check changed nothing


def test_a_read_only_database_file_is_a_configuration_problem(shared_dir: Path) -> None:
    db = shared_dir / "startjobs.db"
    make_database(db)
    db.chmod(0o444)
    env = environment(shared_dir, db)
    with unprivileged(), pytest.raises(ConfigError) as info:
        load_config(env, check_database=True)
    (problem,) = info.value.problems
    assert problem.startswith(f"STARTJOBS_DB={db}: cannot be written (")
    assert f"make the file and its directory {shared_dir.resolve()} writable" in problem
    assert problem.endswith(FIX)


def test_a_database_in_a_read_only_directory_is_a_configuration_problem(
    shared_dir: Path,
) -> None:
    data = shared_dir / "data"
    data.mkdir()
    make_database(data / "startjobs.db")
    (data / "startjobs.db").chmod(0o666)
    data.chmod(0o555)  # the file may be written, but not its write-ahead log beside it
    with unprivileged():
        problems = database_problems(str(data / "startjobs.db"))
        new_file = database_problems(str(data / "new.db"))
    assert len(problems) == 1
    assert problems[0].startswith(f"STARTJOBS_DB={data / 'startjobs.db'}: cannot be written")
    assert new_file == [
        f"STARTJOBS_DB={data / 'new.db'}: cannot create files in {data} (Permission denied); "
        f"make it writable by the bot's user (uid {NOBODY if os.geteuid() == 0 else os.geteuid()}"
        f"), or {FIX}"
    ]


def test_usable_paths_pass_and_are_left_as_they_were(tmp_path: Path) -> None:
    existing = tmp_path / "startjobs.db"
    make_database(existing)
    assert database_problems(str(existing)) == []
    db = sqlite3.connect(existing)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    db.close()
    assert tables == ["kept"]  # the write was rolled back
    missing = tmp_path / "not" / "yet" / "startjobs.db"  # the store creates the directories
    assert database_problems(str(missing)) == []
    assert not (tmp_path / "not").exists()
    assert list(tmp_path.iterdir()) == [existing]  # no probe file left behind
    assert database_problems(":memory:") == []


def test_a_path_under_a_file_is_a_configuration_problem(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", "utf-8")
    path = tmp_path / "file" / "startjobs.db"
    assert database_problems(str(path)) == [
        f"STARTJOBS_DB={path}: {tmp_path / 'file'} is not a directory; {FIX}"
    ]


def test_database_problems_are_listed_with_the_other_problems(tmp_path: Path) -> None:
    env = environment(tmp_path, tmp_path, PORT="eighty")
    with pytest.raises(ConfigError) as info:
        load_config(env, check_database=True)
    assert any(p.startswith("PORT=") for p in info.value.problems)
    assert f"STARTJOBS_DB={tmp_path}: is a directory; {FIX}" in info.value.problems
    load_config({**env, "PORT": "3000"})  # without the check (tests, `startjobs check`): loads
