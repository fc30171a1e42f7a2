"""`python -m bot`: run the bot until SIGINT or SIGTERM; `check`, `try` and `schema` for
operators."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.check import run_check
from bot.logs import configure_logging
from bot.settings import SettingsError, load_settings
from bot.trial import run_try
from warmup.browser import BrowserNotFound
from warmup.scenario import scenario_schema_text


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.command == "check":
        return run_check()
    if arguments.command == "schema":
        sys.stdout.buffer.write(scenario_schema_text().encode())
        return 0
    if arguments.command == "worker":
        from bot.worker import run_worker  # taskiq and Redis: only workers need them here

        return run_worker()
    if arguments.command == "try":
        return run_try(
            arguments.scenario, arguments.profile, headed=arguments.headed, trace=arguments.trace
        )
    return run_bot()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Without a command: run the Telegram bot."
    )
    commands = parser.add_subparsers(dest="command", metavar="command")
    commands.add_parser(
        "check",
        help="check the settings, the profiles file and every scenario, then exit",
        description="Check the settings, the profiles file and every scenario; print every "
        "problem. Exit code 1 when there is any. BOT_TOKEN is not needed.",
    )
    commands.add_parser(
        "worker",
        help="play the runs the bot sends through BROKER_URL, on this machine's browser",
        description="Take the runs the bot sends through BROKER_URL and play them here, "
        "MAX_CONCURRENCY at once, until SIGINT or SIGTERM. Shares DATABASE_URL with the bot; "
        "needs no BOT_TOKEN.",
    )
    commands.add_parser(
        "schema",
        help="print the JSON Schema of a scenario file",
        description="Print the JSON Schema of a scenario file, for editors with a YAML language "
        "server (scenarios/scenario.schema.json is this output). Needs no settings.",
    )
    play = commands.add_parser(
        "try",
        help="play one scenario for one profile here, without Telegram",
        description="Play one scenario for one profile in a local browser, without Telegram. "
        "The scenario comes from SCENARIOS_DIR, else from examples/. The demo site is served "
        "on 127.0.0.1 meanwhile, as {demo_site}: try `python -m bot try demo --profile demo`.",
    )
    play.add_argument("scenario", help="a scenario name (its file name without .yaml)")
    play.add_argument(
        "--profile",
        required=True,
        metavar="NAME",
        help="a profile of PROFILES_FILE; another name plays an ad-hoc profile with no vars",
    )
    play.add_argument("--headed", action="store_true", help="show the browser (HEADLESS=false)")
    play.add_argument(
        "--trace", type=Path, metavar="PATH", help="write a Playwright trace of the run to PATH"
    )
    return parser


def run_bot() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"warmup-bot: {error}", file=sys.stderr)
        return 2
    if settings.bot_token is None:
        print(
            "warmup-bot: BOT_TOKEN is not set: create a bot with @BotFather and put its token "
            "in .env (see .env.example)",
            file=sys.stderr,
        )
        return 2
    # Storage states, screenshots and the database hold sessions: owner-only, whatever
    # creates the file (SQLite's journal files included).
    os.umask(0o077)
    configure_logging(settings.log_level)
    from bot.app import Application  # aiogram and the handlers: only the bot needs them

    try:
        asyncio.run(Application(settings).run())
    except BrowserNotFound as error:
        print(f"warmup-bot: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
