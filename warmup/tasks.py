"""The one way work starts: every origin (a command, a button, a schedule, Resume, the
command line) asks this service, which checks the request the same way for all of them
and records the task through the ledger before the engine plays it.

The checks: the scenario is valid; every profile is still in the profiles file; no
profile lacks a `{var}` the scenario uses. What a busy profile (queued or playing in
another task, or leased by another process) means depends on the origin: a chat's task
waits for it, a schedule leaves it out of that occurrence, `python -m bot try` refuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from models import (
    COMMAND_LINE_CHAT,
    Profile,
    ProfileLease,
    RunStatus,
    Schedule,
    TaskStatus,
    WarmupRun,
    WarmupTask,
)
from warmup.catalog import Catalog
from warmup.checks import missing_variables
from warmup.clock import utcnow
from warmup.i18n import _
from warmup.ledger import Ledger
from warmup.profiles import ProfileConfig
from warmup.scenario import Scenario
from warmup.status_words import task_headline
from warmup.targets import listed, resolve_target


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


async def busy_profiles(profile_names: Sequence[str]) -> set[str]:
    """Those of these profiles that a task is waiting for or playing, here or in another
    process (a live lease)."""
    busy = {run.profile.name for run in await active_runs(profile_names)}
    leased = await ProfileLease.filter(
        profile__name__in=list(profile_names), expires_at__gte=utcnow()
    ).values_list("profile__name", flat=True)
    return busy | set(leased)


class TaskError(ValueError):
    """The operation cannot be done; the message says why, in the operator's words."""


class TaskPlayer(Protocol):
    """What plays a task once the ledger has it: the engine in this process, or the
    dispatch to workers (`warmup.dispatch.Dispatch`)."""

    def submit(
        self, task_id: int, scenario: Scenario, *, trace_path: Path | None = None
    ) -> asyncio.Task[None]: ...

    async def stop(self, task_id: int) -> None: ...


