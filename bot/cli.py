"""``startjobs`` command line: run, demo, check, migrate, copy-db, simulate.

Each subcommand lives in its own module as ``cli_main(argv) -> int``; this module only
dispatches, so ``startjobs --help`` stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMANDS = {
    "run": ("bot.__main__", "run the bot (Socket Mode if SLACK_APP_TOKEN is set, else HTTP)"),
    "demo": (
        "bot.devkit.demo.main",
        "try the bot offline: simulated DRS and Slack, a chat in the terminal",
    ),
    "check": ("bot.check.doctor", "check the configuration, the Slack token and DRS access"),
    "migrate": (
        "bot.check.migrate",
        "bring the database's schema up to date (--check: only say whether it is)",
    ),
    "copy-db": (
        "bot.check.copy_db",
        "copy a SQLite database's history into PostgreSQL (--from, --to; stop the bot first)",
    ),
    "simulate": ("bot.devkit.sim.drs_cli", "run the DRS + IAM simulator on loopback"),
}

USAGE = (
    "usage: startjobs {"
    + ",".join(SUBCOMMANDS)
    + "} [options]\n\n"
    + "\n".join(f"  {name:<9} {text}" for name, (_, text) in SUBCOMMANDS.items())
)


def parse_or_status(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> argparse.Namespace | int:
    """Parse ``argv``; for ``--help`` or a usage error (argparse exits for those), the exit
    status to return instead, so a subcommand's ``cli_main`` never raises SystemExit."""
    try:
        return parser.parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"startjobs: unknown command {name!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    result: int = module.cli_main(rest)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
