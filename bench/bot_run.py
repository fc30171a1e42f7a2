"""Mode C, the whole bot: `Application` on the test suite's fake Bot API server with
Telegram's flood limits enforced and the bot's default pacing, driven as the end-to-end
tests drive it: `/warmup all <scenario>` from a chat, done when the progress message
shows the end. Meanwhile the operator asks `/status` every second (`status_period`) in
a private chat of their own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.config import (
    TEARDOWN_BOUND,
    failure_reasons,
    fleet_settings,
    not_finished,
    runs_by_status,
    write_fleet,
)
from bench.fleets import Fleet
from bench.probes import STATEMENTS, LoopLag, TreeSampler, percentile
from bench.results import ModeRun
from bench.site_process import SiteProcess
from bot.app import Application
from models import OutboxMessage, RunStatus, WarmupTask
from tests.chat_client import BotMessage, ChatClient
from tests.conftest import ADMIN_ID, CHAT_ID
from tests.fake_telegram import FakeTelegram
from warmup.events import Event, RunFailed, TaskFinished

logger = logging.getLogger(__name__)

FINAL_HEADLINES = ("Completed", "Failed", "Cancelled")
STATUS_REPLIES = ("Running", "Nothing is running")
STATUS_PERIOD = 1.0
STATUS_PATIENCE = 30.0
START_TIMEOUT = 60.0
SETTLE_TIMEOUT = 15.0


class StatusProbe:
    """The chat sends `/status` a second after the last reply came and times each reply,
    from the send to its arrival in the fake. Asking a second after the last question
    instead would time the chat's pace: Telegram takes one message a second in a chat, so
    the bot sends a reply no sooner than a second after the last one was answered."""

    def __init__(self, chat: ChatClient, period: float = STATUS_PERIOD) -> None:
        self._chat = chat
        self._period = period
        self.replies: list[float] = []
        self.unanswered = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._ask(), name="bench-status")

    async def _ask(self) -> None:
        while not self._stopping.is_set():
            sent = time.monotonic()
            message_id = await self._chat.send("/status")
            try:
                await self._chat.wait_for_message(
                    lambda m: m.text.startswith(STATUS_REPLIES),
                    timeout=STATUS_PATIENCE,
                    after=message_id,
                )
                self.replies.append(time.monotonic() - sent)
            except AssertionError:
                self.unanswered += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._period)

    async def stop(self) -> dict[str, float]:
        """Ask no more, and wait for the answer to the last question: a reply still on its
        way when the bot stops would outlive it (see the report)."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, STATUS_PATIENCE + 5)
            except TimeoutError:
                logger.warning("C: the last /status was not answered")
        ms = [reply * 1000 for reply in self.replies]
        return {
            "answered": len(ms),
            "unanswered": self.unanswered,
            "p50_ms": percentile(ms, 0.5),
            "p95_ms": percentile(ms, 0.95),
        }


async def run_bot(fleet: Fleet, number: int, status_period: float = STATUS_PERIOD) -> ModeRun:
    result = ModeRun("C", number, runs=fleet.profiles)
    site = SiteProcess()
    await site.start()
    try:
        async with FakeTelegram() as fake:
            fake.enforce_flood_limits()
            with tempfile.TemporaryDirectory(prefix="bench-c-") as folder:
                root = Path(folder)
                write_fleet(root, site, fleet)
                settings = fleet_settings(
                    root, fleet, bot_token=fake.token, telegram_api_url=fake.api_url
                )
                app = Application(settings, handle_signals=False)
                runner = asyncio.create_task(app.run(), name="bench-bot")
                try:
                    await started_app(app, runner)
                    async with asyncio.timeout(fleet.time_bound() + TEARDOWN_BOUND):
                        await play_from_chat(app, fake, fleet, result, status_period)
                finally:
                    await stop_app(app, runner)
    finally:
        await site.stop()
    return result


