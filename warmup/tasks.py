"""Creating, restarting and cancelling warmup tasks: the operations behind commands and buttons."""

from __future__ import annotations

from collections.abc import Sequence

from tortoise.transactions import in_transaction

from models import (
    ACTIVE_TASK_STATUSES,
    Profile,
    RunStatus,
    Schedule,
    TaskStatus,
    WarmupRun,
    WarmupTask,
)
from warmup.catalog import Catalog
from warmup.checks import missing_variables
from warmup.engine import Engine, utcnow
from warmup.i18n import _
from warmup.scenario import Scenario
from warmup.targets import resolve_target

CANCELLABLE_TASK_STATUSES = frozenset({*ACTIVE_TASK_STATUSES, TaskStatus.interrupted})


async def active_runs(profile_names: Sequence[str]) -> list[WarmupRun]:
    """The queued or running runs of these profiles, in any task, oldest first."""
    return (
        await WarmupRun.filter(
            profile__name__in=list(profile_names),
            status__in=[RunStatus.queued, RunStatus.running],
        )
        .order_by("id")
        .prefetch_related("profile")
    )


class TaskError(ValueError):
    """The operation cannot be done; the message says why, in the operator's words."""


class TaskService:
    def __init__(self, engine: Engine, catalog: Catalog) -> None:
        self._engine = engine
        self._catalog = catalog

    async def start(
        self,
        *,
        chat_id: int,
        user_id: int | None,
        target: str,
        scenario: str | None,
        language: str = "en",
    ) -> WarmupTask:
        chosen = self._catalog.scenario(scenario)
        names = resolve_target(target, self._catalog.profiles)
        return await self._create(chat_id, user_id, target, chosen, names, language)

    def _check_variables(self, scenario: Scenario, names: Sequence[str]) -> None:
        """Refuse before anything runs when a profile lacks a value the scenario uses."""
        problems = missing_variables(scenario, [self._catalog.profiles[name] for name in names])
        if problems:
            raise TaskError(problems[0])

    async def restart(
        self, task: WarmupTask, *, only_failed: bool, user_id: int | None
    ) -> WarmupTask:
        runs = await WarmupRun.filter(task_id=task.id).prefetch_related("profile")
        if only_failed:
            runs = [run for run in runs if run.status == RunStatus.failed]
            if not runs:
                raise TaskError(
                    _("task #{task_id} has no failed profile to restart").format(task_id=task.id)
                )
        label = f"{'failed' if only_failed else 'all'} of #{task.id}"
        return await self._recreate(task, user_id, label, [run.profile.name for run in runs])

    async def retry_run(self, run: WarmupRun, *, user_id: int | None) -> WarmupTask:
        await run.fetch_related("task", "profile")
        label = f"{run.profile.name} of #{run.task.id}"
        return await self._recreate(run.task, user_id, label, [run.profile.name])

    async def cancel(self, task: WarmupTask) -> bool:
        """True when the task was running or waiting for Resume and is now cancelled."""
        if await self._engine.cancel(task.id):
            return True
        if task.status not in CANCELLABLE_TASK_STATUSES:
            return False
        now = utcnow()
        await WarmupRun.filter(
            task_id=task.id, status__in=[RunStatus.queued, RunStatus.interrupted]
        ).update(status=RunStatus.cancelled, finished_at=now)
        await WarmupTask.filter(id=task.id).update(status=TaskStatus.cancelled, finished_at=now)
        return True

    async def resume(self, task: WarmupTask) -> int:
        """Play again the runs of an interrupted task that had not finished; how many."""
        if task.status != TaskStatus.interrupted:
            raise TaskError(
                _("task #{task_id} is {status}, not interrupted").format(
                    task_id=task.id, status=task.status.value
                )
            )
        scenario = self._catalog.scenario(task.scenario)
        resumed = await WarmupRun.filter(task_id=task.id, status=RunStatus.interrupted).update(
            status=RunStatus.queued, finished_at=None
        )
        await WarmupTask.filter(id=task.id).update(status=TaskStatus.pending, finished_at=None)
        self._engine.submit(task.id, scenario)
        return resumed

    async def mark_interrupted(self) -> list[WarmupTask]:
        """At start: what a stopped process left pending or running becomes interrupted."""
        tasks = await WarmupTask.filter(status__in=list(ACTIVE_TASK_STATUSES))
        now = utcnow()
        for task in tasks:
            await WarmupRun.filter(
                task_id=task.id, status__in=[RunStatus.queued, RunStatus.running]
            ).update(status=RunStatus.interrupted, finished_at=now)
            await WarmupTask.filter(id=task.id).update(
                status=TaskStatus.interrupted, finished_at=now
            )
        return tasks

    async def _recreate(
        self, task: WarmupTask, user_id: int | None, label: str, names: Sequence[str]
    ) -> WarmupTask:
        scenario = self._catalog.scenario(task.scenario)
        gone = [name for name in names if name not in self._catalog.profiles]
        if gone:
            raise TaskError(
                _("no longer in the profiles file: {names}").format(names=", ".join(gone))
            )
        return await self._create(task.chat_id, user_id, label, scenario, names, task.language)

    async def _create(
        self,
        chat_id: int,
        user_id: int | None,
        target: str,
        scenario: Scenario,
        names: Sequence[str],
        language: str,
        schedule_id: int | None = None,
    ) -> WarmupTask:
        self._check_variables(scenario, names)
        profiles = {profile.name: profile for profile in await Profile.filter(name__in=names)}
        async with in_transaction():
            task = await WarmupTask.create(
                chat_id=chat_id,
                user_id=user_id,
                target=target[:512],
                scenario=scenario.name,
                language=language,
                schedule_id=schedule_id,
            )
            await WarmupRun.bulk_create(
                [WarmupRun(task=task, profile=profiles[name]) for name in names]
            )
        self._engine.submit(task.id, scenario)
        return task

    def check(self, target: str, scenario: str | None) -> Scenario:
        """Refuse what `start` would refuse, without starting anything (for /schedule)."""
        chosen = self._catalog.scenario(scenario)
        self._check_variables(chosen, resolve_target(target, self._catalog.profiles))
        return chosen

    async def start_scheduled(self, schedule: Schedule) -> WarmupTask | None:
        """One occurrence of a schedule, as a task of the schedule's chat.

        A schedule never starts a profile that is already running: profiles with a queued
        or running run in any task are left out of this occurrence. None when none is left.
        """
        scenario = self._catalog.scenario(schedule.scenario)
        names = resolve_target(schedule.target, self._catalog.profiles)
        busy = {run.profile.name for run in await active_runs(names)}
        free = [name for name in names if name not in busy]
        if not free:
            return None
        return await self._create(
            schedule.chat_id,
            schedule.user_id,
            schedule.target,
            scenario,
            free,
            schedule.language,
            schedule_id=schedule.id,
        )
