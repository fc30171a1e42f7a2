"""Syncing the profiles file into the database: a few statements whatever the file's size,
only the columns the file decides, and reloads that never half-apply."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml

import warmup.catalog
from models import Profile
from models.database import open_database
from warmup.catalog import Catalog
from warmup.profiles import BATCH_SIZE, ProfileConfig, SyncCounts, load_profiles, sync_profiles


class Statements(logging.Handler):
    """Every statement Tortoise sends to the database (it logs each one at DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sql: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        query = record.args[0] if isinstance(record.args, tuple) and record.args else record.msg
        self.sql.append(str(query))

    def kinds(self) -> Counter[str]:
        """How many of each: SELECT, INSERT, UPDATE..."""
        return Counter(sql.split(None, 1)[0].upper() for sql in self.sql)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[None]:
    async with open_database(f"sqlite://{tmp_path}/profiles.sqlite3"):
        yield


@pytest.fixture
def statements() -> Iterator[Statements]:
    logger = logging.getLogger("tortoise.db_client")
    handler = Statements()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def fleet(count: int, **changes: dict[str, object]) -> dict[str, ProfileConfig]:
    """`count` profiles p0000, p0001...; `changes` gives some of them other fields."""
    profiles = {}
    for index in range(count):
        name = f"p{index:04d}"
        fields: dict[str, object] = {
            "name": name,
            "tags": ["bulk", f"g{index % 7}"],
            "vars": {"home": f"https://example.org/u/{index}"},
            "viewport": {"width": 1280, "height": 800},
        }
        fields.update(changes.get(name, {}))
        profiles[name] = ProfileConfig.model_validate(fields)
    return profiles


def batches(rows: int) -> int:
    return math.ceil(rows / BATCH_SIZE)


async def test_thousands_of_new_profiles_are_created_by_batches(
    database: None, statements: Statements
) -> None:
    profiles = fleet(3000)

    counts = await sync_profiles(profiles)

    assert counts == SyncCounts(created=3000, updated=0, deactivated=0)
    assert statements.kinds() == {"SELECT": 1, "INSERT": batches(3000)}
    assert await Profile.filter(active=True).count() == 3000
    stored = await Profile.get(name="p0042")
    assert stored.tags == ["bulk", "g0"]
    assert stored.vars == {"home": "https://example.org/u/42"}
    assert stored.options == {"viewport": {"width": 1280, "height": 800}}
    assert stored.seed_state is None
    assert stored.session_expired is False


async def test_a_second_sync_writes_exactly_the_changed_removed_and_readded_profiles(
    database: None, statements: Statements, tmp_path: Path
) -> None:
    await sync_profiles(fleet(3000))
    await sync_profiles({name: p for name, p in fleet(3000).items() if name >= "p0100"})
    expired = ["p0005", "p0200", "p0300", "p2999"]  # re-added, changed, unchanged, removed
    await Profile.filter(name__in=expired).update(session_expired=True)
    before = {p.name: p.updated_at for p in await Profile.all()}
    changes: dict[str, dict[str, object]] = {
        f"p{index:04d}": {"tags": ["changed"]} for index in range(200, 260)
    }
    changes["p0300"] = {}  # given again exactly as it is
    changes["p0261"] = {"storage_state": str(tmp_path / "seed.json")}
    changes["p0262"] = {"proxy": {"server": "http://127.0.0.1:3128"}}
    # p0000-p0009 come back (re-added), p0010-p0099 stay out, p2900-p2999 go, p3000-p3049 are new
    wanted = {
        name: profile
        for name, profile in fleet(3050, **changes).items()
        if name < "p0010" or "p0100" <= name < "p2900" or name >= "p3000"
    }
    statements.sql.clear()

    counts = await sync_profiles(wanted)

    assert counts == SyncCounts(created=50, updated=10 + 60 + 2, deactivated=100)
    assert statements.kinds() == {
        "SELECT": 1,
        "INSERT": batches(50),
        "UPDATE": batches(72) + batches(100),
    }
    rows = {p.name: p for p in await Profile.all()}
    assert sorted(name for name, p in rows.items() if p.active) == sorted(wanted)
    assert len(rows) == 3050
    assert rows["p0005"].active and rows["p0005"].tags == ["bulk", "g5"]
    assert rows["p0210"].tags == ["changed"]
    assert rows["p0261"].seed_state == str(tmp_path / "seed.json")
    assert rows["p0262"].options["proxy"] == {"server": "http://127.0.0.1:3128"}
    assert not rows["p0050"].active and not rows["p2950"].active
    assert sorted(name for name, p in rows.items() if p.session_expired) == expired
    written = sorted(name for name, p in rows.items() if p.updated_at != before.get(name))
    readded = [f"p{index:04d}" for index in range(10)]
    new = [f"p{index:04d}" for index in range(3000, 3050)]
    changed = [*(f"p{index:04d}" for index in range(200, 260)), "p0261", "p0262"]
    assert written == sorted([*readded, *changed, *new])


@pytest.mark.parametrize("count", [10, 3000])
async def test_statements_are_a_small_constant_plus_batches_whatever_the_count(
    database: None, statements: Statements, count: int
) -> None:
    await sync_profiles(fleet(count))
    everyone_changed = {
        name: profile.model_copy(update={"tags": ("changed",)})
        for name, profile in fleet(count).items()
    }
    statements.sql.clear()
    await sync_profiles(everyone_changed)
    assert len(statements.sql) == 1 + batches(count)  # the read, then the UPDATEs

    statements.sql.clear()
    await sync_profiles(everyone_changed)
    assert statements.kinds() == {"SELECT": 1}  # nothing to write

    statements.sql.clear()
    await sync_profiles({})
    assert len(statements.sql) == 1 + batches(count)  # the read, then the deactivations
    assert await Profile.filter(active=True).count() == 0


async def test_the_later_of_two_overlapping_reloads_wins(
    database: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles_file = tmp_path / "profiles.yaml"
    (tmp_path / "scenarios").mkdir()
    catalog = Catalog(profiles_file, tmp_path / "scenarios")
    first_read = threading.Event()
    release_first = threading.Event()

    def hold_the_first_read(path: Path) -> dict[str, ProfileConfig]:
        profiles = load_profiles(path)
        if not first_read.is_set():
            first_read.set()
            assert release_first.wait(timeout=10)
        return profiles

    monkeypatch.setattr(warmup.catalog, "load_profiles", hold_the_first_read)
    write_names(profiles_file, ["old1", "old2"])
    first = asyncio.create_task(catalog.reload())
    assert await asyncio.to_thread(first_read.wait, 10)
    write_names(profiles_file, ["new1"])
    second = asyncio.create_task(catalog.reload())
    await asyncio.sleep(0)  # the second reload starts and waits for its turn
    release_first.set()

    first_report, second_report = await asyncio.gather(first, second)

    assert (first_report.profiles, second_report.profiles) == (2, 1)
    assert list(catalog.profiles) == ["new1"]
    assert await Profile.filter(active=True).values_list("name", flat=True) == ["new1"]


def write_names(path: Path, names: list[str]) -> None:
    path.write_text(yaml.safe_dump({"profiles": [{"name": name} for name in names]}))


async def test_a_broken_or_vanished_file_keeps_the_profiles_already_loaded(
    database: None, tmp_path: Path
) -> None:
    profiles_file = tmp_path / "profiles.yaml"
    catalog = Catalog(profiles_file, tmp_path / "scenarios")
    write_names(profiles_file, ["alice", "bob"])
    assert (await catalog.reload()).profiles_error is None

    profiles_file.write_text("profiles: [{name: alice}, {name: alice}]")
    broken = await catalog.reload()
    profiles_file.unlink()
    gone = await catalog.reload()

    assert broken.profiles_error == "profiles.yaml: profiles[1]: duplicate name 'alice'"
    assert gone.profiles_error == "profiles.yaml: the file is gone"
    assert (broken.profiles, gone.profiles) == (2, 2)
    assert list(catalog.profiles) == ["alice", "bob"]
    assert await Profile.filter(active=True).values_list("name", flat=True) == ["alice", "bob"]
