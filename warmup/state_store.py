"""Profiles' saved storage states (cookies and localStorage), one JSON file each."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

StorageState = dict[str, Any]


class StateStore:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def path_for(self, profile: str) -> Path:
        return self._directory / f"{profile}.json"

    def load(self, profile: str, seed: Path | None) -> StorageState | None:
        """The state a run starts from: the last saved one, else the profile's seed file."""
        for path in (self.path_for(profile), seed):
            if path is None or not path.is_file():
                continue
            state = _read_state(path)
            if state is not None:
                return state
        return None

    def save(self, profile: str, state: StorageState) -> None:
        """Write atomically, readable by the owner only: a crash leaves the old file whole."""
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.path_for(profile)
        temporary = target.with_suffix(".json.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)


def _read_state(path: Path) -> StorageState | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        logger.warning("ignoring unreadable storage state %s: %s", path.name, type(error).__name__)
        return None
    if not isinstance(state, dict):
        logger.warning("ignoring storage state %s: not a JSON object", path.name)
        return None
    return state
