"""Files shared through the database: states, seeds, screenshots; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from models import SharedFile
from models.database import open_database
from warmup.clock import utcnow
from warmup.profiles import ProfileConfig
from warmup.shared_files import (
    SharedStateStore,
    local_artifact,
    prune_shared_artifacts,
    put_file,
    share_artifact,
    share_seeds,
)

STATE = {"cookies": [{"name": "sid", "value": "1", "domain": "example.org", "path": "/"}]}


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[None]:
    async with open_database(database_url):
        yield


async def test_a_saved_state_is_what_the_next_load_gets_and_replaces_the_last(
    database: None,
) -> None:
    store = SharedStateStore()
    assert await store.load_state("alice", None) is None
    await store.save_state("alice", {"cookies": [], "origins": []})
    await store.save_state("alice", STATE)
    assert await store.load_state("alice", None) == STATE
    assert await SharedFile.filter(key="states/alice.json").count() == 1


async def test_an_unusable_state_falls_back_to_the_shared_seed(
    database: None, tmp_path: Path
) -> None:
    seed = tmp_path / "alice-seed.json"
    seed.write_text(json.dumps(STATE), encoding="utf-8")
    assert await share_seeds({"alice": ProfileConfig(name="alice", storage_state=seed)}) == 1
    await put_file("states/alice.json", b'{"cookies": "not a list"}')
    seed.unlink()  # a worker on another machine has no such file
    assert await SharedStateStore().load_state("alice", seed) == STATE


async def test_a_workers_screenshot_is_fetched_into_the_bots_own_folder(
    database: None, tmp_path: Path
) -> None:
    worker_file = tmp_path / "worker" / "task1-alice-1.png"
    worker_file.parent.mkdir()
    worker_file.write_bytes(b"\x89PNG picture")
    await share_artifact(worker_file)
    assert not worker_file.exists(), "the worker keeps no copy"

    bot_folder = tmp_path / "bot" / "artifacts"
    found = await local_artifact(str(worker_file), bot_folder)
    assert found == bot_folder / "task1-alice-1.png"
    assert found.read_bytes() == b"\x89PNG picture"
    assert found.stat().st_mode & 0o777 == 0o600
    assert await local_artifact(str(tmp_path / "pruned.png"), bot_folder) is None


async def test_old_shared_artifacts_are_pruned_and_states_are_kept(database: None) -> None:
    await put_file("artifacts/old.png", b"old")
    await put_file("artifacts/new.png", b"new")
    await put_file("states/alice.json", json.dumps(STATE).encode())
    long_ago = utcnow() - timedelta(days=30)
    await SharedFile.filter(key__in=["artifacts/old.png", "states/alice.json"]).update(
        updated_at=long_ago
    )
    assert await prune_shared_artifacts(max_age_days=14) == 1
    left = await SharedFile.all().order_by("key").values_list("key", flat=True)
    assert left == ["artifacts/new.png", "states/alice.json"]
