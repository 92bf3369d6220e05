"""``python -m bot`` / ``startjobs run``: the one imperative shell of the bot.

Loads ``.env`` (never overriding the real environment), reads settings and policy, sets up
redacted logging and serves until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from dotenv import load_dotenv

from bot import logs
from bot.config import AkSk, ConfigError, Settings, load_config

log = logging.getLogger("bot")


def secrets_of(settings: Settings) -> list[str]:
    values = [settings.slack_bot_token.reveal()]
    for s in (settings.slack_signing_secret, settings.slack_app_token):
        if s is not None:
            values.append(s.reveal())
    creds = settings.credentials
    if isinstance(creds, AkSk):
        values += [creds.ak.reveal(), creds.sk.reveal()]
    else:
        values.append(creds.password.reveal())
    url = settings.database.url if settings.database is not None else None
    if url is not None:
        # The whole URL, and its password alone, never reach a log line.
        values.append(url.reveal())
        password = urlsplit(url.reveal()).password
        if password:
            values.append(password)
    return values


def cli_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="startjobs run", description=__doc__)
    parser.add_argument("--env-file", default=".env", help="dotenv file to load (default .env)")
    args = parser.parse_args(list(argv))
    load_dotenv(args.env_file, override=False)
    try:
        settings, policy = load_config(os.environ, check_database=True)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    logs.setup(settings.log_level, secrets_of(settings), settings.log_format)
    if not policy.projects:
        log.warning("no projects are configured: every request will be refused")
    from bot.bootstrap import run

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings, policy))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli_main(sys.argv[1:]))
