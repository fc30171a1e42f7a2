"""Read-only snapshots of a task for progress displays (Telegram and the terminal)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.functions import Count

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
    counts: Counter[RunStatus]
    """How many of the task's runs are in each status."""
    runs: tuple[RunView, ...] = ()
    """Every run, in order, when the task has no more than were asked for; else none."""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> bool:
        return self.status not in ACTIVE_TASK_STATUSES

    @property
    def failed(self) -> int:
        return self.counts[RunStatus.failed]


async def load_task_view(
    task_id: int, live_steps: Mapping[int, str], *, runs_up_to: int = 0
) -> TaskView | None:
    task = await WarmupTask.get_or_none(id=task_id)
    return None if task is None else await task_view(task, live_steps, runs_up_to=runs_up_to)


async def task_view(
    task: WarmupTask, live_steps: Mapping[int, str], *, runs_up_to: int = 0
) -> TaskView:
    """The task with its counts, and its runs when it has at most `runs_up_to`: two
    queries, however many runs it has."""
    counts = (await run_counts([task.id]))[task.id]
    runs: tuple[RunView, ...] = ()
    if sum(counts.values()) <= runs_up_to:
        runs = await load_runs(task.id, live_steps)
    return _view(task, counts, runs)


async def load_task_views(tasks: Sequence[WarmupTask]) -> list[TaskView]:
    """Views of these tasks, with counts and no runs: one query for them all."""
    counts = await run_counts([task.id for task in tasks])
    return [_view(task, counts[task.id], ()) for task in tasks]


async def run_counts(task_ids: Sequence[int]) -> defaultdict[int, Counter[RunStatus]]:
    """task id → how many of its runs are in each status."""
    counts: defaultdict[int, Counter[RunStatus]] = defaultdict(Counter)
    if not task_ids:
        return counts
    rows = (
        await WarmupRun.filter(task_id__in=list(task_ids))
        .annotate(runs=Count("id"))
        .group_by("task_id", "status")
        .values_list("task_id", "status", "runs")
    )
    for task_id, status, runs in rows:
        counts[task_id][RunStatus(status)] = runs
    return counts


async def load_runs(
    task_id: int,
    live_steps: Mapping[int, str],
    *,
    only_failed: bool = False,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[RunView, ...]:
    """The task's runs in order (or its failed ones), from `offset`, at most `limit`."""
    query = WarmupRun.filter(task_id=task_id)
    if only_failed:
        query = query.filter(status=RunStatus.failed)
    query = query.order_by("id").offset(offset)
    if limit is not None:
        query = query.limit(limit)
    runs = await query.prefetch_related("profile")
    return tuple(
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
    )


def _view(task: WarmupTask, counts: Counter[RunStatus], runs: tuple[RunView, ...]) -> TaskView:
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
        counts=counts,
        runs=runs,
    )


class RelayedSteps(dict[int, str]):
    """run id → the label of the step it plays now, kept from the events that workers
    relay: what `Engine.current_steps` is in one process. An `EventBus` listener."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepStarted):
            self[event.run_id] = event.label
        elif isinstance(event, RunFinished | RunFailed):
            self.pop(event.run_id, None)
