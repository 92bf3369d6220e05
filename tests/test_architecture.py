"""The architecture, checked: the import contracts in ``pyproject.toml`` hold and do bite, no
module leans on a library's private parts, modules stay small, and the top of ``bot/`` holds
only entry points, configuration, logging and composition (see docs/architecture.md)."""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.core.policy import may_approve, may_request
from bot.core.request import Approval, RequestJob, RequestState, StartRequest
from bot.core.times import parse_start_time

if TYPE_CHECKING:
    from tests.conftest import FakeClock, PolicyFactory

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the contracts of ``cwd/pyproject.toml``, importing ``bot`` from
    ``pythonpath`` first."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(pythonpath), os.environ.get("PYTHONPATH", "")]),
        "COLUMNS": "400",  # one line per contract, however long its name
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def contract_names() -> dict[str, str]:
    """Contract id -> name, from pyproject.toml."""
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c["name"] for c in data["tool"]["importlinter"]["contracts"]}


# -- the import contracts ------------------------------------------------------------------


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    names = contract_names()
    assert set(names) == {
        "layers",
        "core-pure",
        "service-knows-no-slack",
        "production-without-devkit",
    }
    for name in names.values():
        assert f"{name} KEPT" in result.stdout


SLACK = "bot.slack.ui.blocks"
DEVKIT = "bot.devkit.sim.drs"


@pytest.mark.parametrize(
    ("module", "added", "broken", "report"),
    [
        # The core importing a Slack builder: the core's own contract and the layers.
        ("core/jobids.py", SLACK, {"core-pure", "layers"}, f"bot.core.jobids -> {SLACK}"),
        # A use case importing Slack.
        (
            "service/__init__.py",
            SLACK,
            {"service-knows-no-slack", "layers"},
            f"bot.service -> {SLACK}",
        ),
        # One adapter importing another.
        ("drs/__init__.py", SLACK, {"layers"}, f"bot.drs -> {SLACK}"),
        # Production code importing the simulators.
        ("store/__init__.py", DEVKIT, {"production-without-devkit"}, f"bot.store -> {DEVKIT}"),
        # A new module at the top of bot/ that no layer names.
        ("stray.py", None, {"layers"}, "not listed as layers:\n\n- bot.stray"),
    ],
    ids=[
        "core-imports-slack",
        "service-imports-slack",
        "drs-imports-slack",
        "store-imports-devkit",
        "unplaced-top-module",
    ],
)
def test_a_forbidden_import_breaks_the_contract(
    tmp_path: Path, module: str, added: str | None, broken: set[str], report: str
) -> None:
    shutil.copytree(BOT, tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "bot" / module).open("a", encoding="utf-8") as f:
        f.write(f"\nimport {added}  # noqa\n" if added else '"""Placed nowhere."""\n')

    result = lint_imports(tmp_path, tmp_path)

    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    names = contract_names()
    # The contracts meant to catch it are broken (others may be too, through a chain) ...
    assert broken <= {cid for cid, name in names.items() if f"{name} BROKEN" in out}, out
    # ... by the change made in the copy, which is what was analysed.
    assert report in out, out


# -- private parts of libraries ------------------------------------------------------------

LIBRARIES = ("slack_bolt", "slack_sdk", "httpx", "aiohttp")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@functools.cache
def library_private_names() -> frozenset[str]:
    """Every private name the libraries define or use in their own source: ``_listener_runner``,
    ``_async_listeners``, ``_middleware_list``, ``_transport``, ``_pool``, ``_session`` ..."""
    names: set[str] = set()
    for lib in LIBRARIES:
        spec = importlib.util.find_spec(lib)
        assert spec is not None and spec.origin is not None
        for path in Path(spec.origin).parent.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_bytes())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    names.add(node.name)
                elif isinstance(node, ast.Attribute):
                    names.add(node.attr)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
    return frozenset(n for n in names if _private(n))


