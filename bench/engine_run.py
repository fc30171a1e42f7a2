"""Mode B, the engine without Telegram: the real database, ledger, lease keeper and
engine, the task started through `TaskService.start` and awaited with `Engine.finished`."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from contextlib import AsyncExitStack
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
from bench.probes import STATEMENTS, LoopLag, TreeSampler
from bench.results import ModeRun
from bench.site_process import SiteProcess
from bot.runtime import open_engine, open_storage
from models import RunStatus
from tests.conftest import CHAT_ID
from warmup.autoscale import AdjustableLimit
from warmup.catalog import Catalog
from warmup.engine import Engine
from warmup.events import Event, EventBus, RunFailed
from warmup.leases import bot_owner
from warmup.ledger import Ledger
from warmup.tasks import TaskService

logger = logging.getLogger(__name__)

SESSIONS_PERIOD = 0.05


async def run_engine(fleet: Fleet, number: int, **overrides: Any) -> ModeRun:
    """Mode B's play of the fleet; `overrides` are settings other than the defaults (a
    TRACE mode, a MAX_CONCURRENCY the sweep tries)."""
    result = ModeRun("B", number, runs=fleet.profiles)
    site = SiteProcess()
    await site.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-b-") as folder:
            root = Path(folder)
            write_fleet(root, site, fleet)
            async with asyncio.timeout(fleet.time_bound() + TEARDOWN_BOUND):
                await _play(root, fleet, result, overrides)
    finally:
        await site.stop()
    return result


async def _play(root: Path, fleet: Fleet, result: ModeRun, overrides: dict[str, Any]) -> None:
    settings = fleet_settings(root, fleet, **overrides)
    async with AsyncExitStack() as stack:
        await open_storage(settings, stack)
        catalog = Catalog(settings.profiles_file, settings.scenarios_dir)
        await catalog.reload()
        events = EventBus()
        events.subscribe(lambda event: _count_retries(event, result))
        ledger = Ledger(events, player=bot_owner())
        runtime = await open_engine(settings, ledger, stack)
        stack.push_async_callback(runtime.engine.shutdown)
        tasks = TaskService(ledger, runtime.engine, catalog)

        lag, tree = LoopLag(), TreeSampler()
        await tree.start()
        lag.start()
        sessions = asyncio.create_task(watch_sessions(runtime.slots, result.measures))
        try:
            with STATEMENTS.count():
                started = time.monotonic()
                task = await tasks.start(
                    chat_id=CHAT_ID, user_id=None, target="all", scenario=fleet.scenario
                )
                finished = await _finished(runtime.engine, task.id, fleet.time_bound())
                result.wall_s = time.monotonic() - started if finished else None
                result.measures["db"] = STATEMENTS.summary(fleet.profiles)
        finally:
            sessions.cancel()
            await asyncio.gather(sessions, return_exceptions=True)
            result.measures["loop_lag"] = await lag.stop()
            result.measures["lag_samples_ms"] = lag.samples_ms
            peak = result.measures.get("sessions_peak") or fleet.sessions_at_once
            result.measures["tree"] = await tree.stop(peak)
        counts = await runs_by_status(task.id)
        result.measures["failures"] = await failure_reasons(task.id)
        result.measures["runs_by_status"] = counts
        result.failed_runs = counts.get(RunStatus.failed.value, 0)
        if not finished:
            result.error = not_finished(fleet.time_bound(), counts)


async def watch_sessions(slots: AdjustableLimit, measures: dict[str, Any]) -> None:
    """The most sessions played at once, and the limit's size (which `auto` moves)."""
    while True:
        measures["sessions_peak"] = max(measures.get("sessions_peak", 0), slots.in_use)
        measures["sessions_limit_peak"] = max(measures.get("sessions_limit_peak", 0), slots.size)
        measures["sessions_limit_last"] = slots.size
        await asyncio.sleep(SESSIONS_PERIOD)


async def _finished(engine: Engine, task_id: int, bound: float) -> bool:
    """Until the engine has played the task; False when it has not within `bound`."""
    try:
        async with asyncio.timeout(bound):
            await engine.finished(task_id)
    except TimeoutError:
        return False
    return True


def _count_retries(event: Event, result: ModeRun) -> None:
    if isinstance(event, RunFailed) and not event.final:
        result.retries += 1
