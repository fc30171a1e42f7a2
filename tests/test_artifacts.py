"""Old screenshots and traces are pruned by age, then by total size, oldest first."""

from __future__ import annotations

import os
from pathlib import Path

from warmup.artifacts import DAY, prune_artifacts

NOW = 1_800_000_000.0


def make(directory: Path, name: str, size: int, age_days: float) -> Path:
    path = directory / name
    path.write_bytes(b"x" * size)
    moment = NOW - age_days * DAY
    os.utime(path, (moment, moment))
    return path


def test_files_older_than_the_age_limit_go(tmp_path: Path) -> None:
    old = make(tmp_path, "old.png", 10, age_days=15)
    recent = make(tmp_path, "recent.png", 10, age_days=1)
    assert prune_artifacts(tmp_path, max_age_days=14, max_bytes=10_000, now=NOW) == 1
    assert not old.exists() and recent.exists()


def test_the_oldest_go_until_the_total_fits(tmp_path: Path) -> None:
    first = make(tmp_path, "a.zip", 400, age_days=3)
    second = make(tmp_path, "b.zip", 400, age_days=2)
    third = make(tmp_path, "c.zip", 400, age_days=1)
    assert prune_artifacts(tmp_path, max_age_days=14, max_bytes=800, now=NOW) == 1
    assert [first.exists(), second.exists(), third.exists()] == [False, True, True]


def test_a_missing_folder_is_nothing_to_prune(tmp_path: Path) -> None:
    assert prune_artifacts(tmp_path / "none", max_age_days=1, max_bytes=1, now=NOW) == 0
