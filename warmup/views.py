"""Read-only snapshots of a task for progress displays (Telegram and the terminal)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from models import ACTIVE_TASK_STATUSES, RunStatus, TaskStatus, WarmupRun, WarmupTask
from warmup.events import Event, RunFailed, RunFinished, StepStarted


@dataclass(frozen=True, slots=True)
class RunView:
    run_id: int
    profile: str
    status: RunStatus
    attempts: int
    step: str | None
    """The step being played now, for a running run."""
    failed_step: str | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class TaskView:
    task_id: int
    chat_id: int
    target: str
    scenario: str
    language: str
    status: TaskStatus
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    runs: tuple[RunView, ...]

    @property
    def counts(self) -> Counter[RunStatus]:
        return Counter(run.status for run in self.runs)

    @property
    def finished(self) -> bool:
        return self.status not in ACTIVE_TASK_STATUSES

    @property
    def failed(self) -> int:
        return self.counts[RunStatus.failed]


async def load_task_view(task_id: int, live_steps: Mapping[int, str]) -> TaskView | None:
    task = await WarmupTask.get_or_none(id=task_id)
    if task is None:
        return None
    runs = await WarmupRun.filter(task_id=task_id).prefetch_related("profile")
    return TaskView(
        task_id=task.id,
        chat_id=task.chat_id,
        target=task.target,
        scenario=task.scenario,
        language=task.language,
        status=task.status,
        created_at=task.created_at,
        started_at=task.started_at,
        finished_at=task.finished_at,
        runs=tuple(
            RunView(
                run_id=run.id,
                profile=run.profile.name,
                status=run.status,
                attempts=run.attempts,
                step=live_steps.get(run.id) if run.status == RunStatus.running else None,
                failed_step=run.failed_step,
                error=run.error,
                started_at=run.started_at,
                finished_at=run.finished_at,
            )
            for run in runs
        ),
    )


class RelayedSteps(dict[int, str]):
    """run id → the label of the step it plays now, kept from the events that workers
    relay: what `Engine.current_steps` is in one process. An `EventBus` listener."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepStarted):
            self[event.run_id] = event.label
        elif isinstance(event, RunFinished | RunFailed):
            self.pop(event.run_id, None)
