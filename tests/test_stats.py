"""/stats' numbers, counted by the database: the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest

from models import Profile, RunStatus, WarmupRun, WarmupTask
from models.database import open_database
from warmup.stats import DayCounts, fleet_stats

S, F = RunStatus.succeeded, RunStatus.failed
TODAY = date(2025, 3, 10)
# (ended at, status, seconds played or None when it never started, failed step)
RUNS = [
    (datetime(2025, 3, 3, 23, 59, 59, 999999, UTC), S, 1, None),  # the day before the period
    (datetime(2025, 3, 4, 0, 0, tzinfo=UTC), S, 10, None),
    (datetime(2025, 3, 5, 9, 0, tzinfo=UTC), S, 20, None),
    (datetime(2025, 3, 5, 10, 0, tzinfo=UTC), S, 30, None),
    (datetime(2025, 3, 5, 11, 0, tzinfo=UTC), F, 40, "steps[1] (expect #a)"),
    (datetime(2025, 3, 5, 12, 0, tzinfo=UTC), RunStatus.cancelled, None, None),
    (datetime(2025, 3, 7, 8, 0, tzinfo=UTC), F, 50, "steps[1] (expect #a)"),
    (datetime(2025, 3, 7, 9, 0, tzinfo=UTC), F, 60, "steps[2] (click #b)"),
    (datetime(2025, 3, 7, 10, 0, tzinfo=UTC), RunStatus.interrupted, 1000, None),
    (datetime(2025, 3, 8, 1, 0, tzinfo=UTC), F, 80, None),
    (datetime(2025, 3, 8, 2, 0, tzinfo=UTC), F, 5, "steps[3] c"),
    (datetime(2025, 3, 8, 3, 0, tzinfo=UTC), F, 6, "steps[4] d"),
    (datetime(2025, 3, 8, 4, 0, tzinfo=UTC), F, 7, "steps[5] e"),
    (datetime(2025, 3, 8, 5, 0, tzinfo=UTC), F, 8, "steps[6] f"),
    (datetime(2025, 3, 8, 6, 0, tzinfo=UTC), F, 9, "steps[1] (expect #a)"),
    (datetime(2025, 3, 8, 23, 59, 59, tzinfo=UTC), F, 11, "steps[2] (click #b)"),
    (datetime(2025, 3, 10, 12, 0, tzinfo=UTC), S, 70.5, None),
    (datetime(2025, 3, 10, 23, 0, tzinfo=UTC), RunStatus.cancelled, 500, None),
    (datetime(2025, 3, 11, 0, 0, tzinfo=UTC), S, 1, None),  # the day after
]


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[None]:
    """The runs above, of two chats' tasks, and two runs that have not ended."""
    async with open_database(database_url):
        profile = await Profile.create(name="alice")
        for number, (ended, status, seconds, step) in enumerate(RUNS):
            task = await WarmupTask.create(chat_id=1 + number % 2, target="all", scenario="s")
            await WarmupRun.create(
                task=task,
                profile=profile,
                status=status,
                started_at=ended - timedelta(seconds=seconds) if seconds is not None else None,
                finished_at=ended,
                failed_step=step,
            )
        task = await WarmupTask.create(chat_id=1, target="all", scenario="s")
        await WarmupRun.create(task=task, profile=profile, status=RunStatus.queued)
        other = await Profile.create(name="bob")
        await WarmupRun.create(
            task=task,
            profile=other,
            status=RunStatus.running,
            started_at=datetime(2025, 3, 9, tzinfo=UTC),
        )
        yield


@pytest.mark.usefixtures("database")
async def test_runs_are_counted_by_utc_day_and_result_with_the_median_and_the_failing_steps() -> (
    None
):
    stats = await fleet_stats(7, today=TODAY)

    assert stats.days == (
        DayCounts(date(2025, 3, 4), succeeded=1),
        DayCounts(date(2025, 3, 5), succeeded=2, failed=1, other=1),
        DayCounts(date(2025, 3, 6)),
        DayCounts(date(2025, 3, 7), failed=2, other=1),
        DayCounts(date(2025, 3, 8), failed=7),
        DayCounts(date(2025, 3, 9)),
        DayCounts(date(2025, 3, 10), succeeded=1, other=1),
    )
    assert (stats.first_day, stats.last_day) == (date(2025, 3, 4), TODAY)
    assert (stats.runs, stats.succeeded, stats.failed, stats.other) == (17, 4, 10, 3)
    assert stats.success_rate == 4 / 17
    # Succeeded and failed runs only: 5 6 7 8 9 10 11 | 20 30 40 50 60 70.5 80
    assert stats.median_seconds == pytest.approx(15.5, abs=0.001)
    assert stats.failing_steps == (
        ("steps[1] (expect #a)", 3),
        ("steps[2] (click #b)", 2),
        ("steps[3] c", 1),
        ("steps[4] d", 1),
        ("steps[5] e", 1),
    )


@pytest.mark.usefixtures("database")
async def test_one_day_and_a_day_without_runs() -> None:
    today = await fleet_stats(1, today=TODAY)
    assert today.days == (DayCounts(TODAY, succeeded=1, other=1),)
    assert today.median_seconds == pytest.approx(70.5, abs=0.001), "an odd count: the middle one"
    assert today.failing_steps == ()
    assert today.success_rate == 0.5

    empty = await fleet_stats(1, today=date(2025, 3, 9))
    assert (empty.runs, empty.success_rate, empty.median_seconds) == (0, None, None)
    assert empty.failing_steps == ()
