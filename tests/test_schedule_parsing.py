"""/schedule arguments, next-run times with windows and jitter, and the scheduler's passes,
all on an injected clock."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from handlers.arguments import ArgumentError
from handlers.schedule_arguments import ScheduleArgs, parse_schedule_args
from models import Schedule, WarmupTask
from models.database import open_database
from warmup.scheduler import Scheduler
from warmup.targets import TargetError
from warmup.timing import (
    Timing,
    TimingError,
    Window,
    next_occurrence,
    next_run,
    parse_jitter,
    parse_window,
)

NINE_TO_NINE = Window(time(9), time(21))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "tag:eu browse */30 * * * * between 09:00-21:00 jitter 5m",
            ScheduleArgs("tag:eu", "browse", Timing("*/30 * * * *", NINE_TO_NINE, 300)),
        ),
        ("alice smoke 0 9 * * 1-5", ScheduleArgs("alice", "smoke", Timing("0 9 * * 1-5"))),
        (
            "alice, bob smoke  0   9 * * *  JITTER 30s  between 9:00 - 21:00",
            ScheduleArgs("alice,bob", "smoke", Timing("0 9 * * *", NINE_TO_NINE, 30)),
        ),
        (
            "all smoke 5,10 * * * * between 22:00-06:00",
            ScheduleArgs("all", "smoke", Timing("5,10 * * * *", Window(time(22), time(6)))),
        ),
        ("all smoke * * * * * jitter 0m", ScheduleArgs("all", "smoke", Timing("* * * * *"))),
    ],
)
def test_schedule_arguments(text: str, expected: ScheduleArgs) -> None:
    assert parse_schedule_args(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "give a target, a scenario and a cron expression"),
        ("", "give a target, a scenario and a cron expression"),
        ("alice", "name a scenario and give a cron expression"),
        ("alice smoke", "give a cron expression after the scenario: 5 fields"),
        ("alice smoke between 09:00-21:00", "give a cron expression after the scenario"),
        ("alice smo/ke * * * * *", "unknown scenario 'smo/ke'"),
        ("a" * 600 + " smoke * * * * *", "the target is too long"),
        ("alice smoke * * * *", "a cron expression has 5 fields.*'\\* \\* \\* \\*' has 4"),
        ("alice smoke * * * * * *", "has 6"),
        (
            "alice smoke 61 * * * *",
            "'61 \\* \\* \\* \\*' is not a valid cron expression: its minute",
        ),
        ("alice smoke * 24 * * *", "its hour field '24' is not valid \\(0-23\\)"),
        ("alice smoke */0 * * * *", "its minute field '\\*/0' is not valid"),
        ("alice smoke a b c d e", "its minute field 'a' is not valid"),
        ("alice smoke H * * * *", "not a valid cron expression"),
        ("alice smoke * * 0 * *", "its day field '0' is not valid \\(1-31\\)"),
        ("alice smoke * * * 13 *", "its month field '13' is not valid \\(1-12 or jan-dec\\)"),
        ("alice smoke * * * * 8", "its weekday field '8' is not valid \\(0-7 or sun-sat"),
        ("alice smoke 0 0 31 2 *", "never happens"),
        ("alice smoke " + "1," * 60 + "2 * * * *", "too long"),
        ("alice smoke * * * * * between", "'between' needs a value"),
        ("alice smoke * * * * * between 25:00-26:00", "25:00 is not a time of day"),
        ("alice smoke * * * * * between 09:60-10:00", "09:60 is not a time of day"),
        ("alice smoke * * * * * between 09:00", "not a window: write HH:MM-HH:MM"),
        ("alice smoke * * * * * between nine-ten", "'nine' is not a time"),
        ("alice smoke * * * * * between 09:00-09:00", "is empty"),
        ("alice smoke * * * * * between 09:00-21:00 between 10:00-11:00", "given twice"),
        ("alice smoke * * * * * jitter", "'jitter' needs a value, like jitter 5m"),
        ("alice smoke * * * * * jitter 5", "'5' is not a jitter"),
        ("alice smoke * * * * * jitter 5h", "'5h' is not a jitter"),
        ("alice smoke * * * * * jitter -5m", "not a jitter"),
        ("alice smoke * * * * * jitter 5m extra", "'5mextra' is not a jitter"),
        ("alice smoke * * * * * jitter 1441m", "at most 1440m"),
    ],
)
def test_bad_schedule_arguments(text: str | None, reason: str) -> None:
    with pytest.raises(ArgumentError, match=reason):
        parse_schedule_args(text)


def test_windows_and_jitters() -> None:
    assert parse_window("9:05-21:30") == Window(time(9, 5), time(21, 30))
    night = parse_window("22:00-06:00")
    assert night.contains(at("2024-05-01 23:00")) and night.contains(at("2024-05-02 05:59"))
    assert not night.contains(at("2024-05-01 06:00")) and not night.contains(at("2024-05-01 12:00"))
    assert NINE_TO_NINE.contains(at("2024-05-01 09:00"))
    assert not NINE_TO_NINE.contains(at("2024-05-01 21:00")), "the end is not inside"
    assert parse_jitter("5m") == 300 and parse_jitter("45S") == 45
    with pytest.raises(TimingError):
        parse_window("21:00-24:00")


@pytest.mark.parametrize(
    ("cron", "window", "after", "expected"),
    [
        ("*/30 * * * *", None, "2024-05-01 10:10", "2024-05-01 10:30"),
        ("*/30 * * * *", None, "2024-05-01 10:30", "2024-05-01 11:00"),
        ("*/30 * * * *", NINE_TO_NINE, "2024-05-01 10:10", "2024-05-01 10:30"),
        ("*/30 * * * *", NINE_TO_NINE, "2024-05-01 20:45", "2024-05-02 09:00"),
        ("*/30 * * * *", NINE_TO_NINE, "2024-05-01 03:00", "2024-05-01 09:00"),
        ("0 * * * *", Window(time(9, 30), time(21)), "2024-05-01 08:00", "2024-05-01 10:00"),
        ("0 * * * *", Window(time(22), time(2)), "2024-05-01 02:30", "2024-05-01 22:00"),
        ("0 * * * *", Window(time(22), time(2)), "2024-05-01 23:00", "2024-05-02 00:00"),
        ("0 9 * * 1", NINE_TO_NINE, "2024-05-01 10:00", "2024-05-06 09:00"),
        ("0 3 * * *", NINE_TO_NINE, "2024-05-01 10:00", None),
    ],
)
def test_next_occurrence_is_the_next_cron_time_inside_the_window(
    cron: str, window: Window | None, after: str, expected: str | None
) -> None:
    found = next_occurrence(cron, window, at(after))
    assert found == (at(expected) if expected else None)


def test_jitter_delays_by_up_to_its_length_and_never_past_the_window() -> None:
    rng = random.Random(4)
    timing = Timing("*/30 * * * *", None, 300)
    starts = [next_run(timing, at("2024-05-01 10:10"), rng) for _ in range(300)]
    delays = {(start - at("2024-05-01 10:30")).total_seconds() for start in starts if start}
    assert min(delays) >= 0 and max(delays) <= 300 and len(delays) > 100

    late = Timing("50 20 * * *", NINE_TO_NINE, 3600)
    for _ in range(200):
        start = next_run(late, at("2024-05-01 10:00"), rng)
        assert start is not None and at("2024-05-01 20:50") <= start < at("2024-05-01 21:00")

    assert next_run(Timing("0 3 * * *", NINE_TO_NINE), at("2024-05-01 10:00"), rng) is None


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.reads = 0
        """How often the scheduler looked at the time: each of its passes does."""

    def __call__(self) -> datetime:
        self.reads += 1
        return self.now


class FakeStarter:
    """Stands for TaskService: records what it is asked to start."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.error: Exception | None = None
        self.busy = False

    async def start_scheduled(self, schedule: Schedule) -> WarmupTask | None:
        if self.error is not None:
            raise self.error
        if self.busy:
            return None
        self.started.append(schedule.id)
        return WarmupTask(id=len(self.started), chat_id=schedule.chat_id)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[None]:
    async with open_database(f"sqlite://{tmp_path}/schedules.sqlite3"):
        yield


