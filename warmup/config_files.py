"""Replacing a configuration file (a scenario, the profiles file) with a new version.

The new bytes are staged in a hidden folder beside the file under the file's own name,
judged there by the loader that reads the file (so they pass or fail as `/reload` would
judge them), and only then moved over the file; the version they replace is kept beside it
as `<name>.bak`. Every step a reader can see is an `os.replace`: a reader (a `/reload` at
the same moment, the bot after a crash) finds the old file or the new one, never half of
one. Blocking: run it in a worker thread.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

BACKUP_SUFFIX = ".bak"
"""`browse.yaml.bak`: the scenarios folder loads only `*.yaml` and `*.yml` files."""
STAGING_PREFIX = ".upload-"
"""Hidden: the scenarios folder skips hidden entries, so a staged file is never loaded."""


@dataclass(frozen=True, slots=True)
class Replaced(Generic[T]):
    loaded: T
    """What the loader made of the new file."""
    backup: Path | None
    """The previous version; None when there was no file before."""


def backup_of(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def replace_checked(path: Path, content: bytes, load: Callable[[Path], T]) -> Replaced[T]:
    """Put `content` in place of the file at `path` if `load` accepts it.

    `load` gets the staged file, named as `path` is, and raises to refuse it: then the file
    and its backup stay as they were and nothing is left behind. A symbolic link at `path`
    stays a link: the file it points to is the one replaced.
    """
    real = path.resolve()
    real.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=real.parent) as staging:
        staged = Path(staging) / path.name
        _write_synced(staged, content)
        loaded = load(staged)
        backup = None
        if real.exists():
            shutil.copymode(real, staged)
            backup = _back_up(real, Path(staging))
        os.replace(staged, real)
        _sync_folder(real.parent)
    return Replaced(loaded, backup)


def _back_up(path: Path, staging: Path) -> Path:
    """Copy the file (mode and times too) to `<name>.bak`, whole or not at all."""
    backup = backup_of(path)
    copy = staging / backup.name
    shutil.copy2(path, copy)
    with copy.open("rb+") as file:
        os.fsync(file.fileno())
    os.replace(copy, backup)
    return backup


def _write_synced(path: Path, content: bytes) -> None:
    with path.open("xb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())


def _sync_folder(folder: Path) -> None:
    """Make the renames themselves durable: they live in the folder's entries."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class TwoScenarioFiles(Exception):
    """`<name>.yaml` and `<name>.yml` are both there: the folder refuses both (see
    `warmup.scenario.load_scenarios`), so neither is replaced until one is removed."""


def scenario_file(folder: Path, name: str) -> Path:
    """The file of the scenario `name`: the one it has, else a new `<name>.yaml`."""
    files = [folder / f"{name}{suffix}" for suffix in (".yaml", ".yml")]
    present = [path for path in files if path.is_file()]
    if len(present) > 1:
        raise TwoScenarioFiles(*(path.name for path in present))
    return present[0] if present else files[0]
