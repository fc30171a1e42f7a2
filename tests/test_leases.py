"""Profile leases: one holder at a time, taken over when its holder stops renewing it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from models import Profile, ProfileLease, WarmupRun, WarmupTask
from models.database import open_database
from warmup.clock import utcnow
from warmup.leases import LeaseKeeper


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def profile_id(database_url: str) -> AsyncIterator[int]:
    """A profile in a new database, SQLite and then PostgreSQL."""
    async with open_database(database_url):
        profile = await Profile.create(name="alice")
        yield profile.id


async def test_a_held_lease_is_refused_to_another_holder_until_it_is_released(
    profile_id: int,
) -> None:
    bot, other = LeaseKeeper("bot@host", ttl=30), LeaseKeeper("try@host:1", ttl=30)
    assert await bot.try_acquire(profile_id, run_id=None)
    assert await other.try_acquire(profile_id, run_id=None) is False
    lease = await ProfileLease.get(profile_id=profile_id)
    assert lease.owner == "bot@host"

    await bot.release(profile_id, None)
    assert await other.try_acquire(profile_id, run_id=None)
    assert (await ProfileLease.get(profile_id=profile_id)).owner == "try@host:1"


async def test_an_expired_lease_is_taken_over_and_its_old_holder_hears_it_was_lost(
    profile_id: int,
) -> None:
    clock = Clock()
    lost: list[int] = []
    stalled = LeaseKeeper("bot@host", ttl=30, on_lost=lost.append, now=clock)
    taker = LeaseKeeper("try@host:2", ttl=30, now=clock)
    mine, theirs = await _runs(profile_id, 2)
    await stalled.try_acquire(profile_id, mine)

    clock.now += timedelta(seconds=29)
    assert await taker.try_acquire(profile_id, theirs) is False, "still alive"
    await stalled.renew()
    clock.now += timedelta(seconds=29)
    assert await taker.try_acquire(profile_id, theirs) is False, "renewed in time"

    clock.now += timedelta(seconds=31)
    assert await taker.try_acquire(profile_id, theirs), "expired: taken over"
    await stalled.renew()
    assert (stalled.held, lost) == (0, [mine])
    await stalled.release(profile_id, mine)
    assert (await ProfileLease.get(profile_id=profile_id)).run_id == theirs, "left to its taker"


async def test_a_waiting_run_of_the_same_process_takes_the_lease_when_it_is_given_back(
    profile_id: int,
) -> None:
    keeper = LeaseKeeper("bot@host", ttl=30)
    first, second = await _runs(profile_id, 2)
    await keeper.acquire(profile_id, first)
    waiting = asyncio.create_task(keeper.acquire(profile_id, second))
    await asyncio.sleep(0)
    assert not waiting.done()
    await keeper.release(profile_id, first)
    await asyncio.wait_for(waiting, timeout=5)
    assert (await ProfileLease.get(profile_id=profile_id)).run_id == second


async def _runs(profile_id: int, count: int) -> list[int]:
    ids = []
    for _ in range(count):
        task = await WarmupTask.create(chat_id=1, target="alice", scenario="smoke")
        ids.append((await WarmupRun.create(task=task, profile_id=profile_id)).id)
    return ids
