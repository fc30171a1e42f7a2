"""The runs of a chat's tasks as a CSV file, written batch by batch: a fleet's history is
never held whole in memory, and the file is written in a worker thread."""

from __future__ import annotations

import asyncio
import csv
from datetime import datetime
from pathlib import Path
from typing import Any

from models import WarmupRun

BATCH = 1000
"""Runs read and written at a time."""
COLUMNS = (
    "task",
    "profile",
    "scenario",
    "status",
    "attempts",
    "started",
    "finished",
    "seconds",
    "failed_step",
    "error",
)
FIELDS = (
    "id",
    "task_id",
    "profile__name",
    "task__scenario",
    "status",
    "attempts",
    "started_at",
    "finished_at",
    "failed_step",
    "error",
)


async def export_runs(chat_id: int, since: datetime, path: Path) -> int:
    """Write the runs of this chat's tasks created since `since`, oldest first, to `path`;
    how many."""
    await asyncio.to_thread(_write, path, [COLUMNS], "w")
    written, after = 0, 0
    while True:
        rows = (
            await WarmupRun.filter(task__chat_id=chat_id, task__created_at__gte=since, id__gt=after)
            .order_by("id")
            .limit(BATCH)
            .values_list(*FIELDS)
        )
        if not rows:
            return written
        await asyncio.to_thread(_write, path, [_line(row) for row in rows], "a")
        written += len(rows)
        after = rows[-1][0]


def _line(row: tuple[Any, ...]) -> tuple[Any, ...]:
    _, task_id, profile, scenario, status, attempts, started, finished, step, error = row
    seconds = round((finished - started).total_seconds(), 1) if started and finished else ""
    return (
        task_id,
        profile,
        scenario,
        str(status),
        attempts,
        started.isoformat(timespec="seconds") if started else "",
        finished.isoformat(timespec="seconds") if finished else "",
        seconds,
        step or "",
        error or "",
    )


def _write(path: Path, lines: list[tuple[Any, ...]], mode: str) -> None:
    with path.open(mode, encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(lines)
