"""A throwaway PostgreSQL server for tests, from the server binaries installed on the machine.

:func:`find_bindir` looks for ``initdb``, ``pg_ctl`` and ``postgres`` (``pg_config --bindir``,
then ``/usr/lib/postgresql/*/bin``, newest first). :class:`PgCluster` makes a cluster in a
temporary directory and serves it on a free port of 127.0.0.1 only (no Unix socket but one in
that directory), with durability off (tests need speed, not crash safety) and password
authentication, so the URLs tests use carry a password as a real deployment's do. PostgreSQL
refuses to run as root: when the tests run as root, the cluster runs as ``nobody``.

``tests/conftest.py`` turns this into fixtures: ``pg_cluster`` (one per test session, skipped
with the reason when no binaries exist) and ``pg_url`` (a fresh database per test).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

SUPERUSER = "startjobs_test"
PASSWORD = "pg-test-secret-9f2c"  # only ever used by the throwaway cluster
UNPRIVILEGED = "nobody"
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
# Throwaway data: nothing needs to survive a crash of the machine.
SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200 -c shared_buffers=32MB"
)


def find_bindir() -> Path | None:
    """The directory holding the PostgreSQL server binaries, or None when none is installed."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))

    def version(path: str) -> tuple[int, ...]:
        digits = Path(path).parent.name.split(".")
        return tuple(int(d) for d in digits if d.isdigit())

    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version)][
        ::-1
    ]
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in SERVER_BINARIES):
            return directory
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    """One PostgreSQL server in a temporary directory; :meth:`start` it, :meth:`stop` it,
    :meth:`destroy` it. ``url(db)`` is a libpq URL of database ``db`` on it."""

    bindir: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="startjobs-pg-")))
    port: int = 0
    startup_seconds: float = 0.0  # how long init and start took
    running: bool = False
    _names: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        if os.geteuid() == 0:  # the server refuses to run as root
            user = pwd.getpwnam(UNPRIVILEGED)
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        env["HOME"] = str(self.root)
        return subprocess.run(  # type: ignore[call-overload]
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            cwd=self.root,
            **kwargs,
        )

    def init(self) -> None:
        if os.geteuid() == 0:
            user = pwd.getpwnam(UNPRIVILEGED)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.root.chmod(0o700)
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
        if os.geteuid() == 0:
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        done = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        """Start the server on a free loopback port (a new one if the last was taken)."""
        problem = ""
        for _ in range(3):
            port = self.port or free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} "
                f"-c unix_socket_directories='{self.root}' {SERVER_OPTIONS}"
            )
            done = self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options,
                "-w", "-t", "30", "start",
            )  # fmt: skip
            if done.returncode == 0:
                self.port, self.running = port, True
                return
            problem = done.stderr.strip() or done.stdout.strip()
            self.port = 0
        log = self.root / "log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"the PostgreSQL server did not start: {problem}\n{tail}")

    def stop(self) -> None:
        """Stop the server (fast: open connections are ended); it keeps its port."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.running = False

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self) -> str:
        """A new empty database; its name."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as db:
            db.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 STRATEGY file_copy')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_cluster() -> PgCluster:
    """A running throwaway cluster; raises LookupError when no server binaries exist."""
    bindir = find_bindir()
    if bindir is None:
        raise LookupError(
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found via pg_config "
            "or in /usr/lib/postgresql/*/bin; install the 'postgresql' package"
        )
    cluster = PgCluster(bindir)
    try:
        started = time.monotonic()
        cluster.init()
        cluster.start()
        cluster.startup_seconds = time.monotonic() - started
    except BaseException:
        cluster.destroy()
        raise
    return cluster


PGBOUNCER_CANDIDATES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")


def find_pgbouncer() -> str | None:
    """PgBouncer's binary, or None when it is not installed."""
    found = shutil.which("pgbouncer")
    if found:
        return found
    return next((p for p in PGBOUNCER_CANDIDATES if os.access(p, os.X_OK)), None)


@dataclass
class PgBouncer:
    """PgBouncer in transaction pooling in front of a :class:`PgCluster`, on a free loopback
    port: every database of the cluster through it, a few server connections shared by all
    clients, each handed to a client for one transaction only (as a managed pooler runs it).
    When the tests run as root, it runs as ``nobody`` (``-u``): it refuses root too."""

    binary: str
    cluster: PgCluster
    server_connections: int = 4  # per database: fewer than the stores' pools hold
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="startjobs-pgb-")))
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def url(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        self.port = free_port()
        self.root.chmod(0o755)  # read by ``nobody`` after the switch
        (self.root / "users.txt").write_text(f'"{SUPERUSER}" "{PASSWORD}"\n', encoding="utf-8")
        server = f"host=127.0.0.1 port={self.cluster.port} user={SUPERUSER} password={PASSWORD}"
        (self.root / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = {server}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = scram-sha-256\n"
            f"auth_file = {self.root / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.server_connections}\n"
            "max_client_conn = 500\n"
            "ignore_startup_parameters = extra_float_digits\n",
            encoding="utf-8",
        )
        for name in ("users.txt", "pgbouncer.ini"):
            (self.root / name).chmod(0o644)
        command = [self.binary, str(self.root / "pgbouncer.ini")]
        if os.geteuid() == 0:
            command[1:1] = ["-u", UNPRIVILEGED]
        with (self.root / "log").open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        tail = (self.root / "log").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"PgBouncer did not start:\n{tail}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def start_pgbouncer(cluster: PgCluster) -> PgBouncer:
    """PgBouncer running in front of ``cluster``; LookupError when it is not installed."""
    binary = find_pgbouncer()
    if binary is None:
        raise LookupError("PgBouncer is not installed; install the 'pgbouncer' package")
    bouncer = PgBouncer(binary, cluster)
    bouncer.start()
    return bouncer
