"""What the engine tells its listeners (the Telegram reporter, the terminal display).

Status events are emitted by the ledger after the change is committed, so a listener
that reads the database always finds the state it was told of. Listeners are plain
callables that must return at once: the engine never waits for a listener, so a slow
chat can never slow a browser run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models import RunStatus, TaskStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TaskSubmitted:
    """A task was created, or an interrupted one resumed, and waits for the engine."""

    task_id: int
    chat_id: int
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class RunStarted:
    task_id: int
    run_id: int
    profile: str
    attempt: int


@dataclass(frozen=True, slots=True)
class StepStarted:
    task_id: int
    run_id: int
    profile: str
    path: str
    label: str


@dataclass(frozen=True, slots=True)
class RunFinished:
    """A run ended without a failure report: succeeded, cancelled, interrupted, or failed by
    an internal error of the engine (logged)."""

    task_id: int
    run_id: int
    profile: str
    status: RunStatus


@dataclass(frozen=True, slots=True)
class RunFailed:
    """An attempt failed; `final` is true when no attempt is left and the run is failed."""

    task_id: int
    run_id: int
    profile: str
    attempt: int
    step: str | None
    error: str
    screenshot: Path | None
    final: bool
    trace: Path | None = None
    session_expired: bool = False


@dataclass(frozen=True, slots=True)
class TaskFinished:
    task_id: int
    status: TaskStatus


Event = TaskSubmitted | RunStarted | StepStarted | RunFinished | RunFailed | TaskFinished
Listener = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("event listener %r failed on %s", listener, type(event).__name__)
