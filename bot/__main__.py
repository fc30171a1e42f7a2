"""`python -m bot`: run the bot until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import os
import sys

from bot.app import Application
from bot.logs import configure_logging
from bot.settings import SettingsError, load_settings
from warmup.browser import BrowserNotFound


def main() -> int:
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
