"""/start and /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import BotCommand, Message

from warmup.i18n import _


def command_list() -> list[tuple[str, str]]:
    return [
        ("warmup", _("Start a warmup: /warmup <target> [scenario]")),
        ("status", _("Running tasks, or one task: /status [task]")),
        ("tasks", _("The latest tasks")),
        ("cancel", _("Cancel a task: /cancel <task>")),
        ("profiles", _("Configured profiles and their last result")),
        ("scenarios", _("Scenarios, with the errors of invalid ones")),
        ("reload", _("Re-read the profiles file and the scenarios")),
        ("import", _("Send a storage-state file with the caption /import <profile>")),
        ("scenario", _("Send a scenario's YAML file with the caption /scenario [name]")),
        ("profiles_file", _("Send the profiles file with the caption /profiles_file")),
        ("schedule", _("Schedule a warmup: /schedule <target> <scenario> <cron>")),
        ("schedules", _("This chat's schedules")),
        ("export", _("The runs of the last days as a CSV file: /export [days]")),
        ("stats", _("The fleet's last days as a chart: /stats [days]")),
        ("help", _("How to use this bot")),
    ]


def help_text() -> str:
    return _(
        "<b>warmup-bot</b> plays scripted browsing sessions (scenarios) for your browser "
        "profiles.\n"
        "\n"
        "/warmup &lt;target&gt; [scenario] — start a task. Target: <code>all</code>, a profile, "
        "names separated by commas, or <code>tag:&lt;tag&gt;</code>. The scenario may be left "
        "out when there is only one, or one named <code>default</code>.\n"
        "/status [task] — running tasks, or one task profile by profile\n"
        "/tasks — the latest tasks\n"
        "/cancel &lt;task&gt; — cancel a task\n"
        "/profiles [failed | expired | never] [tag:&lt;tag&gt;] — profiles and their last "
        "result, a page at a time\n"
        "/scenarios — scenarios, and why an invalid one is invalid\n"
        "/reload — re-read the profiles file and the scenarios folder\n"
        "/import &lt;profile&gt; — as the caption of a storage-state JSON file: the profile's "
        "new session (cookies and localStorage)\n"
        "/scenario [name] — as the caption of a scenario's YAML file: checked as /reload "
        "checks it, then replaces the scenario of that name (or adds it)\n"
        "/profiles_file — as the caption of a profiles YAML file: checked, then replaces the "
        "profiles file\n"
        "/schedule &lt;target&gt; &lt;scenario&gt; &lt;cron&gt; [between HH:MM-HH:MM] "
        "[jitter 5m] — a warmup that starts by itself (times in UTC)\n"
        "/schedules — schedules, with Pause, Resume and Delete\n"
        "/export [days] — the runs of the last 30 (or so many) days as a CSV file\n"
        "/stats [days] — the whole fleet's runs of the last 14 (or so many) days as a chart: "
        "runs per day, success rate, median run time, the steps that fail most\n"
        "\n"
        "The progress message of a task is edited as it runs. Each failed profile is reported "
        "with a screenshot and a Retry button."
    )


def bot_commands() -> list[BotCommand]:
    """The command menu, in the language in use (see bot.i18n)."""
    return [BotCommand(command=name, description=text) for name, text in command_list()]


async def show_help(message: Message) -> None:
    await message.answer(help_text())


def create_router() -> Router:
    router = Router(name="help")
    router.message.register(show_help, CommandStart())
    router.message.register(show_help, Command("help"))
    return router
