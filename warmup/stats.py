"""The fleet's recent history in numbers: runs per day by result, the success rate, the median
run time and the steps that fail most.

Counted in the database, in a fixed number of queries whatever the number of runs (a fleet of
thousands of profiles makes millions of runs in a few months): no run is loaded as a model.
A run counts on the day (UTC) it ended: every run with a final status has `finished_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tortoise.expressions import RawSQL
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from models import FINISHED_RUN_STATUSES, RunStatus, WarmupRun
from warmup.clock import utcnow

TOP_STEPS = 5
TIMED_STATUSES = (RunStatus.succeeded, RunStatus.failed)
"""The runs whose time is a run time: a cancelled run was cut short, and an interrupted one
ends when a restarted bot finds it, which may be hours after it stopped."""

_RESULTS = {RunStatus.succeeded: "succeeded", RunStatus.failed: "failed"}
"""A DayCounts field per final status; cancelled and interrupted runs count as other."""

# The same answer from both databases: the day as 'YYYY-MM-DD' text, the run time in tenths of
# a second. Tortoise keeps datetimes on SQLite as ISO text with their offset ('…+00:00'),
# which SQLite's date functions read; on PostgreSQL they are `timestamptz`.
_DAY = {
    "sqlite": "date(finished_at)",
    "postgres": "to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
}
_TENTHS = {
    "sqlite": "CAST(ROUND((julianday(finished_at) - julianday(started_at)) * 864000.0) AS INTEGER)",
    "postgres": "CAST(ROUND(EXTRACT(EPOCH FROM (finished_at - started_at)) * 10) AS BIGINT)",
}
"""A run's time in tenths of a second, rounded."""


@dataclass(frozen=True, slots=True)
class DayCounts:
    day: date
    succeeded: int = 0
    failed: int = 0
    other: int = 0
    """Cancelled or interrupted."""

    @property
    def runs(self) -> int:
        return self.succeeded + self.failed + self.other


@dataclass(frozen=True, slots=True)
class FleetStats:
    days: tuple[DayCounts, ...]
    """Every day of the period, oldest first; a day with no run counts zero."""
    median_seconds: float | None
    """Of the succeeded and failed runs; None when there is none."""
    failing_steps: tuple[tuple[str, int], ...]
    """The steps failed runs failed at most, with their counts, most first."""

    @property
    def first_day(self) -> date:
        return self.days[0].day

    @property
    def last_day(self) -> date:
        return self.days[-1].day

    @property
    def runs(self) -> int:
        return sum(day.runs for day in self.days)

    @property
    def succeeded(self) -> int:
        return sum(day.succeeded for day in self.days)

    @property
    def failed(self) -> int:
        return sum(day.failed for day in self.days)

    @property
    def other(self) -> int:
        return sum(day.other for day in self.days)

    @property
    def success_rate(self) -> float | None:
        """Succeeded runs among the runs that ended; None when none did."""
        return self.succeeded / self.runs if self.runs else None


async def fleet_stats(days: int, today: date | None = None) -> FleetStats:
    """The runs of every chat's tasks that ended in the last `days` days (UTC), today
    (`today`, by default the current UTC date) included."""
    last = today or utcnow().date()
    first = last - timedelta(days=days - 1)
    ended = WarmupRun.filter(
        status__in=list(FINISHED_RUN_STATUSES),
        finished_at__gte=datetime.combine(first, time(), UTC),
        finished_at__lt=datetime.combine(last + timedelta(days=1), time(), UTC),
    )
    dialect = WarmupRun._meta.db.capabilities.dialect
    rows = (
        await ended.annotate(day=RawSQL(_DAY[dialect]), count=Count("id"))
        .group_by("day", "status")
        .values_list("day", "status", "count")
    )
    counts: dict[date, dict[str, int]] = {}
    for day, status, count in rows:
        key = _RESULTS.get(status, "other")
        tally = counts.setdefault(date.fromisoformat(day), {})
        tally[key] = tally.get(key, 0) + count
    steps = (
        await ended.filter(status=RunStatus.failed, failed_step__isnull=False)
        .annotate(count=Count("id"))
        .group_by("failed_step")
        .order_by("-count", "failed_step")
        .limit(TOP_STEPS)
        .values_list("failed_step", "count")
    )
    return FleetStats(
        days=tuple(
            DayCounts(day, **counts.get(day, {}))
            for day in (first + timedelta(days=offset) for offset in range(days))
        ),
        median_seconds=await _median_seconds(ended, dialect),
        failing_steps=tuple((step, count) for step, count in steps),
    )


async def _median_seconds(ended: QuerySet[WarmupRun], dialect: str) -> float | None:
    """The median run time, to a tenth of a second.

    The database counts the runs per tenth of a second (a few thousand rows whatever the
    number of runs, read from the `warmup_run_ended` index), and the median is
    found in those counts: sorting every run time of a year of history took seconds on
    SQLite, while the bot's other database calls waited for its one connection."""
    timed = ended.filter(status__in=list(TIMED_STATUSES), started_at__isnull=False)
    tenths = (
        await timed.annotate(tenths=RawSQL(_TENTHS[dialect]), count=Count("id"))
        .group_by("tenths")
        .order_by("tenths")
        .values_list("tenths", "count")
    )
    total = sum(count for _, count in tenths)
    if not total:
        return None
    places = sorted({(total - 1) // 2, total // 2})  # the middle one, or the middle two
    middle: list[int] = []
    passed = 0
    for value, count in tenths:
        middle.extend(value for place in places if passed <= place < passed + count)
        passed += count
    return sum(middle) / len(middle) / 10
