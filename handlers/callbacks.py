"""Button payloads: short ids only, the state lives in the database (64-byte limit).

Payloads come back from the client and may be forged: an id is accepted only as the plain
decimal digits the bot itself writes, within the range of the id columns. Anything else
fails to unpack, so no handler's filter matches and the fallback answers the press.
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import BeforeValidator, Field

from handlers.arguments import MAX_ID
from handlers.pages import MAX_PAGE
from warmup.fleet import ProfileShow

_PLAIN_ID = re.compile(r"[1-9][0-9]{0,9}")


def _plain_digits(value: object) -> object:
    """Refuse what int() would stretch to a number: "+1", " 1", "1.0", "1_0", Arabic digits."""
    if isinstance(value, str) and not _PLAIN_ID.fullmatch(value):
        raise ValueError("not an id")
    return value


RecordId = Annotated[int, BeforeValidator(_plain_digits), Field(ge=1, le=MAX_ID)]
PageNumber = Annotated[int, BeforeValidator(_plain_digits), Field(ge=1, le=MAX_PAGE)]


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
    page: PageNumber | None = None
    """The /schedules page the button is on, shown again after the press; None for the
    message of the schedule alone (the reply to /schedule)."""


_TAG_KEY = re.compile(r"[0-9a-f]{8}")


def tag_key(tag: str) -> str:
    """A tag as a button carries it: 8 hex digits, whatever the tag's length and characters
    (a payload has 64 bytes, and ':' separates its fields). The bot finds the tag again
    among those in use."""
    return hashlib.blake2s(tag.encode(), digest_size=4).hexdigest()


def _tag_key_or_none(value: object) -> object:
    if isinstance(value, str) and value and not _TAG_KEY.fullmatch(value):
        raise ValueError("not a tag key")
    return value


class ProfilesPage(CallbackData, prefix="pp"):
    page: PageNumber
    show: ProfileShow
    tag: Annotated[str, BeforeValidator(_tag_key_or_none)] = ""
    """`tag_key` of the tag the list is limited to, or "" for every tag."""


class TasksPage(CallbackData, prefix="tp"):
    page: PageNumber
    running: bool
    """/status (the running tasks) rather than /tasks (the latest)."""


class RunsPage(CallbackData, prefix="rp"):
    """A task's runs, profile by profile: /status <task> and Details."""

    task_id: RecordId
    page: PageNumber
    only_failed: bool


class SchedulesPage(CallbackData, prefix="sp"):
    page: PageNumber


class ScenariosPage(CallbackData, prefix="cp"):
    page: PageNumber
