"""L, the chat with a large fleet: `/profiles` of 5,000 profiles with a history of runs,
timed from the command to the reply, and its ◀ ▶ and filter buttons from the press to
the page shown.

The whole bot runs on the fake Bot API server with Telegram's flood limits and the
bot's default pacing; no browser plays (the history is written to the database before
the chat begins). The chat waits a little over a second between two requests, so that
Telegram's pace of one message a second in a chat is not what is timed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.bot_run import started_app, stop_app
from bench.probes import percentile
from bot.app import Application
from bot.settings import load_settings
from models import Profile, RunStatus, TaskStatus, WarmupRun, WarmupTask
from tests.chat_client import BotMessage, ChatClient
from tests.conftest import ADMIN_ID, CHAT_ID
from tests.fake_telegram import FakeTelegram

logger = logging.getLogger(__name__)

PROFILES = 5000
HISTORY_TASKS = 20
"""Tasks of the whole fleet already played: 100,000 runs for 5,000 profiles."""
SAMPLES = 30
CHAT_PACE = 1.1
"""Seconds between two requests: over Telegram's one message a second in a chat."""
BATCH = 500
SCENARIO = "steps:\n  - goto: https://example.org/\n"


def write_files(root: Path, profiles: int) -> None:
    entries = [
        {"name": f"p{index:04d}", "tags": ["eu" if index % 3 == 0 else "us"]}
        for index in range(profiles)
    ]
    (root / "profiles.yaml").write_text(yaml.safe_dump({"profiles": entries}), encoding="utf-8")
    (root / "scenarios").mkdir()
    (root / "scenarios" / "browse.yaml").write_text(SCENARIO, encoding="utf-8")


async def write_history(tasks: int) -> int:
    """`tasks` finished tasks of every profile, a run in ten failed; how many runs."""
    rng = random.Random(7)
    profile_ids = await Profile.all().values_list("id", flat=True)
    for _ in range(tasks):
        task = await WarmupTask.create(
            chat_id=CHAT_ID, target="all", scenario="browse", status=TaskStatus.completed
        )
        runs = [
            WarmupRun(
                task_id=task.id,
                profile_id=profile_id,
                attempts=1,
                status=RunStatus.failed if rng.random() < 0.1 else RunStatus.succeeded,
            )
            for profile_id in profile_ids
        ]
        await WarmupRun.bulk_create(runs, batch_size=BATCH)
    return tasks * len(profile_ids)


async def timed_reply(chat: ChatClient, command: str) -> tuple[BotMessage, float]:
    sent = time.monotonic()
    message_id = await chat.send(command)
    reply = await chat.wait_for_message(lambda m: m.text.startswith("Profiles"), after=message_id)
    return reply, time.monotonic() - sent


async def timed_press(chat: ChatClient, message: BotMessage, button: str) -> float:
    """From the press to its answer, which the bot gives once the page is shown."""
    pressed = time.monotonic()
    await chat.press(message, button)
    return time.monotonic() - pressed


async def time_fleet_lists(
    profiles: int = PROFILES, samples: int = SAMPLES, history_tasks: int = HISTORY_TASKS
) -> dict[str, Any]:
    command_s: list[float] = []
    press_s: list[float] = []
    async with FakeTelegram() as fake:
        fake.enforce_flood_limits()
        with tempfile.TemporaryDirectory(prefix="bench-lists-") as folder:
            root = Path(folder)
            write_files(root, profiles)
            settings = load_settings(
                _env_file=None,
                bot_token=fake.token,
                telegram_api_url=fake.api_url,
                admin_ids=frozenset({ADMIN_ID}),
                database_url=f"sqlite://{root}/warmup.sqlite3",
                data_dir=root / "data",
                profiles_file=root / "profiles.yaml",
                scenarios_dir=root / "scenarios",
            )
            app = Application(settings, handle_signals=False)
            runner = asyncio.create_task(app.run(), name="bench-lists")
            try:
                await started_app(app, runner)
                assert app.database is not None
                with app.database:
                    runs = await write_history(history_tasks)
                chat = ChatClient(fake, chat_id=CHAT_ID, user_id=ADMIN_ID)
                for number in range(samples):
                    await asyncio.sleep(CHAT_PACE)
                    command = "/profiles failed" if number % 3 == 2 else "/profiles"
                    listing, took = await timed_reply(chat, command)
                    command_s.append(took)
                    await asyncio.sleep(CHAT_PACE)
                    press_s.append(await timed_press(chat, listing, "▶"))
                    await asyncio.sleep(CHAT_PACE)
                    expired = next(b for b in listing.buttons if b.startswith("🔑"))
                    press_s.append(await timed_press(chat, listing, expired))
            finally:
                await stop_app(app, runner)
    return {
        "profiles": profiles,
        "runs_in_history": runs,
        "command": _spread(command_s),
        "button": _spread(press_s),
    }


def _spread(seconds: list[float]) -> dict[str, float]:
    ms = [value * 1000 for value in seconds]
    return {
        "samples": len(ms),
        "p50_ms": percentile(ms, 0.5),
        "p95_ms": percentile(ms, 0.95),
        "max_ms": max(ms, default=0.0),
    }


def lists_line(found: dict[str, Any]) -> str:
    command, button = found["command"], found["button"]
    return (
        f"L, /profiles of {found['profiles']} profiles ({found['runs_in_history']} runs in the "
        f"history), on the fake Bot API: command to reply p50 {command['p50_ms']:.0f} ms, "
        f"p95 {command['p95_ms']:.0f} ms, max {command['max_ms']:.0f} ms over "
        f"{command['samples']}; a button (page, filter) to its page shown p50 "
        f"{button['p50_ms']:.0f} ms, p95 {button['p95_ms']:.0f} ms over {button['samples']}"
    )
