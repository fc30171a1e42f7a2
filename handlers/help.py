"""/start and /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import BotCommand, Message

COMMANDS = (
    ("warmup", "Start a warmup: /warmup <target> [scenario]"),
    ("status", "Running tasks, or one task: /status [task]"),
    ("tasks", "The latest tasks"),
    ("cancel", "Cancel a task: /cancel <task>"),
    ("profiles", "Configured profiles and their last result"),
    ("scenarios", "Scenarios, with the errors of invalid ones"),
    ("reload", "Re-read the profiles file and the scenarios"),
    ("import", "Send a storage-state file with the caption /import <profile>"),
    ("schedule", "Schedule a warmup: /schedule <target> <scenario> <cron>"),
    ("schedules", "This chat's schedules"),
    ("help", "How to use this bot"),
)

HELP = """<b>warmup-bot</b> plays scripted browsing sessions (scenarios) for your browser profiles.

/warmup &lt;target&gt; [scenario] — start a task. Target: <code>all</code>, a profile, \
names separated by commas, or <code>tag:&lt;tag&gt;</code>. The scenario may be left out \
when there is only one, or one named <code>default</code>.
/status [task] — running tasks, or one task profile by profile
/tasks — the latest tasks
/cancel &lt;task&gt; — cancel a task
/profiles — profiles and their last result
/scenarios — scenarios, and why an invalid one is invalid
/reload — re-read the profiles file and the scenarios folder
/import &lt;profile&gt; — as the caption of a storage-state JSON file: the profile's new \
session (cookies and localStorage)
/schedule &lt;target&gt; &lt;scenario&gt; &lt;cron&gt; [between HH:MM-HH:MM] [jitter 5m] — \
a warmup that starts by itself (times in UTC)
/schedules — schedules, with Pause, Resume and Delete

The progress message of a task is edited as it runs. Each failed profile is reported \
with a screenshot and a Retry button."""


def bot_commands() -> list[BotCommand]:
    return [BotCommand(command=name, description=text) for name, text in COMMANDS]


async def show_help(message: Message) -> None:
    await message.answer(HELP)


def create_router() -> Router:
    router = Router(name="help")
    router.message.register(show_help, CommandStart())
    router.message.register(show_help, Command("help"))
    return router
