"""Schedules: warmups that start by themselves (to be built: issue 4)."""

from __future__ import annotations

from collections.abc import Callable

from models import WarmupTask
from warmup.tasks import TaskService


class Scheduler:
    def __init__(self, tasks: TaskService, on_started: Callable[[WarmupTask], None]) -> None:
        self._tasks = tasks
        self._on_started = on_started

    def start(self) -> None:
        """Start the background loop."""

    def wake(self) -> None:
        """A schedule was added or changed: look again at what is due."""

    async def close(self) -> None:
        """Stop the loop."""
