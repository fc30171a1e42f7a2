"""The distributed mode below the chat: the bot's dispatch and two workers on a real
PostgreSQL and a real Redis, with a fake at the browser seam. Runs are split, played
once each, given to the other worker when one stops, and cancelled on both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.asyncio import Redis

from models import ProfileLease, RunStatus, TaskStatus, WarmupRun, WarmupTask
from models.database import open_database
from tests.servers import PostgresServer, RedisServer
from tests.test_engine import write_profiles
from warmup.attempt import AttemptFailure, AttemptPlan
from warmup.autoscale import AdjustableLimit
from warmup.catalog import Catalog
from warmup.dispatch import Dispatch
from warmup.engine import Engine, EngineConfig
from warmup.events import EventBus
from warmup.leases import LeaseKeeper
from warmup.ledger import Ledger
from warmup.run_queue import create_broker, send_run
from warmup.scenario import Step
from warmup.signals import Signals
from warmup.tasks import TaskService
from warmup.worker import Worker, live_workers

PROFILES = [f"p{index}" for index in range(10)]


@dataclass
class Playing:
    """A fake attempt: records who played what, holds until released, notices a cancel."""

    hold: asyncio.Event = field(default_factory=asyncio.Event)
    played: list[tuple[str, str, int]] = field(default_factory=list)
    """(worker, profile, attempt) of every attempt begun."""
    cancelled: list[tuple[str, str]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def attempt(self, worker: str) -> Callable[..., object]:
        async def play(plan: AttemptPlan, on_step: Callable[[Step], None]) -> AttemptFailure | None:
            self.played.append((worker, plan.profile.name, plan.attempt))
            await self._tell()
            try:
                on_step(plan.scenario.steps[0])
                await self.hold.wait()
            except asyncio.CancelledError:
                self.cancelled.append((worker, plan.profile.name))
                await asyncio.shield(self._tell())
                raise
            return None

        return play

    async def _tell(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def until(self, check: Callable[[], bool], timeout: float = 15) -> None:
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(check)


@dataclass
class Cluster:
    tasks: TaskService
    dispatch: Dispatch
    playing: Playing
    workers: dict[str, asyncio.Task[None]]
    engines: dict[str, Engine]
    start_worker: Callable[..., object]

    async def ended(self, task_id: int, timeout: float = 20) -> TaskStatus:
        async with asyncio.timeout(timeout):
            while True:
                status = (await WarmupTask.get(id=task_id)).status
                if status not in (TaskStatus.pending, TaskStatus.running):
                    return status
                await asyncio.sleep(0.05)


@pytest.fixture
async def redis_url(redis_server: RedisServer) -> str:
    redis = Redis.from_url(redis_server.url)
    await redis.flushall()
    await redis.aclose()
    return redis_server.url


@pytest.fixture
async def cluster(
    tmp_path: Path, postgres_server: PostgresServer, redis_url: str
) -> AsyncIterator[Callable[..., object]]:
    write_profiles(tmp_path, PROFILES)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(open_database(await postgres_server.create_database()))
        catalog = Catalog(tmp_path / "profiles.yaml", tmp_path / "scenarios")
        await catalog.reload()

        async def make(
            *, lease_ttl: float = 30, idle_timeout: float = 600, redis: str = redis_url
        ) -> Cluster:
            playing = Playing()
            ledger = Ledger(EventBus(), player="bot@test")
            broker = create_broker(redis, consumer="bot", idle_timeout=idle_timeout)
            await broker.startup()
            stack.push_async_callback(broker.shutdown)
            signals = Signals(redis)
            stack.push_async_callback(signals.close)
            dispatch = Dispatch(
                ledger,
                broker,
                signals,
                check_interval=0.2,
                idle_timeout=idle_timeout,
                alive_within=lease_ttl,
            )
            dispatch.start()
            stack.push_async_callback(dispatch.close)
            workers: dict[str, asyncio.Task[None]] = {}
            engines: dict[str, Engine] = {}

            async def start_worker(name: str, *, sessions: int = 2, renew: bool = True) -> None:
                worker_ledger = Ledger(EventBus(), player=name)
                worker_broker = create_broker(redis, consumer=name, idle_timeout=idle_timeout)
                worker_broker.is_worker_process = True
                await worker_broker.startup()
                stack.push_async_callback(worker_broker.shutdown)
                leases = LeaseKeeper(name, ttl=lease_ttl)
                slots = AdjustableLimit(sessions)
                config = EngineConfig(
                    run_timeout=60, max_attempts=2, artifacts_dir=tmp_path / name, retry_delay=0
                )
                engine = Engine(worker_ledger, leases, playing.attempt(name), config, slots)
                leases.on_lost = engine.lease_lost
                if renew:
                    leases.start()
                    stack.push_async_callback(leases.close)
                worker_signals = Signals(redis)
                worker_signals.on_cancel(engine.cancel_runs)
                stack.push_async_callback(worker_signals.close)
                worker = Worker(worker_broker, worker_ledger, engine, slots, beat_interval=0.2)
                workers[name] = asyncio.create_task(worker.run(), name=name)
                engines[name] = engine

                async def stop() -> None:
                    workers[name].cancel()
                    await asyncio.gather(workers[name], return_exceptions=True)

                stack.push_async_callback(stop)

            return Cluster(
                TaskService(ledger, dispatch, catalog),
                dispatch,
                playing,
                workers,
                engines,
                start_worker,
            )

        yield make


async def start(cluster: Cluster, target: str = "all") -> int:
    task = await cluster.tasks.start(chat_id=1, user_id=1, target=target, scenario=None)
    return task.id


async def statuses(task_id: int) -> list[RunStatus]:
    return await WarmupRun.filter(task_id=task_id).values_list("status", flat=True)


async def test_a_task_of_ten_profiles_is_split_between_two_workers_and_played_once_each(
    cluster: Callable[..., object],
) -> None:
    c: Cluster = await cluster()  # type: ignore[misc]
    await c.start_worker("w1")  # type: ignore[operator]
    await c.start_worker("w2")  # type: ignore[operator]
    task_id = await start(c)
    # Two sessions each: four play at once, the other six wait in the stream.
    await c.playing.until(lambda: len(c.playing.played) == 4)
    assert {worker for worker, _, _ in c.playing.played} == {"w1", "w2"}
    c.playing.hold.set()

    assert await c.ended(task_id) == TaskStatus.completed
    assert sorted(await statuses(task_id)) == [RunStatus.succeeded] * 10
    profiles = [profile for _, profile, _ in c.playing.played]
    assert sorted(profiles) == sorted(PROFILES), "each profile played exactly once"
    by_worker = {name: sum(1 for w, _, _ in c.playing.played if w == name) for name in ("w1", "w2")}
    assert all(count >= 2 for count in by_worker.values()), by_worker
    played_by = set(await WarmupRun.filter(task_id=task_id).values_list("played_by", flat=True))
    assert played_by == {"w1", "w2"}
    assert await ProfileLease.all().count() == 0
    assert {worker.name for worker in await live_workers(within=5)} == {"w1", "w2"}


async def test_a_run_sent_thrice_is_played_once(cluster: Callable[..., object]) -> None:
    c: Cluster = await cluster()  # type: ignore[misc]
    task_id = await start(c, "p0")
    run_id = (await WarmupRun.get(task_id=task_id)).id
    await send_run(c.dispatch._broker, run_id)
    await send_run(c.dispatch._broker, run_id)
    # One worker with room for all three messages: they reach the same process at once.
    await c.start_worker("w1", sessions=3)  # type: ignore[operator]
    await c.start_worker("w2")  # type: ignore[operator]
    await c.playing.until(lambda: len(c.playing.played) == 1)
    c.playing.hold.set()
    assert await c.ended(task_id) == TaskStatus.completed
    assert [profile for _, profile, _ in c.playing.played] == ["p0"]
    assert (await WarmupRun.get(id=run_id)).error is None


async def test_the_runs_of_a_stopped_worker_are_finished_by_the_other(
    cluster: Callable[..., object],
) -> None:
    c: Cluster = await cluster()  # type: ignore[misc]
    await c.start_worker("w1", sessions=3)  # type: ignore[operator]
    task_id = await start(c, "p0,p1,p2")
    await c.playing.until(lambda: len(c.playing.played) == 3)
    c.workers["w1"].cancel()  # stops mid-run: its runs stay running, their leases given back
    await asyncio.gather(c.workers["w1"], return_exceptions=True)
    await c.start_worker("w2", sessions=3)  # type: ignore[operator]
    await c.playing.until(lambda: sum(1 for w, _, _ in c.playing.played if w == "w2") == 3)
    c.playing.hold.set()

    assert await c.ended(task_id) == TaskStatus.completed
    assert sorted(await statuses(task_id)) == [RunStatus.succeeded] * 3
    replays = [(profile, attempt) for w, profile, attempt in c.playing.played if w == "w2"]
    assert sorted(replays) == [("p0", 1), ("p1", 1), ("p2", 1)], "the cut attempt is not counted"


async def test_a_stalled_worker_loses_its_run_to_the_other_and_its_writes_are_refused(
    cluster: Callable[..., object],
) -> None:
    c: Cluster = await cluster(lease_ttl=3)  # type: ignore[misc]
    await c.start_worker("w1", sessions=1, renew=False)  # type: ignore[operator]
    task_id = await start(c, "p0")
    await c.playing.until(lambda: len(c.playing.played) == 1)
    await c.start_worker("w2")  # type: ignore[operator]
    # w1 never renews: its lease expires, the bot gives the run to w2.
    await c.playing.until(lambda: any(w == "w2" for w, _, _ in c.playing.played), timeout=20)
    run = await WarmupRun.get(task_id=task_id)
    assert (run.status, run.played_by) == (RunStatus.running, "w2")
    c.playing.hold.set()  # both end their attempt; only w2's success is written
    assert await c.ended(task_id) == TaskStatus.completed
    run = await WarmupRun.get(task_id=task_id)
    assert (run.status, run.played_by, run.attempts) == (RunStatus.succeeded, "w2", 1)


async def test_a_cancel_stops_the_runs_on_both_workers_within_three_seconds(
    cluster: Callable[..., object],
) -> None:
    c: Cluster = await cluster()  # type: ignore[misc]
    await c.start_worker("w1")  # type: ignore[operator]
    await c.start_worker("w2")  # type: ignore[operator]
    task_id = await start(c, "p0,p1,p2,p3")
    await c.playing.until(lambda: len(c.playing.played) == 4)
    assert {w for w, _, _ in c.playing.played} == {"w1", "w2"}

    assert await c.tasks.cancel(await WarmupTask.get(id=task_id))
    await c.playing.until(lambda: len(c.playing.cancelled) == 4, timeout=3)
    assert {w for w, _ in c.playing.cancelled} == {"w1", "w2"}
    assert await c.ended(task_id) == TaskStatus.cancelled
    assert sorted(await statuses(task_id)) == [RunStatus.cancelled] * 4
    await no_lease_left()


async def take_and_die(redis_url: str) -> None:
    """A worker that reads one message and dies: it is never acknowledged."""
    ghost = create_broker(redis_url, consumer="ghost", idle_timeout=600)
    ghost.is_worker_process = True
    await ghost.startup()
    listener = ghost.listen()
    await anext(listener)
    await listener.aclose()  # type: ignore[attr-defined]
    await ghost.shutdown()


async def no_lease_left(timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if not await ProfileLease.all().count():
                return
            await asyncio.sleep(0.05)


async def test_a_message_a_dead_worker_held_is_delivered_to_another_after_the_idle_time(
    cluster: Callable[..., object], redis_url: str
) -> None:
    c: Cluster = await cluster(idle_timeout=1)  # type: ignore[misc]
    task_id = await start(c, "p0")
    await take_and_die(redis_url)

    await c.start_worker("w1")  # type: ignore[operator]
    await c.playing.until(lambda: len(c.playing.played) == 1, timeout=20)
    c.playing.hold.set()
    assert await c.ended(task_id) == TaskStatus.completed


async def test_a_message_a_dead_worker_held_before_it_claimed_the_run_goes_to_another(
    cluster: Callable[..., object], redis_url: str
) -> None:
    """The worker died between taking the message and claiming the run: the database shows
    nothing of it, and the message goes back once that worker has not been alive for the
    lease time, long before the idle time."""
    c: Cluster = await cluster(idle_timeout=600, lease_ttl=1)  # type: ignore[misc]
    task_id = await start(c, "p0")
    await take_and_die(redis_url)
    assert (await WarmupRun.get(task_id=task_id)).played_by is None

    await c.start_worker("w1")  # type: ignore[operator]
    await c.playing.until(lambda: len(c.playing.played) == 1, timeout=20)
    c.playing.hold.set()
    assert await c.ended(task_id) == TaskStatus.completed
    assert [(worker, profile) for worker, profile, _ in c.playing.played] == [("w1", "p0")]


@pytest.fixture
def restartable_redis() -> Iterator[RedisServer]:
    """A Redis of the test's own that keeps its stream over a restart. Asked for before
    `cluster`, it stops after the cluster's connections have closed."""
    server = RedisServer(persist=True)
    server.start()
    yield server
    server.stop()


