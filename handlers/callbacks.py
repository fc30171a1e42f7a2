"""Button payloads: short ids only, the state lives in the database (64-byte limit)."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class TaskActionKind(StrEnum):
    cancel = "c"
    restart_failed = "f"
    restart_all = "a"
    details = "d"
    resume = "r"


class TaskAction(CallbackData, prefix="t"):
    action: TaskActionKind
    task_id: int


class RunRetry(CallbackData, prefix="r"):
    run_id: int
