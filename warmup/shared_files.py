"""Files every machine reads in the distributed mode, kept in the database's `shared_file`
table: the profiles' storage states, their seed files, the screenshots and traces.

In one process they stay plain files under DATA_DIR (`warmup.state_store`,
`warmup.artifacts`). With workers, a worker saves a profile's state here and the next
worker to play it, on any machine, starts from it; a worker's screenshot or trace is
copied here, and the bot fetches it into its own DATA_DIR when it sends it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from tortoise.exceptions import IntegrityError

from models import SharedFile
from models.writes import retry_write
from warmup.clock import utcnow
from warmup.profiles import ProfileConfig
from warmup.state_store import StorageState, UnusableState, check_state

logger = logging.getLogger(__name__)

STATES = "states/"
SEEDS = "seeds/"
ARTIFACTS = "artifacts/"


async def put_file(key: str, content: bytes) -> None:
    """Store `content` under `key`, replacing what was there."""

    async def write() -> None:
        if await SharedFile.filter(key=key).update(content=content, updated_at=utcnow()):
            return
        try:
            await SharedFile.create(key=key, content=content)
        except IntegrityError:  # created meanwhile by another process: the last one wins
            await SharedFile.filter(key=key).update(content=content, updated_at=utcnow())

    await retry_write(write, what=f"shared file {key}")


async def get_file(key: str) -> bytes | None:
    content = await SharedFile.filter(key=key).values_list("content", flat=True)
    return bytes(content[0]) if content else None


class SharedStateStore:
    """`StateStore`'s async half, in the database: what a worker plays from and saves."""

    async def load_state(self, profile: str, seed: Path | None) -> StorageState | None:
        """The last saved state, else the profile's seed (as the bot shared it, or the
        file itself when this machine has it), else None. A bad one is logged and
        skipped, as `StateStore.load` does."""
        for key in (STATES + f"{profile}.json", SEEDS + f"{profile}.json"):
            content = await get_file(key)
            if content is None:
                continue
            try:
                return await asyncio.to_thread(_parse, content)
            except UnusableState as error:
                logger.warning("ignoring the shared %s: %s", key, error)
        if seed is not None and await asyncio.to_thread(seed.is_file):
            try:
                return await asyncio.to_thread(_parse, await asyncio.to_thread(seed.read_bytes))
            except (UnusableState, OSError) as error:
                logger.warning("ignoring the seed storage state %s: %s", seed.name, error)
        return None

    async def save_state(self, profile: str, state: StorageState) -> None:
        content = await asyncio.to_thread(lambda: json.dumps(state).encode("utf-8"))
        await put_file(STATES + f"{profile}.json", content)


def _parse(content: bytes) -> StorageState:
    try:
        state = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise UnusableState("not JSON") from None
    check_state(state)
    return state  # type: ignore[no-any-return]


async def share_seeds(profiles: Mapping[str, ProfileConfig]) -> int:
    """The bot's seed files, for workers on other machines; how many were shared."""
    shared = 0
    for name, profile in profiles.items():
        seed = profile.storage_state
        if seed is None:
            continue
        try:
            content = await asyncio.to_thread(seed.read_bytes)
        except OSError as error:
            logger.warning("seed of %s not shared: %s", name, error.strerror or error)
            continue
        await put_file(SEEDS + f"{name}.json", content)
        shared += 1
    return shared


async def share_artifact(path: Path) -> None:
    """A screenshot or trace this worker wrote, moved into the database for the bot to
    send: the worker keeps no copy, its disk is not where anybody looks."""
    try:
        content = await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        logger.warning("artifact %s not shared: %s", path.name, error.strerror or error)
        return
    await put_file(ARTIFACTS + path.name, content)
    await asyncio.to_thread(path.unlink, missing_ok=True)


async def local_artifact(recorded: str | Path | None, artifacts_dir: Path) -> Path | None:
    """The artifact as a file on this machine: where it was written, else its copy in
    `artifacts_dir`, fetched from the database if only a worker had it; None when it
    is nowhere (pruned)."""
    if recorded is None:
        return None
    path = Path(recorded)
    if await asyncio.to_thread(path.is_file):
        return path
    copy = artifacts_dir / path.name
    if await asyncio.to_thread(copy.is_file):
        return copy
    content = await get_file(ARTIFACTS + path.name)
    if content is None:
        return None
    await asyncio.to_thread(_write_private, copy, content)
    return copy


def _write_private(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(content)
    path.chmod(0o600)


async def prune_shared_artifacts(max_age_days: float) -> int:
    """Shared screenshots and traces older than `max_age_days`; how many were deleted."""
    before = utcnow() - timedelta(days=max_age_days)
    return await SharedFile.filter(key__startswith=ARTIFACTS, updated_at__lt=before).delete()
