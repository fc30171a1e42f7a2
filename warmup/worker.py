"""A worker's loop: it takes the runs the bot sends, as many at once as it has room for,
plays each with its own engine and browser, and says it is alive.

Not taskiq's `Receiver`: it admits a fixed number of tasks, and reads ahead of them,
while a worker here takes a message only when its session limit (MAX_CONCURRENCY, which
`auto` resizes) has room, so that a message waits in the stream for whichever worker
has room first. The taskiq broker still does the transport, the acknowledgements and
the worker's start-up and shut-down hooks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import timedelta

from redis.exceptions import RedisError
from taskiq import AsyncBroker

from models import RunStatus, WarmupRun, WarmupTask, WorkerBeat
from models.writes import retry_write
from warmup.attempt import AttemptFailure
from warmup.autoscale import AdjustableLimit
from warmup.clock import utcnow, wait_set
from warmup.engine import Engine
from warmup.ledger import Ledger, QueuedRun
from warmup.run_queue import RunMessage, read_message
from warmup.scenario import Scenario, ScenarioError, scenario_from_text

logger = logging.getLogger(__name__)

RECONNECT_DELAY = 2.0
"""Seconds between two tries to read the broker again after it was lost."""
ROOM_CHECK = 1.0
"""Seconds between two looks at the session limit while it is full (`auto` moves it)."""
SCENARIOS_KEPT = 64
"""Parsed scenarios kept, by task."""


class Worker:
    def __init__(
        self,
        broker: AsyncBroker,
        ledger: Ledger,
        engine: Engine,
        slots: AdjustableLimit,
        *,
        beat_interval: float,
    ) -> None:
        self._broker = broker
        self._ledger = ledger
        self._engine = engine
        self._slots = slots
        self._beat_interval = beat_interval
        self._started_at = utcnow()
        self._handling: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._scenarios: OrderedDict[int, Scenario | str] = OrderedDict()
        """task id → its scenario, or why its text could not be read."""
        self._beat: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self._ledger.player

    async def run(self) -> None:
        """Take and play messages until cancelled; then stop what plays (its runs stay
        `running` without a lease, for the bot to give to another worker)."""
        self._beat = asyncio.create_task(self._beat_loop(), name="worker-heartbeat")
        try:
            while True:
                try:
                    await self._take_messages()
                except (RedisError, OSError) as error:
                    # What it plays goes on; new runs wait until the broker is back.
                    logger.warning("lost the broker (%s); again in %g s", error, RECONNECT_DELAY)
                    await asyncio.sleep(RECONNECT_DELAY)
        finally:
            await self._close()

    async def _take_messages(self) -> None:
        listener = self._broker.listen()
        try:
            while True:
                while len(self._handling) >= self._slots.size:
                    self._room.clear()
                    await wait_set(self._room, ROOM_CHECK)
                delivered = await anext(listener)
                message = read_message(self._broker, delivered)  # type: ignore[arg-type]
                if message is None:
                    await delivered.ack()  # type: ignore[union-attr, misc]
                    continue
                handler = asyncio.create_task(self._handle(message), name=f"run-{message.run_id}")
                self._handling.add(handler)
                handler.add_done_callback(self._done)
        finally:
            await listener.aclose()  # type: ignore[attr-defined]

    def _done(self, handler: asyncio.Task[None]) -> None:
        self._handling.discard(handler)
        self._room.set()

    async def _close(self) -> None:
        tasks = [*self._handling, *([self._beat] if self._beat else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await WorkerBeat.filter(name=self.name).delete()
        except Exception:
            logger.warning("could not remove this worker's heartbeat", exc_info=True)

    async def _handle(self, message: RunMessage) -> None:
        """Play the run if it waits for a player, else drop it; acknowledge either way,
        once what became of it is in the database. A stop halfway acknowledges nothing."""
        try:
            # A read, retried as writes are: the database may be coming back.
            queued = await retry_write(
                lambda: self._ledger.queued_run(message.run_id), what=f"run {message.run_id}"
            )
            if queued is None:
                logger.info("run %d needs no player; message dropped", message.run_id)
            else:
                await self._play(queued)
        except Exception:
            logger.exception("run %d: unexpected error; its message stays", message.run_id)
            return
        try:
            await message.ack()
        except Exception as error:
            # Delivered again later, the message finds the run ended and is dropped.
            logger.warning("run %d: not acknowledged (%s)", message.run_id, error)

    async def _play(self, queued: QueuedRun) -> None:
        if not await self._ledger.claim_run(queued.ref):
            return  # another message of it came first, it began, or it was stopped
        scenario = await self._scenario(queued.ref.task.task_id)
        if isinstance(scenario, Scenario):
            await self._engine.play_run(queued, scenario)
            return
        attempt = queued.attempts + 1
        if await self._ledger.begin_attempt(queued.ref, attempt, first=True):
            failure = AttemptFailure(None, f"the task's scenario cannot be played: {scenario}")
            await self._ledger.fail_attempt(queued.ref, attempt, failure, final=True)
            await self._ledger.finish_task(queued.ref.task)

    async def _scenario(self, task_id: int) -> Scenario | str:
        known = self._scenarios.get(task_id)
        if known is not None:
            return known
        row = await WarmupTask.get(id=task_id).values("scenario", "scenario_text")
        found: Scenario | str
        if not row["scenario_text"]:
            found = "the task holds no scenario text (started by an older version)"
        else:
            try:
                found = scenario_from_text(
                    row["scenario_text"], source=row["scenario"], name=row["scenario"]
                )
            except ScenarioError as error:
                found = error.summary()
        self._scenarios[task_id] = found
        while len(self._scenarios) > SCENARIOS_KEPT:
            self._scenarios.popitem(last=False)
        return found

    async def beat(self) -> None:
        """Say this worker is alive, and stop any run of it that was cancelled while it
        did not hear the bot (the cancel on pub/sub is not kept)."""
        playing = self._engine.playing_runs()
        await WorkerBeat.update_or_create(
            name=self.name,
            defaults={
                "started_at": self._started_at,
                "seen_at": utcnow(),
                "sessions": len(playing),
                "capacity": self._slots.size,
            },
        )
        if not playing:
            return
        stopped = await WarmupRun.filter(
            id__in=list(playing), status__in=[RunStatus.cancelled, RunStatus.interrupted]
        ).values_list("id", flat=True)
        for task_id in {playing[run_id] for run_id in stopped}:
            self._engine.cancel_runs(task_id)

    async def _beat_loop(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception:
                logger.warning("no heartbeat; trying again", exc_info=True)
            await asyncio.sleep(self._beat_interval)


async def live_workers(within: float) -> list[WorkerBeat]:
    """The workers that said they were alive in the last `within` seconds."""
    since = utcnow() - timedelta(seconds=within)
    return await WorkerBeat.filter(seen_at__gte=since).order_by("name")
