"""Button payloads: short ids only, the state lives in the database (64-byte limit).

Payloads come back from the client and may be forged: an id is accepted only as the plain
decimal digits the bot itself writes, within the range of the id columns. Anything else
fails to unpack, so no handler's filter matches and the fallback answers the press.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import BeforeValidator, Field

from handlers.arguments import MAX_ID

_PLAIN_ID = re.compile(r"[1-9][0-9]{0,9}")


def _plain_digits(value: object) -> object:
    """Refuse what int() would stretch to a number: "+1", " 1", "1.0", "1_0", Arabic digits."""
    if isinstance(value, str) and not _PLAIN_ID.fullmatch(value):
        raise ValueError("not an id")
    return value


RecordId = Annotated[int, BeforeValidator(_plain_digits), Field(ge=1, le=MAX_ID)]


class TaskActionKind(StrEnum):
    cancel = "c"
    restart_failed = "f"
    restart_all = "a"
    details = "d"
    resume = "r"


class TaskAction(CallbackData, prefix="t"):
    action: TaskActionKind
    task_id: RecordId


class RunActionKind(StrEnum):
    retry = "r"
    trace = "t"


class RunAction(CallbackData, prefix="r"):
    action: RunActionKind
    run_id: RecordId


class ScheduleActionKind(StrEnum):
    pause = "p"
    resume = "r"
    delete = "d"


class ScheduleAction(CallbackData, prefix="s"):
    action: ScheduleActionKind
    schedule_id: RecordId
