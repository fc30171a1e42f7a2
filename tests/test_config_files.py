"""Replacing a configuration file: whole or not at all, the previous version kept."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from warmup import config_files
from warmup.config_files import TwoScenarioFiles, replace_checked, scenario_file


class Refused(Exception):
    pass


def accept(path: Path) -> str:
    return f"{path.name}: {path.read_text()}"


def refuse(path: Path) -> str:
    raise Refused(path.name)


def entries(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_an_accepted_file_replaces_the_old_one_which_is_kept_with_its_mode(
    tmp_path: Path,
) -> None:
    target = tmp_path / "profiles.yaml"
    target.write_text("old")
    target.chmod(0o600)
    replaced = replace_checked(target, b"new", accept)
    assert replaced.loaded == "profiles.yaml: new", "the loader sees the file under its name"
    assert replaced.backup == tmp_path / "profiles.yaml.bak"
    assert entries(tmp_path) == {"profiles.yaml": b"new", "profiles.yaml.bak": b"old"}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(replaced.backup.stat().st_mode) == 0o600

    assert replace_checked(target, b"newer", accept).backup == replaced.backup
    assert entries(tmp_path) == {"profiles.yaml": b"newer", "profiles.yaml.bak": b"new"}


def test_a_new_file_has_no_backup(tmp_path: Path) -> None:
    replaced = replace_checked(tmp_path / "scenarios" / "new.yaml", b"steps: []", accept)
    assert replaced.backup is None
    assert entries(tmp_path / "scenarios") == {"new.yaml": b"steps: []"}


def test_a_refused_file_changes_nothing_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "browse.yaml").write_text("old")
    (tmp_path / "browse.yaml.bak").write_text("older")
    with pytest.raises(Refused, match=r"^browse\.yaml$"):
        replace_checked(tmp_path / "browse.yaml", b"new", refuse)
    with pytest.raises(Refused):
        replace_checked(tmp_path / "fresh.yaml", b"new", refuse)
    assert entries(tmp_path) == {"browse.yaml": b"old", "browse.yaml.bak": b"older"}


def test_a_failure_while_replacing_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "browse.yaml"
    target.write_text("old")
    real_replace = os.replace

    def failing(source: os.PathLike[str], destination: os.PathLike[str]) -> None:
        if Path(destination) == target:
            raise OSError(28, "No space left on device")
        real_replace(source, destination)

    monkeypatch.setattr(config_files.os, "replace", failing)
    with pytest.raises(OSError, match="No space left"):
        replace_checked(target, b"new", accept)
    # the backup was made before: it holds what the file still holds; nothing else is left
    assert entries(tmp_path) == {"browse.yaml": b"old", "browse.yaml.bak": b"old"}


def test_a_link_stays_a_link_to_the_replaced_file(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "shared.yaml"
    real.write_text("old")
    link = tmp_path / "profiles.yaml"
    link.symlink_to(real)
    replaced = replace_checked(link, b"new", accept)
    assert replaced.loaded == "profiles.yaml: new"
    assert link.is_symlink() and link.read_text() == "new"
    assert (tmp_path / "real" / "shared.yaml.bak").read_text() == "old"


def test_a_scenario_keeps_its_file(tmp_path: Path) -> None:
    assert scenario_file(tmp_path, "browse") == tmp_path / "browse.yaml"
    (tmp_path / "browse.yml").write_text("steps: []")
    assert scenario_file(tmp_path, "browse") == tmp_path / "browse.yml"
    (tmp_path / "browse.yaml").write_text("steps: []")
    with pytest.raises(TwoScenarioFiles):
        scenario_file(tmp_path, "browse")