def own_private_names(paths: tuple[Path, ...]) -> frozenset[str]:
    """Private names these modules define themselves (functions, classes, module and class
    attributes, attributes set on ``self`` or ``cls``): reading those is their own business,
    whoever's object they are read from."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
            ):
                names.add(node.attr)
    return frozenset(n for n in names if _private(n))


@functools.cache
def bot_private_names() -> frozenset[str]:
    return own_private_names(tuple(sorted(BOT.rglob("*.py"))))


def private_library_uses(path: Path, own: frozenset[str]) -> list[str]:
    """Where ``path`` imports a private module or name of :data:`LIBRARIES`, or touches (on
    anything but ``self``/``cls``) a private name those libraries have and ``own`` has not."""
    suspects = library_private_names() - own
    found: list[str] = []

    def report(node: ast.stmt | ast.expr, what: str) -> None:
        found.append(f"{path.name}:{node.lineno}: {what}")

    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES and any(
                    _private(part) for part in alias.name.split(".")
                ):
                    report(node, f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.split(".")[0] not in LIBRARIES:
                continue
            if any(_private(part) for part in module.split(".")):
                report(node, f"imports {module}")
            for alias in node.names:
                if _private(alias.name):
                    report(node, f"imports {alias.name} from {module}")
        elif isinstance(node, ast.Attribute):
            on_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if node.attr in suspects and not on_self:
                report(node, f"uses .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in suspects
        ):
            report(node, f"{node.func.id}(..., {node.args[1].value!r})")
    return found


def test_the_check_knows_the_private_attributes_people_reach_for() -> None:
    known = {"_listener_runner", "_async_listeners", "_middleware_list", "_async_listener_runner"}
    known |= {"_transport", "_pool", "_session", "_connector"}
    assert known <= library_private_names()


def test_the_check_finds_private_uses_and_spares_a_modules_own_names(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from slack_bolt.app.async_app import AsyncApp\n"
        "from httpx._transports.default import AsyncHTTPTransport\n"
        "import aiohttp._http_parser\n"
        "from aiohttp.helpers import _SENTINEL\n"
        "def f(app: AsyncApp, client: object) -> None:\n"
        "    app._async_listeners.clear()\n"
        "    getattr(client, '_transport')\n"
        "class Own:\n"
        "    def __init__(self) -> None:\n"
        "        self._session = None\n"
        "    def same(self, other: Own) -> bool:\n"
        "        return self._session is other._session\n",
        encoding="utf-8",
    )
    found = private_library_uses(sample, own_private_names((sample,)))
    assert sorted(found) == [
        "sample.py:2: imports httpx._transports.default",
        "sample.py:3: imports aiohttp._http_parser",
        "sample.py:4: imports _SENTINEL from aiohttp.helpers",
        "sample.py:6: uses ._async_listeners",
        "sample.py:7: getattr(..., '_transport')",
    ]


def test_no_module_touches_private_parts_of_its_libraries() -> None:
    found = [
        use
        for path in sorted(BOT.rglob("*.py"))
        for use in private_library_uses(path, bot_private_names())
    ]
    assert found == []


# -- module size ---------------------------------------------------------------------------

MAX_LINES = 400
# No module of bot/ may be longer: split it by what its parts do.
OVERSIZED: dict[str, int] = {}


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_modules_stay_small() -> None:
    too_big = {}
    for path in sorted(BOT.rglob("*.py")):
        name = str(path.relative_to(ROOT))
        limit = max(MAX_LINES, OVERSIZED.get(name, 0))
        if (lines := _line_count(path)) > limit:
            too_big[name] = f"{lines} lines, at most {limit}"
    assert too_big == {}


# -- the top of bot/ -----------------------------------------------------------------------

TOP_MODULES = {"__init__", "__main__", "cli", "healthcheck", "config", "logs", "bootstrap"}
PACKAGES = {"core", "service", "store", "drs", "slack", "check", "devkit", "config"}


def test_the_top_of_bot_holds_entry_points_configuration_logging_and_composition() -> None:
    modules = {p.stem for p in BOT.glob("*.py")}
    assert modules - TOP_MODULES == set()
    packages = {p.parent.name for p in BOT.glob("*/__init__.py")}
    assert packages == PACKAGES


# -- the core decides on values ------------------------------------------------------------


def _request(requester: str, created_at: float) -> StartRequest:
    return StartRequest(
        id="R1",
        team_id="T1",
        channel_id="C0OPS",
        requester_id=requester,
        project="prod",
        region="cn-north-4",
        approval=Approval.TWO_PERSON,
        jobs=(RequestJob("9a470239-2308-4bb5-a6bc-1040402fjb21"),),
        start_time_ms=None,
        reason="CHG-1",
        language="en-us",
        state=RequestState.PENDING,
        created_at=created_at,
        expires_at=created_at + 3600,
    )


def test_the_core_decides_on_the_values_it_is_given(
    fake_clock: FakeClock, make_policy: PolicyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time and policy come in as values: with the network and files shut off, the core
    answers, and moving the clock moves its answer."""

    def no_io(*args: object, **kwargs: object) -> None:
        raise AssertionError("the core did I/O")

    policy = make_policy()
    monkeypatch.setattr(socket, "socket", no_io)
    monkeypatch.setattr("builtins.open", no_io)

    prod = policy.project("prod")
    assert prod is not None
    assert may_request(prod, "U01ALICE", frozenset(), "C0OPS").allowed
    request = _request("U01ALICE", fake_clock())
    assert not may_approve(prod, request, "U01ALICE", frozenset()).allowed  # two people
    assert may_approve(prod, request, "U02BOB", frozenset()).allowed

    first = parse_start_time("in 2h", now=fake_clock.datetime(), tz=None)
    fake_clock.advance(3600)
    later = parse_start_time("in 2h", now=fake_clock.datetime(), tz=None)
    assert first.when is not None and later.when is not None
    assert later.when - first.when == timedelta(hours=1)
