"""Profiles' saved storage states (cookies, localStorage, IndexedDB), one JSON file each.

The engine runs on the event loop, so it uses the async `load_state` / `save_state`, which
do the reading, parsing and fsync-ed writing in a worker thread. The synchronous `load` /
`save` stay for code that is not on the loop's hot path (the /import handler, tests).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)

StorageState = dict[str, Any]

UNREADABLE_SUFFIX = ".unreadable"
_SAME_SITE = ("Strict", "Lax", "None")


class UnusableState(ValueError):
    """The file's content is not a storage state Playwright would take."""


class StateStorage(Protocol):
    """Where the engine loads a profile's state from and saves it to: files under
    DATA_DIR (`StateStore`), or the database for workers on many machines
    (`warmup.shared_files.SharedStateStore`)."""

    async def load_state(self, profile: str, seed: Path | None) -> StorageState | None: ...

    async def save_state(self, profile: str, state: StorageState) -> None: ...


class StateStore:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def path_for(self, profile: str) -> Path:
        return self._directory / f"{profile}.json"

    def load(self, profile: str, seed: Path | None) -> StorageState | None:
        """The state a run starts from: the last saved one, else the profile's seed file,
        else None (an empty browser). Never raises: a bad file only costs its cookies.

        A saved state whose content is unusable is moved aside to `<profile>.json.unreadable`
        before the run overwrites it, so whatever it held can still be looked at.
        """
        saved = self.path_for(profile)
        try:
            return _read_state(saved)
        except UnusableState as error:
            logger.warning("ignoring the saved storage state of %s: %s", profile, error)
            _set_aside(saved)
        if seed is None:
            return None
        try:
            return _read_state(seed)
        except UnusableState as error:
            logger.warning("ignoring the seed storage state %s: %s", seed.name, error)
            return None

    def save(self, profile: str, state: StorageState) -> None:
        """Write atomically, readable by the owner only: a crash leaves the old file whole.

        Each write has its own temporary file, so two writes of one profile that overlap
        (a cancelled save still finishing in its thread) cannot mix: the last one wins.
        """
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.path_for(profile)
        # mkstemp creates the file owner-only (0600).
        descriptor, name = tempfile.mkstemp(
            dir=self._directory, prefix=f".{target.name}.", suffix=".tmp"
        )
        temporary = Path(name)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(state, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    async def load_state(self, profile: str, seed: Path | None) -> StorageState | None:
        """`load`, in a worker thread: the event loop never waits for the disk."""
        return await asyncio.to_thread(self.load, profile, seed)

    async def save_state(self, profile: str, state: StorageState) -> None:
        """`save`, in a worker thread: the fsync never blocks the event loop.

        A cancelled call returns at once while the thread finishes the write, which stays
        atomic either way.
        """
        await asyncio.to_thread(self.save, profile, state)


def _read_state(path: Path) -> StorageState | None:
    """The state in the file; None when there is no file or it cannot be read (it is left
    alone: the next read may work); UnusableState when what it holds is not a state."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:  # ValueError: a NUL in the path
        if not isinstance(error, IsADirectoryError | NotADirectoryError):
            logger.warning("cannot read storage state %s: %s", path.name, error)
        return None
    try:
        state = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UnusableState("not UTF-8") from None
    except (json.JSONDecodeError, RecursionError) as error:
        raise UnusableState(f"not JSON ({type(error).__name__})") from None
    check_state(state)
    return state


def check_state(state: object) -> None:
    """Raise UnusableState unless Playwright's `new_context(storage_state=…)` would take it:
    a state it refuses would fail every run of the profile, and never be saved anew."""
    if not isinstance(state, dict):
        raise UnusableState("not a JSON object")
    cookies = state.get("cookies")
    if cookies is not None:
        if not isinstance(cookies, list):
            raise UnusableState("cookies is not a list")
        for cookie in cookies:
            _check_cookie(cookie)
    origins = state.get("origins")
    if origins is not None:
        if not isinstance(origins, list):
            raise UnusableState("origins is not a list")
        for origin in origins:
            _check_origin(origin)


def _check_cookie(cookie: object) -> None:
    if not isinstance(cookie, dict):
        raise UnusableState("a cookie is not an object")
    if not all(isinstance(cookie.get(key), str) for key in ("name", "value")):
        raise UnusableState("a cookie lacks a name or a value")
    located = isinstance(cookie.get("url"), str) or all(
        isinstance(cookie.get(key), str) for key in ("domain", "path")
    )
    if not located:
        raise UnusableState("a cookie has neither a url nor a domain and path")
    expires = cookie.get("expires")
    if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int | float)):
        raise UnusableState("a cookie's expires is not a number")
    for flag in ("httpOnly", "secure"):
        if cookie.get(flag) is not None and not isinstance(cookie[flag], bool):
            raise UnusableState(f"a cookie's {flag} is not true or false")
    if cookie.get("sameSite") is not None and cookie["sameSite"] not in _SAME_SITE:
        raise UnusableState("a cookie's sameSite is not Strict, Lax or None")


def _check_origin(origin: object) -> None:
    if not isinstance(origin, dict) or not isinstance(origin.get("origin"), str):
        raise UnusableState("an origin is not an object with an origin")
    storage = origin.get("localStorage")
    if not isinstance(storage, list) or not all(
        isinstance(item, dict)
        and isinstance(item.get("name"), str)
        and isinstance(item.get("value"), str)
        for item in storage
    ):
        raise UnusableState("an origin's localStorage is not a list of names and values")
    _check_indexed_db(origin.get("indexedDB"))


def _check_indexed_db(databases: object) -> None:
    """Only the outline of `storage_state(indexed_db=True)`'s databases.

    Playwright writes `[{"name", "version", "stores": [{"name", "autoIncrement", "keyPath"?,
    "records": [{"key" | "keyEncoded", "value" | "valueEncoded"}], "indexes": [...]}]}]`;
    the records hold the site's own values in Playwright's serialization, which only
    Playwright knows how to judge. A list of objects is all that is required here.
    """
    if databases is None:
        return
    if not isinstance(databases, list) or not all(isinstance(item, dict) for item in databases):
        raise UnusableState("an origin's indexedDB is not a list of databases")


def _set_aside(path: Path) -> None:
    try:
        os.replace(path, path.with_name(path.name + UNREADABLE_SUFFIX))
    except OSError as error:
        logger.warning("could not move %s aside: %s", path.name, error)