async def test_a_worker_that_lost_the_broker_takes_runs_again_once_it_is_back(
    restartable_redis: RedisServer, cluster: Callable[..., object]
) -> None:
    c: Cluster = await cluster(redis=restartable_redis.url)  # type: ignore[misc]
    await c.start_worker("w1")  # type: ignore[operator]
    c.playing.hold.set()
    first = await start(c, "p0")
    assert await c.ended(first) == TaskStatus.completed

    await asyncio.to_thread(restartable_redis.restart)  # every connection of the worker is cut
    second = await start(c, "p1")
    assert await c.ended(second, timeout=30) == TaskStatus.completed
    assert [profile for _, profile, _ in c.playing.played] == ["p0", "p1"]


async def test_a_worker_that_lost_the_database_plays_the_next_run_once_it_is_back(
    cluster: Callable[..., object], postgres_server: PostgresServer
) -> None:
    c: Cluster = await cluster()  # type: ignore[misc]
    await c.start_worker("w1")  # type: ignore[operator]
    c.playing.hold.set()
    first = await start(c, "p0")
    assert await c.ended(first) == TaskStatus.completed

    await asyncio.to_thread(postgres_server.restart)  # every connection is cut
    second = await start(c, "p1")
    assert await c.ended(second, timeout=60) == TaskStatus.completed
    assert [profile for _, profile, _ in c.playing.played] == ["p0", "p1"]


async def test_a_run_claimed_by_a_worker_that_died_before_it_began_goes_to_another(
    cluster: Callable[..., object], redis_url: str
) -> None:
    c: Cluster = await cluster(idle_timeout=600)  # type: ignore[misc]
    task_id = await start(c, "p0")
    await take_and_die(redis_url)
    run = await WarmupRun.get(task_id=task_id).prefetch_related("task", "profile")
    ghost_ledger = Ledger(EventBus(), player="ghost@gone")
    queued = await ghost_ledger.queued_run(run.id)
    assert queued is not None and await ghost_ledger.claim_run(queued.ref)

    await c.start_worker("w1")  # type: ignore[operator]
    await c.playing.until(lambda: len(c.playing.played) == 1, timeout=10)
    c.playing.hold.set()
    assert await c.ended(task_id) == TaskStatus.completed
    assert (await WarmupRun.get(id=run.id)).played_by == "w1"
