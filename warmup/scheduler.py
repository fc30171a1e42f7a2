"""Schedules: warmups that start by themselves, by cron, within a daily window (UTC).

One background task sleeps until the earliest due schedule (at most `max_sleep` seconds,
so a changed clock is noticed) or until `wake()` after a change, then starts what is due.
The next run time is written before the task is started, so a crash in between loses an
occurrence rather than repeating it.

A time that passed while the bot was down runs once when the bot is back, and only if the
bot is back inside the schedule's window; the occurrences missed in between are not
replayed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from models import Schedule, WarmupTask
from models.writes import retry_write
from warmup.catalog import ScenarioChoiceError
from warmup.clock import utcnow, wait_set
from warmup.targets import TargetError
from warmup.tasks import TaskError
from warmup.timing import Timing, TimingError, Window, next_run, parse_clock

logger = logging.getLogger(__name__)

MAX_SLEEP = 60.0
LATE_GRACE = timedelta(minutes=1)
"""A schedule started later than this after its time was missed (the bot was down or
busy): it runs only if now is inside its window."""


class ScheduledStarter(Protocol):
    async def start_scheduled(self, schedule: Schedule) -> WarmupTask | None: ...


ErrorReport = Callable[[Schedule, str], Awaitable[None]]
"""Tells the schedule's chat why an occurrence did not start."""


def timing_of(schedule: Schedule) -> Timing:
    window = None
    if schedule.window_start and schedule.window_end:
        window = Window(parse_clock(schedule.window_start), parse_clock(schedule.window_end))
    return Timing(schedule.cron, window, schedule.jitter_seconds)


class Scheduler:
    def __init__(
        self,
        tasks: ScheduledStarter,
        on_error: ErrorReport | None = None,
        *,
        now: Callable[[], datetime] = utcnow,
        max_sleep: float = MAX_SLEEP,
        rng: random.Random | None = None,
    ) -> None:
        self._tasks = tasks
        self._on_error = on_error
        self._now = now
        self._max_sleep = max_sleep
        self._rng = rng or random.Random()
        self._woken = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._passes_begun = 0
        self._passes_done = 0
        self._passed = asyncio.Condition()

    def start(self) -> None:
        """Start the background loop."""
        self._loop_task = asyncio.create_task(self._loop(), name="scheduler")

    async def passed(self) -> None:
        """Wait until the loop has made a whole pass that began after this call: by then
        whatever was due when it was called has been started or skipped. (The next pass
        begins when the next schedule is due, or at once after `wake()`.)"""
        target = self._passes_begun + 1
        async with self._passed:
            await self._passed.wait_for(lambda: self._passes_done >= target)

    def wake(self) -> None:
        """A schedule was added or changed: look again at what is due."""
        self._woken.set()

    async def close(self) -> None:
        """Stop the loop."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None

    def next_run(self, timing: Timing) -> datetime | None:
        return next_run(timing, self._now(), self._rng)

    async def create(
        self,
        *,
        chat_id: int,
        user_id: int | None,
        target: str,
        scenario: str,
        timing: Timing,
        language: str = "en",
    ) -> Schedule:
        """Store a new schedule; TimingError when its cron never falls inside its window."""
        first = self.next_run(timing)
        if first is None:
            raise TimingError(
                f"'{timing.cron}' never falls inside the window {timing.window} (UTC)"
            )
        window = timing.window
        schedule = await Schedule.create(
            chat_id=chat_id,
            user_id=user_id,
            target=target,
            scenario=scenario,
            cron=timing.cron,
            window_start=f"{window.start:%H:%M}" if window else None,
            window_end=f"{window.end:%H:%M}" if window else None,
            jitter_seconds=timing.jitter_seconds,
            language=language,
            next_run_at=first,
        )
        self.wake()
        return schedule

    async def set_paused(self, schedule: Schedule, paused: bool) -> None:
        """Pause, or resume from the next cron time after now (nothing missed is made up)."""
        fields: dict[str, object] = {"paused": paused}
        if not paused:
            fields["next_run_at"] = self.next_run(timing_of(schedule))
        await Schedule.filter(id=schedule.id).update(**fields)
        self.wake()

    async def delete(self, schedule: Schedule) -> None:
        """Its tasks stay, without their link to it."""
        await schedule.delete()
        self.wake()

    async def run_due(self) -> None:
        """Start every schedule whose time has come."""
        now = self._now()
        due = await Schedule.filter(paused=False, next_run_at__lte=now).order_by("next_run_at")
        for schedule in due:
            await self._occurrence(schedule, now)

    async def _occurrence(self, schedule: Schedule, now: datetime) -> None:
        timing = timing_of(schedule)
        following = next_run(timing, now, self._rng)
        claimed = await retry_write(
            lambda: Schedule.filter(
                id=schedule.id, paused=False, next_run_at=schedule.next_run_at
            ).update(next_run_at=following),
            what=f"next run of schedule {schedule.id}",
        )
        if not claimed:
            return  # paused, deleted or changed since it was read
        if following is None:
            logger.warning("schedule %d: its cron never falls inside its window", schedule.id)
        late = now - (schedule.next_run_at or now) > LATE_GRACE
        if late and timing.window is not None and not timing.window.contains(now):
            logger.info("schedule %d: missed while outside its window; skipped", schedule.id)
            return
        if await self._start(schedule):
            await retry_write(
                lambda: Schedule.filter(id=schedule.id).update(last_run_at=now),
                what=f"last run of schedule {schedule.id}",
            )

    async def _start(self, schedule: Schedule) -> bool:
        """Start the occurrence's task; an error is logged and told, and the schedule stays."""
        try:
            task = await self._tasks.start_scheduled(schedule)
        except (TaskError, TargetError, ScenarioChoiceError) as error:
            logger.warning("schedule %d did not start: %s", schedule.id, error)
            await self._tell(schedule, str(error))
            return False
        except Exception:
            logger.exception("schedule %d did not start", schedule.id)
            await self._tell(schedule, "an internal error; see the bot's log")
            return False
        if task is None:
            logger.info("schedule %d: every profile is busy; occurrence skipped", schedule.id)
            return False
        logger.info("schedule %d started task %d", schedule.id, task.id)
        return True

    async def _tell(self, schedule: Schedule, reason: str) -> None:
        if self._on_error is not None:
            await self._on_error(schedule, reason)

    async def _seconds_until_due(self) -> float:
        upcoming = (
            await Schedule.filter(paused=False, next_run_at__not_isnull=True)
            .order_by("next_run_at")
            .first()
        )
        if upcoming is None or upcoming.next_run_at is None:
            return self._max_sleep
        wait = (upcoming.next_run_at - self._now()).total_seconds()
        return min(max(wait, 0.0), self._max_sleep)

    async def _loop(self) -> None:
        while True:
            self._woken.clear()
            self._passes_begun += 1
            try:
                await self.run_due()
                delay = await self._seconds_until_due()
            except Exception:
                logger.exception("schedules: a pass failed; trying again later")
                delay = self._max_sleep
            async with self._passed:
                self._passes_done = self._passes_begun
                self._passed.notify_all()
            await wait_set(self._woken, delay)