async def started_app(app: Application, runner: asyncio.Task[None]) -> None:
    ready = asyncio.create_task(app.ready.wait())
    await asyncio.wait({runner, ready}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    if runner.done():
        ready.cancel()
        runner.result()
    if not app.ready.is_set():
        ready.cancel()
        raise RuntimeError(f"the bot did not start within {START_TIMEOUT:g} s")


async def stop_app(app: Application, runner: asyncio.Task[None]) -> None:
    if not runner.done():
        await app.stop()
    try:
        await asyncio.wait_for(runner, timeout=60)
    except Exception:
        logger.exception("C: the bot did not stop cleanly")


async def play_from_chat(
    app: Application, fake: FakeTelegram, fleet: Fleet, result: ModeRun, status_period: float
) -> None:
    assert app.database is not None
    finished: dict[int, float] = {}
    app.events.subscribe(lambda event: _on_event(event, finished, result))
    chat = ChatClient(fake, chat_id=CHAT_ID, user_id=ADMIN_ID)
    # /status is asked in the operator's private chat, not the one the progress message is
    # in: there Telegram's one message a second makes a reply wait behind an edit, which
    # would hide what the probe is for, the bot's own share of a CPU full of Chromium.
    private = ChatClient(fake, chat_id=ADMIN_ID, user_id=ADMIN_ID)
    lag, tree, status = LoopLag(), TreeSampler(), StatusProbe(private, status_period)
    await tree.start()
    lag.start()
    try:
        with STATEMENTS.count():
            started = time.monotonic()
            await chat.send(f"/warmup all {fleet.scenario}")
            progress = await chat.wait_for_reply(timeout=START_TIMEOUT)
            status.start()
            shown = await _shown(chat, progress, fleet.time_bound())
            result.measures["status"] = await status.stop()
            task_id = await _task_of(app)
            if shown is not None:
                result.wall_s = finished[task_id] - started
                result.measures["chat_s"] = shown - started
                result.measures["final_after_end_s"] = shown - finished[task_id]
                await _settled(app, task_id)
            result.measures["db"] = STATEMENTS.summary(fleet.profiles)
    finally:
        await status.stop()
        result.measures["status_replies_ms"] = [reply * 1000 for reply in status.replies]
        result.measures["loop_lag"] = await lag.stop()
        result.measures["lag_samples_ms"] = lag.samples_ms
        result.measures["tree"] = await tree.stop(fleet.sessions_at_once)
    result.measures["telegram"] = telegram_numbers(
        fake, started, len(status.replies), app.settings.progress_interval
    )
    with app.database:
        counts = await runs_by_status(task_id)
        result.measures["failures"] = await failure_reasons(task_id)
    result.measures["runs_by_status"] = counts
    result.failed_runs = counts.get(RunStatus.failed.value, 0)
    if shown is None:
        result.error = not_finished(fleet.time_bound(), counts)


async def _shown(chat: ChatClient, progress: BotMessage, bound: float) -> float | None:
    """When the progress message showed the end; None when it did not within `bound`."""
    try:
        await chat.wait_until(progress, _shows_end, timeout=bound)
    except AssertionError:  # the fake's time-out, with a dump of every chat
        return None
    return time.monotonic()


async def _task_of(app: Application) -> int:
    """The task the command started (the only one in this fresh database)."""
    assert app.database is not None
    with app.database:
        task = await WarmupTask.all().order_by("-id").first()
    if task is None:
        raise RuntimeError("/warmup started no task")
    return task.id


def _on_event(event: Event, finished: dict[int, float], result: ModeRun) -> None:
    if isinstance(event, TaskFinished):
        finished.setdefault(event.task_id, time.monotonic())
    elif isinstance(event, RunFailed) and not event.final:
        result.retries += 1


def _shows_end(message: BotMessage) -> bool:
    """The headline (second line) of a progress message says the task has ended."""
    lines = message.text.splitlines()
    return len(lines) > 1 and lines[1].startswith(FINAL_HEADLINES)


async def _settled(app: Application, task_id: int) -> None:
    """Until the bot has written down that the message is final and sent every notice,
    so that the database writes of the whole task are counted."""
    assert app.database is not None
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SETTLE_TIMEOUT):
            while True:
                with app.database:
                    final = await WarmupTask.filter(id=task_id, progress_final=True).exists()
                    waiting = await OutboxMessage.all().count()
                if final and not waiting:
                    return
                await asyncio.sleep(0.05)
    logger.warning("C: task %d not settled within %g s", task_id, SETTLE_TIMEOUT)


def telegram_numbers(
    fake: FakeTelegram, since: float, status_replies: int, interval: float
) -> dict[str, Any]:
    """The bot's calls from the command on: by method (polling left out), the most calls
    to the chat in any 1 s and 60 s, the most progress edits in any `interval` while the
    task ran (the final edit left out: it goes at once), and the flood refusals."""
    calls = [call for call in fake.calls if call.time >= since]
    methods = Counter(call.method for call in calls if call.method.lower() != "getupdates")
    return {
        "calls_by_method": dict(sorted(methods.items())),
        "status_replies": status_replies,
        "max_calls_1s": fake.max_calls_in_window(1.0, chat_id=CHAT_ID),
        "max_calls_60s": fake.max_calls_in_window(60.0, chat_id=CHAT_ID),
        "most_edits_in_an_interval_before_the_last": most_in_window(
            sorted(
                call.time
                for call in calls
                if call.ok
                and call.method == "editMessageText"
                and call.params.get("chat_id") == CHAT_ID
            )[:-1],
            interval,
        ),
        "refused_429": fake.flood_refusals,
        "errors": sum(1 for call in calls if not call.ok and call.error_code != 429),
    }


def most_in_window(times: list[float], seconds: float) -> int:
    """The most of these sorted times within any `seconds`."""
    most, first = 0, 0
    for last, arrived in enumerate(times):
        while arrived - times[first] >= seconds:
            first += 1
        most = max(most, last - first + 1)
    return most
