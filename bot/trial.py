"""`python -m bot try <scenario> --profile NAME`: one warmup played here, without Telegram.

It runs on the bot's own parts (`bot.runtime`: database, ledger, Chromium, engine) with
the terminal display as the engine's listener, and starts its task through the same front
door as the chat (`warmup.tasks.TaskService`). The task is recorded like any other, with
chat id 0, which stands for the command line: it belongs to no chat, so `/tasks` never
lists it. Its run holds the profile's lease like any run, so the bot and `try` never play
one profile at once; a profile the bot is busy with is refused.

The demo site (`examples/demo-site/`) is always served on 127.0.0.1 while `try` runs, and
its address is every scenario's default for `{demo_site}`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from types import MappingProxyType

from playwright.async_api import Error as PlaywrightError
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from bot.logs import configure_logging
from bot.runtime import open_engine, open_storage
from bot.settings import Settings, SettingsError, load_settings
from bot.static_site import serve_folder
from bot.terminal import TerminalConsole, TerminalDisplay, expected_steps, log_handler
from models import COMMAND_LINE_CHAT, RunStatus, WarmupRun
from warmup.browser import BrowserNotFound
from warmup.catalog import Catalog
from warmup.events import EventBus
from warmup.leases import process_owner
from warmup.ledger import Ledger
from warmup.profiles import ProfileConfig
from warmup.scenario import Scenario, ScenarioCatalog, load_scenarios
from warmup.targets import shown
from warmup.tasks import TaskError, TaskService

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
DEMO_SITE_DIR = EXAMPLES_DIR / "demo-site"
DEMO_SITE_VARIABLE = "demo_site"


class UsageError(Exception):
    """What was asked cannot be played; the message is a line (or a few) for the operator."""


def run_try(scenario: str, profile: str, *, headed: bool, trace: Path | None) -> int:
    """0 when the run succeeded, 1 when it failed, 2 when it could not start."""
    try:
        settings = load_settings(**({"headless": False} if headed else {}))
        # A try is there to be looked at: it is always traced, and a failed one keeps it.
        if settings.trace != "on":
            settings = settings.model_copy(update={"trace": "retain-on-failure"})
    except SettingsError as error:
        print(f"warmup-bot: {error}", file=sys.stderr)
        return 2
    os.umask(0o077)  # states, screenshots, traces and the database: owner-only, as for the bot
    console = TerminalConsole()
    # Warnings (an optional step that failed, say) show; INFO chatter does not, unless DEBUG.
    level = settings.log_level if settings.log_level in ("DEBUG", "ERROR") else "WARNING"
    configure_logging(level, handler=log_handler(console))
    try:
        return asyncio.run(_try(settings, console, scenario, profile, trace))
    except (UsageError, BrowserNotFound) as error:
        for line in str(error).splitlines():
            print(f"warmup-bot: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _try(
    settings: Settings, console: Console, scenario_name: str, profile_name: str, trace: Path | None
) -> int:
    async with AsyncExitStack() as stack:
        extra: dict[str, str] = {}
        if DEMO_SITE_DIR.is_dir():
            extra[DEMO_SITE_VARIABLE] = await stack.enter_async_context(serve_folder(DEMO_SITE_DIR))
        await open_storage(settings, stack)
        catalog = Catalog(settings.profiles_file, settings.scenarios_dir)
        report = await catalog.reload()
        if report.profiles_error:
            lines = report.profiles_error.splitlines()
            raise UsageError("\n".join(f"PROFILES_FILE: {line}" for line in lines))
        scenario, folder = _find_scenario(
            scenario_name,
            [
                (settings.scenarios_dir, catalog.scenarios),
                (EXAMPLES_DIR, load_scenarios(EXAMPLES_DIR)),
            ],
        )
        scenario = scenario.model_copy(
            update={"vars": MappingProxyType({**extra, **scenario.vars})}
        )
        profile, ad_hoc = _choose_profile(catalog, profile_name)

        events = EventBus()
        ledger = Ledger(events, player=process_owner("try"))
        display = TerminalDisplay(console, expected=expected_steps(scenario.steps))
        events.subscribe(display)
        try:
            runtime = await open_engine(settings, ledger, stack)
        except PlaywrightError as error:
            needs = "" if settings.headless else " (a headed browser needs a display)"
            reason = error.message.strip().splitlines()[0] if error.message.strip() else "?"
            raise UsageError(f"Chromium did not start{needs}: {reason}") from None
        stack.callback(display.close)
        stack.push_async_callback(runtime.engine.shutdown)
        tasks = TaskService(ledger, runtime.engine, catalog)

        if trace is not None:
            trace.parent.mkdir(parents=True, exist_ok=True)
        try:
            task = await tasks.start_command_line(profile, scenario, trace_path=trace)
        except TaskError as error:
            raise UsageError(str(error)) from None
        console.print(
            Text(
                f"scenario {scenario.name} (from {_shown(folder)}/) · profile {profile.name} · "
                f"task #{task.id}, recorded for the command line (chat {COMMAND_LINE_CHAT})"
            )
        )
        if ad_hoc:
            console.print(
                Text(
                    f"profile '{profile.name}' is not in {settings.profiles_file.name}: "
                    "playing it as an ad-hoc profile with no vars"
                )
            )
        if DEMO_SITE_VARIABLE in extra:
            console.print(Text(f"demo site: {extra[DEMO_SITE_VARIABLE]} (as {{demo_site}})"))
        try:
            await runtime.engine.finished(task.id)
        except asyncio.CancelledError:
            await tasks.cancel(task)
            raise

        run = await WarmupRun.get(task_id=task.id)
        # A failed try's trace is kept even without --trace (in DATA_DIR/artifacts).
        kept = Path(run.trace_path) if run.trace_path else trace
        _show_files(console, settings.states_dir / f"{profile.name}.json", kept)
        return 0 if run.status == RunStatus.succeeded else 1


def _show_files(console: Console, state: Path, trace: Path | None) -> None:
    if state.is_file():
        console.print(Text(f"storage state: {state}"))
    if trace is not None and trace.is_file():
        console.print(Text(f"trace: {trace} (to view it: playwright show-trace {trace})"))


def _find_scenario(
    name: str, sources: Sequence[tuple[Path, ScenarioCatalog]]
) -> tuple[Scenario, Path]:
    """The scenario from the first folder that has it, and that folder."""
    for folder, scenarios in sources:
        if name in scenarios.valid:
            return scenarios.valid[name], folder
        if name in scenarios.invalid:
            problems = "".join(f"\n  {line}" for line in scenarios.invalid[name].lines())
            raise UsageError(f"scenario '{shown(name)}' is invalid:{problems}")
    folders = " nor ".join(f"{_shown(folder)}/" for folder, _ in sources)
    available = sorted({known for _, scenarios in sources for known in scenarios.valid})
    raise UsageError(
        f"unknown scenario '{shown(name)}': not in {folders}; "
        f"available: {', '.join(available) or 'none'}"
    )


def _shown(folder: Path) -> Path:
    """The folder relative to the working directory when it is inside it."""
    try:
        return folder.resolve().relative_to(Path.cwd())
    except ValueError:
        return folder


def _choose_profile(catalog: Catalog, name: str) -> tuple[ProfileConfig, bool]:
    """The profile of the profiles file, or else an ad-hoc one (True) with that name."""
    if name in catalog.profiles:
        return catalog.profiles[name], False
    try:
        return ProfileConfig(name=name), True
    except ValidationError:
        raise UsageError(
            f"'{shown(name)}' cannot be a profile name: use letters, digits, _ and - "
            "(at most 32 characters)"
        ) from None
