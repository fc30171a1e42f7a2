"""The orchestrator below the chat, with a fake at the browser seam: slots, leases,
retries, cancels and stops, checked in the ledger's tables."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from models import Profile, ProfileLease, RunStatus, TaskStatus, WarmupRun, WarmupTask
from models.database import open_database
from warmup.attempt import AttemptFailure, AttemptPlan
from warmup.autoscale import AdjustableLimit
from warmup.catalog import Catalog
from warmup.engine import Engine, EngineConfig
from warmup.events import Event, EventBus, TaskFinished
from warmup.leases import LeaseKeeper
from warmup.ledger import Ledger
from warmup.scenario import Step
from warmup.tasks import TaskError, TaskService


@dataclass
class FakeAttempt:
    """Plays nothing: each attempt waits until the test lets it end, or fails as told."""

    failures: dict[str, list[str]] = field(default_factory=dict)
    """profile → the errors of its next attempts (then it succeeds)."""
    hold: asyncio.Event = field(default_factory=asyncio.Event)
    playing: set[str] = field(default_factory=set)
    played: list[tuple[str, int]] = field(default_factory=list)
    most_at_once: int = 0
    overlaps: list[str] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def until_playing(self, count: int) -> None:
        async with asyncio.timeout(10), self.changed:
            await self.changed.wait_for(lambda: len(self.playing) == count)

    async def _tell(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def __call__(
        self, plan: AttemptPlan, on_step: Callable[[Step], None]
    ) -> AttemptFailure | None:
        name = plan.profile.name
        if name in self.playing:
            self.overlaps.append(name)
        self.playing.add(name)
        self.played.append((name, plan.attempt))
        self.most_at_once = max(self.most_at_once, len(self.playing))
        self.started.set()
        await self._tell()
        try:
            on_step(plan.scenario.steps[0])
            await self.hold.wait()
        finally:
            self.playing.discard(name)
        errors = self.failures.get(name)
        if errors:
            return AttemptFailure("steps[0] (goto)", errors.pop(0))
        return None


@dataclass
class World:
    engine: Engine
    leases: LeaseKeeper
    tasks: TaskService
    catalog: Catalog
    attempt: FakeAttempt
    finished: list[TaskFinished]

    async def start(self, target: str) -> WarmupTask:
        return await self.tasks.start(chat_id=1, user_id=1, target=target, scenario=None)

    async def ended(self, task: WarmupTask, timeout: float = 10) -> TaskStatus:
        await asyncio.wait_for(self.engine.finished(task.id), timeout)
        return (await WarmupTask.get(id=task.id)).status


def write_profiles(root: Path, names: list[str]) -> None:
    lines = ["profiles:"] + [f"  - name: {name}" for name in names]
    (root / "profiles.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    scenarios = root / "scenarios"
    scenarios.mkdir(exist_ok=True)
    (scenarios / "smoke.yaml").write_text(
        'steps:\n  - goto: "http://127.0.0.1/{profile}"\n', encoding="utf-8"
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[Callable[..., World]]:
    write_profiles(tmp_path, ["alice", "bob", "carol", "dave"])
    engines: list[Engine] = []
    async with open_database(f"sqlite://{tmp_path}/engine.sqlite3"):
        catalog = Catalog(tmp_path / "profiles.yaml", tmp_path / "scenarios")
        await catalog.reload()

        def make(*, max_concurrency: int = 2, max_attempts: int = 1) -> World:
            finished: list[TaskFinished] = []
            events = EventBus()

            def record(event: Event) -> None:
                if isinstance(event, TaskFinished):
                    finished.append(event)

            events.subscribe(record)
            ledger = Ledger(events, player="test@host")
            attempt = FakeAttempt()
            config = EngineConfig(
                run_timeout=60,
                max_attempts=max_attempts,
                artifacts_dir=tmp_path / "artifacts",
                retry_delay=0.01,
            )
            leases = LeaseKeeper(ledger.player, ttl=30)
            engine = Engine(ledger, leases, attempt, config, AdjustableLimit(max_concurrency))
            leases.on_lost = engine.lease_lost
            engines.append(engine)
            tasks = TaskService(ledger, engine, catalog)
            return World(engine, leases, tasks, catalog, attempt, finished)

        yield make
        for engine in engines:
            await engine.shutdown()


async def run_statuses(task: WarmupTask) -> list[RunStatus]:
    return await WarmupRun.filter(task_id=task.id).order_by("id").values_list("status", flat=True)


async def test_runs_play_at_most_max_concurrency_at_once_and_complete(
    world: Callable[..., World],
) -> None:
    w = world(max_concurrency=2)
    task = await w.start("all")
    await w.attempt.until_playing(2)
    queued = await WarmupRun.filter(task_id=task.id, status=RunStatus.queued).count()
    assert queued == 2, "the other two wait for a slot"
    w.attempt.hold.set()
    assert await w.ended(task) == TaskStatus.completed
    assert await run_statuses(task) == [RunStatus.succeeded] * 4
    assert w.attempt.most_at_once == 2
    assert await ProfileLease.all().count() == 0, "every lease given back"


async def test_a_failed_attempt_is_retried_and_the_run_succeeds_on_the_next(
    world: Callable[..., World],
) -> None:
    w = world(max_attempts=2)
    w.attempt.failures["alice"] = ["HTTP 500"]
    w.attempt.hold.set()
    task = await w.start("alice")
    assert await w.ended(task) == TaskStatus.completed
    run = await WarmupRun.get(task_id=task.id)
    assert (run.status, run.attempts, run.error) == (RunStatus.succeeded, 2, None)
    assert w.attempt.played == [("alice", 1), ("alice", 2)]


async def test_a_task_where_every_run_failed_is_failed(world: Callable[..., World]) -> None:
    w = world(max_attempts=1)
    w.attempt.failures.update(alice=["boom"], bob=["boom"])
    w.attempt.hold.set()
    task = await w.start("alice,bob")
    assert await w.ended(task) == TaskStatus.failed
    assert await run_statuses(task) == [RunStatus.failed] * 2


async def test_one_profile_in_two_tasks_never_plays_twice_at_once(
    world: Callable[..., World],
) -> None:
    w = world(max_concurrency=4)
    first = await w.start("alice")
    second = await w.start("alice,bob")
    await w.attempt.started.wait()
    w.attempt.hold.set()
    assert await w.ended(first) == TaskStatus.completed
    assert await w.ended(second) == TaskStatus.completed
    assert w.attempt.overlaps == []
    assert [name for name, _ in w.attempt.played].count("alice") == 2


async def test_a_cancel_at_once_after_the_start_stops_everything_and_tells_it(
    world: Callable[..., World],
) -> None:
    w = world()
    task = await w.start("alice,bob")
    assert await w.tasks.cancel(task)  # before the engine's task has run a single line
    assert await w.ended(task) == TaskStatus.cancelled
    assert await run_statuses(task) == [RunStatus.cancelled] * 2
    assert w.attempt.played == []
    assert [event.status for event in w.finished] == [TaskStatus.cancelled]


async def test_a_cancel_while_playing_stops_the_runs_and_a_second_cancel_is_refused(
    world: Callable[..., World],
) -> None:
    w = world()
    task = await w.start("alice")
    await w.attempt.started.wait()
    assert await w.tasks.cancel(task)
    assert w.attempt.playing == set(), "stopped before cancel returned"
    assert await run_statuses(task) == [RunStatus.cancelled]
    assert await w.tasks.cancel(await WarmupTask.get(id=task.id)) is False


async def test_a_stop_interrupts_what_plays_and_resume_plays_only_that(
    world: Callable[..., World],
) -> None:
    w = world(max_concurrency=1)
    task = await w.start("alice,bob")
    await w.attempt.started.wait()
    await w.engine.shutdown()
    assert (await WarmupTask.get(id=task.id)).status == TaskStatus.interrupted
    assert await run_statuses(task) == [RunStatus.interrupted] * 2

    again = world(max_concurrency=1)
    again.attempt.hold.set()
    resumed = await WarmupTask.get(id=task.id)
    assert await again.tasks.resume(resumed) == 2
    assert await again.ended(task) == TaskStatus.completed
    assert sorted(name for name, _ in again.attempt.played) == ["alice", "bob"]


async def test_a_run_whose_lease_another_process_took_over_is_failed_and_stopped(
    world: Callable[..., World],
) -> None:
    w = world()
    task = await w.start("alice")
    await w.attempt.started.wait()
    run = await WarmupRun.get(task_id=task.id)
    alice = await Profile.get(name="alice")
    await ProfileLease.filter(profile_id=alice.id).update(owner="try@elsewhere:7")
    await w.leases.renew()
    assert await w.ended(task) == TaskStatus.failed
    run = await WarmupRun.get(id=run.id)
    assert run.status == RunStatus.failed
    assert run.error == "another process took this profile's lease over"


async def test_a_cancel_with_a_copy_read_before_the_task_completed_is_refused(
    world: Callable[..., World],
) -> None:
    w = world()
    task = await w.start("alice")
    read_while_running = await WarmupTask.get(id=task.id)
    w.attempt.hold.set()
    assert await w.ended(task) == TaskStatus.completed
    assert read_while_running.status != TaskStatus.completed
    assert await w.tasks.cancel(read_while_running) is False
    assert (await WarmupTask.get(id=task.id)).status == TaskStatus.completed
    assert [event.status for event in w.finished] == [TaskStatus.completed]


async def test_resume_refuses_a_task_whose_profile_left_the_profiles_file(
    world: Callable[..., World], tmp_path: Path
) -> None:
    w = world(max_concurrency=1)
    task = await w.start("alice,bob")
    await w.attempt.started.wait()
    await w.engine.shutdown()

    write_profiles(tmp_path, ["alice"])
    again = world()
    await again.catalog.reload()
    with pytest.raises(TaskError, match="no longer in the profiles file: bob"):
        await again.tasks.resume(await WarmupTask.get(id=task.id))
    assert (await WarmupTask.get(id=task.id)).status == TaskStatus.interrupted
    assert again.attempt.played == []
