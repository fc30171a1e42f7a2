"""The fleet's latest results, read the same way from SQLite and from PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from models import Profile, RunStatus, WarmupRun, WarmupTask
from models.database import open_database
from warmup.fleet import ProfileShow, profile_states, tags_by_use
from warmup.profiles import ProfileConfig


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[None]:
    async with open_database(database_url):
        yield


async def test_each_profile_has_its_latest_run_of_any_task(database: None) -> None:
    config = {
        name: ProfileConfig(name=name, tags=tags)
        for name, tags in (("carol", ("eu",)), ("alice", ("eu", "us")), ("bob", ()))
    }
    for name, profile in config.items():
        await Profile.create(name=name, tags=list(profile.tags))
    await Profile.create(name="gone", active=False)
    await Profile.filter(name="bob").update(session_expired=True)
    profiles = {profile.name: profile for profile in await Profile.all()}

    first = await WarmupTask.create(chat_id=1, target="all", scenario="s")
    second = await WarmupTask.create(chat_id=2, target="all", scenario="s")
    for task, name, status in (
        (first, "alice", RunStatus.failed),
        (first, "bob", RunStatus.succeeded),
        (first, "gone", RunStatus.succeeded),
        (second, "alice", RunStatus.succeeded),
        (second, "bob", RunStatus.failed),
    ):
        await WarmupRun.create(task=task, profile=profiles[name], status=status)

    states = await profile_states(config)

    assert [state.name for state in states] == ["carol", "alice", "bob"], "the file's order"
    carol, alice, bob = states
    assert (carol.last_status, carol.last_task_id, carol.session_expired) == (None, None, False)
    assert (alice.last_status, alice.last_task_id) == (RunStatus.succeeded, second.id)
    assert (bob.last_status, bob.session_expired) == (RunStatus.failed, True)
    assert [s.name for s in states if s.shown_by(ProfileShow.failed)] == ["bob"]
    assert [s.name for s in states if s.shown_by(ProfileShow.never)] == ["carol"]
    assert [s.name for s in states if s.shown_by(ProfileShow.expired)] == ["bob"]
    assert [s.name for s in states if s.shown_by(ProfileShow.all)] == ["carol", "alice", "bob"]
    assert tags_by_use(states) == ["eu", "us"]
