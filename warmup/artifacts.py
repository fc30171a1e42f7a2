"""Pruning the screenshots and traces of failed runs, by age and by total size."""

from __future__ import annotations

import logging
import time
from pathlib import Path

logger = logging.getLogger(__name__)

DAY = 24 * 3600


def prune_artifacts(
    directory: Path, *, max_age_days: float, max_bytes: int, now: float | None = None
) -> int:
    """Delete files older than `max_age_days`, then the oldest until at most `max_bytes`
    remain. Returns how many were deleted."""
    if not directory.is_dir():
        return 0
    now = time.time() if now is None else now
    files = sorted(
        (path for path in directory.iterdir() if path.is_file()),
        key=lambda path: path.stat().st_mtime,
    )
    kept: list[tuple[Path, int]] = []
    removed = 0
    for path in files:
        status = path.stat()
        if now - status.st_mtime > max_age_days * DAY:
            path.unlink(missing_ok=True)
            removed += 1
        else:
            kept.append((path, status.st_size))
    total = sum(size for _, size in kept)
    for path, size in kept:
        if total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size
        removed += 1
    if removed:
        logger.info("pruned %d old artifacts from %s", removed, directory)
    return removed