async def test_a_pass_starts_due_schedules_and_moves_them_to_their_next_time(
    database: None,
) -> None:
    clock = Clock(at("2024-05-01 10:00:30"))
    starter = FakeStarter()
    scheduler = Scheduler(starter, now=clock)
    timing = Timing("* * * * *", NINE_TO_NINE)
    schedule = await scheduler.create(
        chat_id=1, user_id=2, target="alice", scenario="smoke", timing=timing
    )
    assert schedule.next_run_at == at("2024-05-01 10:01")

    await scheduler.run_due()
    assert starter.started == []
    clock.now = at("2024-05-01 10:01:00.2")
    await scheduler.run_due()
    assert starter.started == [schedule.id]
    stored = await Schedule.get(id=schedule.id)
    assert stored.next_run_at == at("2024-05-01 10:02")
    assert stored.last_run_at == clock.now

    await scheduler.set_paused(stored, True)
    clock.now = at("2024-05-01 10:05")
    await scheduler.run_due()
    assert starter.started == [schedule.id], "a paused schedule does not run"
    await scheduler.set_paused(stored, False)
    assert (await Schedule.get(id=schedule.id)).next_run_at == at("2024-05-01 10:06")


async def test_a_time_missed_outside_the_window_is_skipped_and_inside_it_runs_once(
    database: None,
) -> None:
    clock = Clock(at("2024-05-01 20:58:10"))
    starter = FakeStarter()
    scheduler = Scheduler(starter, now=clock)
    schedule = await scheduler.create(
        chat_id=1, user_id=2, target="alice", scenario="smoke", timing=Timing("*/2 * * * *")
    )
    await Schedule.filter(id=schedule.id).update(window_start="09:00", window_end="21:00")

    clock.now = at("2024-05-01 23:00")  # the bot was down from 20:59 to 23:00
    await scheduler.run_due()
    assert starter.started == []
    assert (await Schedule.get(id=schedule.id)).next_run_at == at("2024-05-02 09:00")

    clock.now = at("2024-05-02 12:00")  # down again, back inside the window
    await scheduler.run_due()
    assert starter.started == [schedule.id], "missed times run once, not once each"
    assert (await Schedule.get(id=schedule.id)).next_run_at == at("2024-05-02 12:02")