class TaskService:
    def __init__(self, ledger: Ledger, engine: TaskPlayer, catalog: Catalog) -> None:
        self._ledger = ledger
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
        """/warmup: a task for the target's profiles."""
        chosen = self._catalog.scenario(scenario)
        names = resolve_target(target, self._catalog.profiles)
        self._admit(chosen, names)
        return await self._open(chat_id, user_id, target, chosen, names, language)

    async def restart(
        self, task: WarmupTask, *, only_failed: bool, user_id: int | None
    ) -> WarmupTask:
        """Restart all / Restart failed: a new task with the same scenario."""
        runs = await WarmupRun.filter(task_id=task.id).prefetch_related("profile")
        if only_failed:
            runs = [run for run in runs if run.status == RunStatus.failed]
            if not runs:
                raise TaskError(
                    _("task #{task_id} has no failed profile to restart").format(task_id=task.id)
                )
        label = f"{'failed' if only_failed else 'all'} of #{task.id}"
        scenario = self._catalog.scenario(task.scenario)
        names = [run.profile.name for run in runs]
        self._admit(scenario, names)
        return await self._open(task.chat_id, user_id, label, scenario, names, task.language)

    async def retry_run(self, run: WarmupRun, *, user_id: int | None) -> WarmupTask:
        """Retry under a failure notification: a new task for that one profile."""
        await run.fetch_related("task", "profile")
        label = f"{run.profile.name} of #{run.task.id}"
        scenario = self._catalog.scenario(run.task.scenario)
        self._admit(scenario, [run.profile.name])
        return await self._open(
            run.task.chat_id, user_id, label, scenario, [run.profile.name], run.task.language
        )

    async def start_scheduled(self, schedule: Schedule) -> WarmupTask | None:
        """One occurrence of a schedule. Profiles that are busy are left out of it; None
        when none is left."""
        scenario = self._catalog.scenario(schedule.scenario)
        names = resolve_target(schedule.target, self._catalog.profiles)
        self._admit(scenario, names)
        busy = await busy_profiles(names)
        free = [name for name in names if name not in busy]
        if not free:
            return None
        return await self._open(
            schedule.chat_id,
            schedule.user_id,
            schedule.target,
            scenario,
            free,
            schedule.language,
            schedule_id=schedule.id,
        )

    async def start_command_line(
        self, profile: ProfileConfig, scenario: Scenario, *, trace_path: Path | None = None
    ) -> WarmupTask:
        """`python -m bot try`: a task of the command line's chat for one profile, which
        may be an ad-hoc one (not in the profiles file). A busy profile is refused."""
        ad_hoc = profile.name not in self._catalog.profiles
        self._admit(scenario, [profile.name], {profile.name: profile})
        if await busy_profiles([profile.name]):
            raise TaskError(
                _(
                    "profile '{profile}' is playing or waiting to play in another task "
                    "(perhaps the bot's); try again when it is done"
                ).format(profile=profile.name)
            )
        if ad_hoc:
            # Inactive: a run needs a profile row, and the bot must not offer this one.
            await Profile.get_or_create(
                name=profile.name,
                defaults={"tags": [], "vars": {}, "options": {}, "active": False},
            )
        return await self._open(
            COMMAND_LINE_CHAT,
            None,
            profile.name,
            scenario,
            [profile.name],
            "en",
            trace_path=trace_path,
        )

    async def resume(self, task: WarmupTask) -> int:
        """Play again the runs of an interrupted task that had not finished; how many.
        Pressed twice at once, the second press finds the task no longer interrupted."""
        if task.status != TaskStatus.interrupted:
            raise _not_interrupted(task)
        scenario = self._catalog.scenario(task.scenario)
        names = await WarmupRun.filter(task_id=task.id, status=RunStatus.interrupted).values_list(
            "profile__name", flat=True
        )
        self._admit(scenario, names)
        queued = await self._ledger.reopen_task(task.id)
        if queued is None:
            await task.refresh_from_db()
            raise _not_interrupted(task)
        self._engine.submit(task.id, scenario)
        return queued

    async def cancel(self, task: WarmupTask) -> bool:
        """True when the task was pending, running or interrupted and is now cancelled;
        False when it had already ended. Its playing runs are stopped before this returns."""
        if not await self._ledger.cancel_task(task.id):
            return False
        await self._engine.stop(task.id)
        return True

    def check(self, target: str, scenario: str | None) -> Scenario:
        """Refuse what `start` would refuse, without starting anything (for /schedule)."""
        chosen = self._catalog.scenario(scenario)
        self._admit(chosen, resolve_target(target, self._catalog.profiles))
        return chosen

    def _admit(
        self,
        scenario: Scenario,
        names: Sequence[str],
        extra: Mapping[str, ProfileConfig] | None = None,
    ) -> None:
        """The checks every start passes; TaskError with the first problem."""
        profiles = {**self._catalog.profiles, **(extra or {})}
        gone = [name for name in names if name not in profiles]
        if gone:
            raise TaskError(_("no longer in the profiles file: {names}").format(names=listed(gone)))
        problems = missing_variables(scenario, [profiles[name] for name in names])
        if problems:
            raise TaskError(problems[0])

    async def _open(
        self,
        chat_id: int,
        user_id: int | None,
        target: str,
        scenario: Scenario,
        names: Sequence[str],
        language: str,
        *,
        schedule_id: int | None = None,
        trace_path: Path | None = None,
    ) -> WarmupTask:
        ids = dict(await Profile.filter(name__in=list(names)).values_list("name", "id"))
        task = await self._ledger.create_task(
            chat_id=chat_id,
            user_id=user_id,
            target=target,
            scenario=scenario.name,
            language=language,
            profile_ids=[ids[name] for name in names],
            schedule_id=schedule_id,
            scenario_text=scenario.text or None,
        )
        self._engine.submit(task.id, scenario, trace_path=trace_path)
        return task


def _not_interrupted(task: WarmupTask) -> TaskError:
    return TaskError(
        _("task #{task_id} is {status}, not interrupted").format(
            task_id=task.id, status=task_headline(task.status).lower()
        )
    )
