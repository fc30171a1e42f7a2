"""The bot's side of the distributed mode: where the engine would play a task, `Dispatch`
marks it started and sends a message per run to the workers (`warmup.run_queue`).

It also keeps the work moving when a worker does not: every `check_interval` it gives
each run whose lease expired (its worker died, or stopped halfway) back to the queue
with a new message, puts back the messages a dead worker had taken, ends a task whose
runs have all ended (its last worker died between the run and the task), and, hourly,
deletes the screenshots and traces the workers shared once they are older than
ARTIFACTS_MAX_AGE_DAYS. The bot is the one process that does this, so nothing here races
with itself; the ledger's compare-and-sets refuse what a worker did first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from taskiq import AsyncBroker

from models import RunStatus, TaskStatus, WarmupRun, WarmupTask
from warmup.ledger import Ledger, TaskRef
from warmup.run_queue import return_stale, send_run
from warmup.scenario import Scenario
from warmup.shared_files import prune_shared_artifacts
from warmup.signals import Signals
from warmup.worker import live_workers

logger = logging.getLogger(__name__)

PRUNE_INTERVAL = 3600.0
"""Seconds between two prunings of the screenshots and traces workers shared."""


class Dispatch:
    def __init__(
        self,
        ledger: Ledger,
        broker: AsyncBroker,
        signals: Signals,
        *,
        check_interval: float,
        idle_timeout: float,
        alive_within: float,
        artifacts_max_age_days: float = 14,
    ) -> None:
        self._ledger = ledger
        self._broker = broker
        self._signals = signals
        self._check_interval = check_interval
        self._idle_timeout = idle_timeout
        """Seconds after which a message taken and not acknowledged is put back."""
        self._alive_within = alive_within
        """Seconds since its last heartbeat after which a worker counts as gone."""
        self._artifacts_max_age_days = artifacts_max_age_days
        self._pruned_at = -PRUNE_INTERVAL
        self._sending: set[asyncio.Task[None]] = set()
        self._checker: asyncio.Task[None] | None = None

    def submit(
        self, task_id: int, scenario: Scenario, *, trace_path: Path | None = None
    ) -> asyncio.Task[None]:
        """Start the task and send its runs, in the background. The workers read the
        scenario's text from the task's row; a trace path is for `python -m bot try`,
        which plays in its own process (workers keep traces as TRACE says)."""
        return self._send_task(task_id)

    def _send_task(self, task_id: int) -> asyncio.Task[None]:
        sending = asyncio.create_task(self._start(task_id), name=f"dispatch-task-{task_id}")
        self._sending.add(sending)
        sending.add_done_callback(self._sending.discard)
        return sending

    async def stop(self, task_id: int) -> None:
        """The ledger has cancelled the task: tell the workers to stop its runs."""
        await self._signals.cancel(task_id)

    async def take_up(self) -> None:
        """At the bot's start: start the tasks it had not started, and send again the runs
        of running tasks that wait (the bot may have stopped before it sent them all; a
        run sent twice is played once)."""
        for task_id in await WarmupTask.filter(status=TaskStatus.pending).values_list(
            "id", flat=True
        ):
            self._send_task(task_id)
        waiting = await WarmupRun.filter(
            status=RunStatus.queued, task__status=TaskStatus.running
        ).values_list("id", flat=True)
        for run_id in waiting:
            await send_run(self._broker, run_id)
        if waiting:
            logger.info("sent %d waiting runs again", len(waiting))

    def start(self) -> None:
        self._checker = asyncio.create_task(self._check_loop(), name="dispatch-check")

    async def close(self) -> None:
        tasks = [*self._sending, *([self._checker] if self._checker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def check(self) -> None:
        """Give abandoned runs and messages to other workers; end tasks with nothing
        left to play."""
        for queued in await self._ledger.requeue_abandoned(alive_within=self._alive_within):
            await send_run(self._broker, queued.ref.run_id)
        alive = {worker.name for worker in await live_workers(within=self._alive_within)}
        await return_stale(
            self._broker,
            idle_timeout=self._idle_timeout,
            alive=alive,
            alive_within=self._alive_within,
        )
        if time.monotonic() - self._pruned_at >= PRUNE_INTERVAL:
            self._pruned_at = time.monotonic()
            await prune_shared_artifacts(self._artifacts_max_age_days)
        running = await WarmupTask.filter(status=TaskStatus.running)
        if not running:
            return
        unfinished = set(
            await WarmupRun.filter(
                task_id__in=[task.id for task in running],
                status__in=[RunStatus.queued, RunStatus.running],
            ).values_list("task_id", flat=True)
        )
        for task in running:
            if task.id not in unfinished:
                await self._ledger.finish_task(TaskRef.of(task))

    async def _start(self, task_id: int) -> None:
        started = await self._ledger.start_task(task_id)
        if started is None:
            return
        task, runs = started
        for run in runs:
            await send_run(self._broker, run.ref.run_id)
        if not runs:
            await self._ledger.finish_task(task)

    async def _check_loop(self) -> None:
        while True:
            await asyncio.sleep(self._check_interval)
            try:
                await self.check()
            except Exception:
                logger.exception("the check of the workers' runs failed; trying again")