async def test_errors_are_told_once_per_occurrence_and_busy_profiles_skip_it(
    database: None,
) -> None:
    clock = Clock(at("2024-05-01 10:00:00"))
    starter = FakeStarter()
    told: list[tuple[int, str]] = []

    async def tell(schedule: Schedule, reason: str) -> None:
        told.append((schedule.id, reason))

    scheduler = Scheduler(starter, tell, now=clock)
    schedule = await scheduler.create(
        chat_id=1, user_id=2, target="bob", scenario="smoke", timing=Timing("* * * * *")
    )
    starter.error = TargetError("unknown profile: bob; known: alice")
    clock.now = at("2024-05-01 10:01:00")
    await scheduler.run_due()
    await scheduler.run_due()
    assert told == [(schedule.id, "unknown profile: bob; known: alice")]
    stored = await Schedule.get(id=schedule.id)
    assert stored.next_run_at == at("2024-05-01 10:02") and stored.last_run_at is None

    starter.error = RuntimeError("boom")
    clock.now = at("2024-05-01 10:02:00")
    await scheduler.run_due()
    assert told[-1] == (schedule.id, "an internal error; see the bot's log")

    starter.error, starter.busy = None, True
    clock.now = at("2024-05-01 10:03:00")
    await scheduler.run_due()
    assert len(told) == 2 and starter.started == []
    assert (await Schedule.get(id=schedule.id)).next_run_at == at("2024-05-01 10:04")


async def wait_for(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_the_loop_notices_the_time_within_its_sleep_cap_or_at_once_when_woken(
    database: None,
) -> None:
    clock = Clock(at("2024-05-01 10:00:00"))
    starter = FakeStarter()
    capped = Scheduler(starter, now=clock, max_sleep=0.05)
    first = await capped.create(
        chat_id=1, user_id=2, target="alice", scenario="smoke", timing=Timing("0 12 * * *")
    )
    capped.start()
    try:
        seen = clock.reads
        await wait_for(lambda: clock.reads >= seen + 6)  # several passes of the loop
        assert starter.started == []
        clock.now = at("2024-05-01 12:00:01")
        await wait_for(lambda: starter.started == [first.id])
    finally:
        await capped.close()

    woken = Scheduler(starter, now=clock, max_sleep=600)
    reads = clock.reads
    woken.start()
    try:
        await wait_for(lambda: clock.reads > reads)  # its first pass is done: it sleeps
        await Schedule.filter(id=first.id).update(next_run_at=clock.now)
        woken.wake()
        await wait_for(lambda: starter.started == [first.id, first.id])
    finally:
        await woken.close()


async def test_a_schedule_paused_or_deleted_after_it_was_read_does_not_start(
    database: None,
) -> None:
    clock = Clock(at("2024-05-01 10:00:00"))
    starter = FakeStarter()
    scheduler = Scheduler(starter, now=clock)
    timing = Timing("* * * * *")
    paused = await scheduler.create(
        chat_id=1, user_id=2, target="a", scenario="smoke", timing=timing
    )
    deleted = await scheduler.create(
        chat_id=1, user_id=2, target="b", scenario="smoke", timing=timing
    )
    clock.now = at("2024-05-01 10:01:00")
    read = await Schedule.filter(next_run_at__lte=clock.now).order_by("id")
    await scheduler.set_paused(paused, True)
    await scheduler.delete(deleted)
    for schedule in read:
        await scheduler._occurrence(schedule, clock.now)
    assert starter.started == []
