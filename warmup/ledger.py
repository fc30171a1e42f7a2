"""The task ledger: the one owner of every status of tasks and runs.

Every change is a compare-and-set: an UPDATE that names the statuses it may leave
(`WHERE status IN (...)`) and whose row count says whether it happened. A change that
lost a race is refused (False or None) and nothing is overwritten: `/cancel` of a task
that has just completed leaves it completed; a second Resume finds the task no longer
interrupted. The moves allowed are written once, in TASK_MOVES and RUN_MOVES.

A notification that a change causes (a failed run, an interrupted task) is written to
the outbox in the same transaction as the change, so both happen or neither does.
Events are emitted after the commit, so a listener that reads the database finds what
it was told of. Nothing here awaits the browser or Telegram.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models import (
    ACTIVE_TASK_STATUSES,
    COMMAND_LINE_CHAT,
    NoticeKind,
    OutboxMessage,
    Profile,
    ProfileLease,
    RunStatus,
    TaskStatus,
    WarmupRun,
    WarmupTask,
    WorkerBeat,
)
from models.writes import retry_write
from warmup.attempt import AttemptFailure
from warmup.clock import utcnow
from warmup.events import EventBus, RunFailed, RunFinished, RunStarted, TaskFinished, TaskSubmitted

logger = logging.getLogger(__name__)

TASK_MOVES: Mapping[TaskStatus, frozenset[TaskStatus]] = MappingProxyType(
    {
        TaskStatus.pending: frozenset(
            {TaskStatus.running, TaskStatus.cancelled, TaskStatus.interrupted, TaskStatus.failed}
        ),
        TaskStatus.running: frozenset(
            {TaskStatus.completed, TaskStatus.failed, TaskStatus.cancelled, TaskStatus.interrupted}
        ),
        TaskStatus.interrupted: frozenset({TaskStatus.pending, TaskStatus.cancelled}),
        TaskStatus.completed: frozenset(),
        TaskStatus.failed: frozenset(),
        TaskStatus.cancelled: frozenset(),
    }
)
"""Where a task may go from each status. `interrupted → pending` is Resume."""

RUN_MOVES: Mapping[RunStatus, frozenset[RunStatus]] = MappingProxyType(
    {
        RunStatus.queued: frozenset(
            {RunStatus.running, RunStatus.cancelled, RunStatus.interrupted, RunStatus.failed}
        ),
        RunStatus.running: frozenset(
            {
                RunStatus.queued,
                RunStatus.running,
                RunStatus.succeeded,
                RunStatus.failed,
                RunStatus.cancelled,
                RunStatus.interrupted,
            }
        ),
        RunStatus.interrupted: frozenset({RunStatus.queued, RunStatus.cancelled}),
        RunStatus.succeeded: frozenset(),
        RunStatus.failed: frozenset(),
        RunStatus.cancelled: frozenset(),
    }
)
"""Where a run may go from each status. `running → running` is its next attempt;
`interrupted → queued` is Resume; `running → queued` gives a run whose player died (its
lease expired) to another."""

MAX_STEP = 255
"""The `failed_step` column's length."""


def task_sources(target: TaskStatus) -> list[TaskStatus]:
    """The statuses a task may reach `target` from."""
    return [status for status, targets in TASK_MOVES.items() if target in targets]


def run_sources(target: RunStatus) -> list[RunStatus]:
    """The statuses a run may reach `target` from."""
    return [status for status, targets in RUN_MOVES.items() if target in targets]


UNFINISHED_RUN_STATUSES = (RunStatus.queued, RunStatus.running)
STOPPED_RUN_STATUS: Mapping[TaskStatus, RunStatus] = MappingProxyType(
    {
        TaskStatus.cancelled: RunStatus.cancelled,
        TaskStatus.interrupted: RunStatus.interrupted,
        TaskStatus.failed: RunStatus.failed,
    }
)
"""What the unfinished runs of a task become when the task is stopped this way."""


@dataclass(frozen=True, slots=True)
class TaskRef:
    task_id: int
    chat_id: int
    language: str

    @classmethod
    def of(cls, task: WarmupTask) -> TaskRef:
        return cls(task.id, task.chat_id, task.language)


@dataclass(frozen=True, slots=True)
class RunRef:
    task: TaskRef
    run_id: int
    profile_id: int
    profile: str


@dataclass(frozen=True, slots=True)
class QueuedRun:
    """A run to play, with the profile row it plays (options, vars, seed)."""

    ref: RunRef
    profile: Profile
    attempts: int = 0
    """Attempts it has had: a run given back after its player died goes on from there."""


@dataclass(frozen=True, slots=True)
class StoppedRun:
    run_id: int
    profile: str


class Ledger:
    def __init__(
        self, events: EventBus, *, player: str, alert_chat_ids: Sequence[int] = ()
    ) -> None:
        self._events = events
        self.player = player
        """The name this process plays runs under (its lease holder name). A run records
        its player when an attempt begins, and every later write of the run names it: a
        process that lost the run to another (it stalled past its lease) is refused."""
        self._alert_chat_ids = tuple(alert_chat_ids)
        """Chats that receive every failure notification besides the task's own."""

    @property
    def events(self) -> EventBus:
        return self._events

    async def create_task(
        self,
        *,
        chat_id: int,
        user_id: int | None,
        target: str,
        scenario: str,
        language: str,
        profile_ids: Sequence[int],
        schedule_id: int | None = None,
        scenario_text: str | None = None,
    ) -> WarmupTask:
        """A pending task with a queued run per profile; `scenario_text`, the scenario's
        YAML, is what a worker on another machine plays."""

        async def create() -> WarmupTask:
            async with in_transaction():
                task = await WarmupTask.create(
                    chat_id=chat_id,
                    user_id=user_id,
                    target=target[:512],
                    scenario=scenario,
                    scenario_text=scenario_text,
                    language=language,
                    schedule_id=schedule_id,
                )
                await WarmupRun.bulk_create(
                    [WarmupRun(task=task, profile_id=profile_id) for profile_id in profile_ids]
                )
            return task

        task = await retry_write(create, what="a new task")
        self._events.emit(TaskSubmitted(task.id, task.chat_id))
        return task

    async def reopen_task(self, task_id: int) -> int | None:
        """Resume: an interrupted task becomes pending and its interrupted runs queued
        again. How many runs were queued; None when the task was not interrupted."""

        async def reopen() -> tuple[int, WarmupTask] | None:
            async with in_transaction():
                moved = await WarmupTask.filter(
                    id=task_id, status__in=task_sources(TaskStatus.pending)
                ).update(status=TaskStatus.pending, finished_at=None, progress_final=False)
                if not moved:
                    return None
                queued = await WarmupRun.filter(
                    task_id=task_id, status__in=run_sources(RunStatus.queued)
                ).update(status=RunStatus.queued, finished_at=None, played_by=None)
                task = await WarmupTask.get(id=task_id)
            return queued, task

        reopened = await retry_write(reopen, what=f"resume of task {task_id}")
        if reopened is None:
            return None
        queued, task = reopened
        self._events.emit(TaskSubmitted(task.id, task.chat_id, resumed=True))
        return queued

    async def start_task(self, task_id: int) -> tuple[TaskRef, list[QueuedRun]] | None:
        """pending → running; the queued runs to play. None when it is no longer pending
        (cancelled before the engine came to it)."""

        async def start() -> WarmupTask | None:
            async with in_transaction():
                moved = await WarmupTask.filter(
                    id=task_id, status__in=task_sources(TaskStatus.running)
                ).update(status=TaskStatus.running)
                if not moved:
                    return None
                await WarmupTask.filter(id=task_id, started_at__isnull=True).update(
                    started_at=utcnow()
                )
                return await WarmupTask.get(id=task_id)

        task = await retry_write(start, what=f"start of task {task_id}")
        if task is None:
            return None
        ref = TaskRef.of(task)
        runs = await WarmupRun.filter(task_id=task_id, status=RunStatus.queued).prefetch_related(
            "profile"
        )
        return ref, [_queued(ref, run) for run in runs]

    async def queued_run(self, run_id: int) -> QueuedRun | None:
        """The run if it waits to be played in a running task; None otherwise (it ended,
        another plays it, its task was stopped)."""
        run = await WarmupRun.get_or_none(
            id=run_id, status=RunStatus.queued, task__status=TaskStatus.running
        ).prefetch_related("task", "profile")
        return None if run is None else _queued(TaskRef.of(run.task), run)

    async def claim_run(self, run: RunRef) -> bool:
        """A worker has the run's message: the run, still queued and claimed by nobody,
        names it as its player, so that if the worker dies before it begins, the bot gives
        the run to another. False when another message of the run (here or in another
        worker) claimed it first: a run sent twice is played once.

        A claim the bot took back (the run requeued or its worker gone) is nobody's again.
        A retried claim also takes a run already claimed under this process's name: the
        write that failed may have been applied, its answer lost."""
        tries = 0

        async def claim() -> int:
            nonlocal tries
            tries += 1
            claimable = Q(played_by__isnull=True)
            if tries > 1:
                claimable |= Q(played_by=self.player)
            return await WarmupRun.filter(claimable, id=run.run_id, status=RunStatus.queued).update(
                played_by=self.player
            )

        moved = await retry_write(claim, what=f"claim of run {run.run_id}")
        return bool(moved)

    async def begin_attempt(self, run: RunRef, attempt: int, *, first: bool | None = None) -> bool:
        """queued → running for the run's first attempt here (`first`; by default the
        attempt numbered 1), running → running for the next; False when the run was
        stopped meanwhile (cancelled, interrupted) or another process plays it."""
        if first is None:
            first = attempt == 1
        if first:
            fields: dict[str, Any] = {
                "status": RunStatus.running,
                "attempts": attempt,
                "played_by": self.player,
            }
            if attempt == 1:
                fields["started_at"] = utcnow()
            moved = await retry_write(
                lambda: WarmupRun.filter(
                    id=run.run_id, status=RunStatus.queued, attempts=attempt - 1
                ).update(**fields),
                what=f"start of run {run.run_id}",
            )
        else:
            moved = await retry_write(
                lambda: self._playing(run.run_id, attempt - 1).update(attempts=attempt),
                what=f"attempt {attempt} of run {run.run_id}",
            )
        if moved:
            self._events.emit(RunStarted(run.task.task_id, run.run_id, run.profile, attempt))
        return bool(moved)

    def _playing(self, run_id: int, attempt: int) -> Any:
        """The run, if this process plays it and it is at this attempt."""
        return WarmupRun.filter(
            id=run_id, status=RunStatus.running, attempts=attempt, played_by=self.player
        )

    async def succeed_run(self, run: RunRef, attempt: int) -> bool:
        """running → succeeded; the profile's "session expired" mark is cleared with it."""

        async def succeed() -> int:
            async with in_transaction():
                moved = await self._playing(run.run_id, attempt).update(
                    status=RunStatus.succeeded,
                    finished_at=utcnow(),
                    failed_step=None,
                    error=None,
                    screenshot_path=None,
                    trace_path=None,
                )
                if moved:
                    await Profile.filter(id=run.profile_id).update(session_expired=False)
                return moved

        moved = await retry_write(succeed, what=f"success of run {run.run_id}")
        if moved:
            self._events.emit(
                RunFinished(run.task.task_id, run.run_id, run.profile, RunStatus.succeeded)
            )
        return bool(moved)

    async def fail_attempt(
        self, run: RunRef, attempt: int, failure: AttemptFailure, *, final: bool
    ) -> bool:
        """Record a failed attempt. A final one fails the run and queues its failure
        notification in the same transaction; another leaves the run running."""
        fields: dict[str, Any] = {
            "failed_step": failure.step[:MAX_STEP] if failure.step else None,
            "error": failure.error,
            "screenshot_path": str(failure.screenshot) if failure.screenshot else None,
            "trace_path": str(failure.trace) if failure.trace else None,
        }
        if final:
            fields.update(status=RunStatus.failed, finished_at=utcnow())

        async def record() -> int:
            async with in_transaction():
                moved = await self._playing(run.run_id, attempt).update(**fields)
                if moved and failure.session_expired:
                    await Profile.filter(id=run.profile_id).update(session_expired=True)
                if moved and final:
                    await self._queue_failure(run, failure)
                return moved

        moved = await retry_write(record, what=f"failure of run {run.run_id}")
        if moved:
            self._events.emit(
                RunFailed(
                    run.task.task_id,
                    run.run_id,
                    run.profile,
                    attempt,
                    failure.step,
                    failure.error,
                    failure.screenshot,
                    final,
                    failure.trace,
                    failure.session_expired,
                )
            )
        return bool(moved)

    async def _queue_failure(self, run: RunRef, failure: AttemptFailure) -> None:
        task = run.task
        if task.chat_id == COMMAND_LINE_CHAT:
            return
        chats = [task.chat_id, *(chat for chat in self._alert_chat_ids if chat != task.chat_id)]
        payload = {
            "run_id": run.run_id,
            "profile": run.profile,
            "step": failure.step,
            "error": failure.error,
            "screenshot": str(failure.screenshot) if failure.screenshot else None,
            "trace": failure.trace is not None,
            "session_expired": failure.session_expired,
        }
        await OutboxMessage.bulk_create(
            [
                OutboxMessage(
                    chat_id=chat,
                    kind=NoticeKind.run_failed,
                    task_id=task.task_id,
                    language=task.language,
                    payload=payload,
                )
                for chat in chats
            ]
        )

    async def stop_task(self, task: TaskRef, status: TaskStatus) -> bool:
        """Stop what is left of a task: its unfinished runs and the task itself become
        `status` (cancelled, interrupted, or failed by an engine error). True when the
        task itself moved; its runs move even when it had moved already (a cancel
        marks the task first, then its playing runs end)."""
        run_status = STOPPED_RUN_STATUS[status]

        async def stop() -> tuple[list[StoppedRun], bool]:
            async with in_transaction():
                stopped = await self._stop_runs(task.task_id, run_status, UNFINISHED_RUN_STATUSES)
                moved = await WarmupTask.filter(
                    id=task.task_id, status__in=task_sources(status)
                ).update(status=status, finished_at=utcnow())
            return stopped, bool(moved)

        stopped, moved = await retry_write(stop, what=f"stop of task {task.task_id}")
        self._announce_stopped(task.task_id, stopped, run_status)
        if moved:
            self._events.emit(TaskFinished(task.task_id, status))
        return moved

    async def cancel_task(self, task_id: int) -> bool:
        """pending, running or interrupted → cancelled, with every run not yet ended. Runs
        that are still playing find their next write refused and stop; the caller stops
        them at once. False when the task had already ended."""

        async def cancel() -> list[StoppedRun] | None:
            async with in_transaction():
                moved = await WarmupTask.filter(
                    id=task_id, status__in=task_sources(TaskStatus.cancelled)
                ).update(status=TaskStatus.cancelled, finished_at=utcnow())
                if not moved:
                    return None
                return await self._stop_runs(
                    task_id, RunStatus.cancelled, run_sources(RunStatus.cancelled)
                )

        stopped = await retry_write(cancel, what=f"cancel of task {task_id}")
        if stopped is None:
            return False
        self._announce_stopped(task_id, stopped, RunStatus.cancelled)
        self._events.emit(TaskFinished(task_id, TaskStatus.cancelled))
        return True

    async def finish_task(self, task: TaskRef) -> TaskStatus | None:
        """running → completed, or failed when every run failed, once no run is left to
        play; None when some are (another process plays them: the one that ends the last
        run ends the task) or the task had been stopped meanwhile."""

        async def finish() -> TaskStatus | None:
            async with in_transaction():
                statuses = await WarmupRun.filter(task_id=task.task_id).values_list(
                    "status", flat=True
                )
                if any(status in UNFINISHED_RUN_STATUSES for status in statuses):
                    return None
                status = (
                    TaskStatus.failed
                    if statuses and all(status == RunStatus.failed for status in statuses)
                    else TaskStatus.completed
                )
                moved = await WarmupTask.filter(id=task.task_id, status=TaskStatus.running).update(
                    status=status, finished_at=utcnow()
                )
            return status if moved else None

        status = await retry_write(finish, what=f"end of task {task.task_id}")
        if status is not None:
            self._events.emit(TaskFinished(task.task_id, status))
        return status

    async def requeue_abandoned(self, *, alive_within: float) -> list[QueuedRun]:
        """Runs of running tasks whose player died or stopped, for another process to
        play; the runs given back. A run left `running` with no live lease goes back to
        `queued`, the attempt it was cut short in not counted; a queued run claimed by a
        worker that has not said it is alive for `alive_within` seconds loses its claim
        (that worker took its message and died before it began)."""
        now = utcnow()
        live = set(
            await WorkerBeat.filter(seen_at__gte=now - timedelta(seconds=alive_within)).values_list(
                "name", flat=True
            )
        )
        claimed = await WarmupRun.filter(
            status=RunStatus.queued, task__status=TaskStatus.running, played_by__not_isnull=True
        ).values_list("id", "played_by")
        unclaimed = []
        for run_id, played_by in claimed:
            if played_by in live:
                continue
            moved = await retry_write(
                lambda run_id=run_id, played_by=played_by: WarmupRun.filter(
                    id=run_id, status=RunStatus.queued, played_by=played_by
                ).update(played_by=None),
                what=f"claim of run {run_id}",
            )
            if moved:
                logger.warning("run %d: its worker %s is gone before it began", run_id, played_by)
                unclaimed.append(run_id)
        given_back = unclaimed + await self._requeue_running(now)
        if not given_back:
            return []
        runs = await WarmupRun.filter(id__in=given_back).prefetch_related("task", "profile")
        return [_queued(TaskRef.of(run.task), run) for run in runs]

    async def _requeue_running(self, now: datetime) -> list[int]:
        """The `running` runs with no live lease, moved back to `queued`."""
        running = await WarmupRun.filter(
            status=RunStatus.running, task__status=TaskStatus.running
        ).values_list("id", "attempts", "played_by")
        if not running:
            return []
        alive = set(
            await ProfileLease.filter(
                run_id__in=[run_id for run_id, _, _ in running], expires_at__gte=now
            ).values_list("run_id", flat=True)
        )
        given_back = []
        for run_id, attempts, played_by in running:
            if run_id in alive:
                continue
            moved = await retry_write(
                lambda run_id=run_id, attempts=attempts, played_by=played_by: WarmupRun.filter(
                    id=run_id, status=RunStatus.running, attempts=attempts, played_by=played_by
                ).update(status=RunStatus.queued, attempts=max(attempts - 1, 0), played_by=None),
                what=f"requeue of run {run_id}",
            )
            if moved:
                logger.warning("run %d: its player %s is gone; queued again", run_id, played_by)
                given_back.append(run_id)
        return given_back

    async def recover(self, owner: str, *, lease_ttl: float, notify: bool) -> list[WarmupTask]:
        """At start, before anything may start work: what a stopped process left
        unfinished becomes interrupted.

        Leases under `owner` were left by this process's earlier life and are released.
        An active task some of whose runs are held by a live lease is being played by
        another process and is left alone; so is a command-line task younger than a
        lease's time to live (it may not have taken its lease yet). Every other active
        task is interrupted and, with `notify`, each one of a chat gets a notice (with
        Resume) in the outbox in the same transaction. Returns the interrupted tasks."""

        async def recover() -> list[tuple[WarmupTask, list[StoppedRun]]]:
            async with in_transaction():
                await ProfileLease.filter(owner=owner).delete()
                now = utcnow()
                alive = set(
                    await ProfileLease.filter(expires_at__gte=now).values_list("run_id", flat=True)
                )
                young = now - timedelta(seconds=lease_ttl)
                recovered = []
                for task in await WarmupTask.filter(status__in=list(ACTIVE_TASK_STATUSES)):
                    if task.chat_id == COMMAND_LINE_CHAT and task.created_at > young:
                        continue
                    unfinished = await WarmupRun.filter(
                        task_id=task.id, status__in=UNFINISHED_RUN_STATUSES
                    ).values_list("id", flat=True)
                    if alive.intersection(unfinished):
                        continue
                    stopped = await self._stop_runs(
                        task.id, RunStatus.interrupted, UNFINISHED_RUN_STATUSES
                    )
                    await WarmupTask.filter(
                        id=task.id, status__in=list(ACTIVE_TASK_STATUSES)
                    ).update(status=TaskStatus.interrupted, finished_at=now)
                    if notify and task.chat_id != COMMAND_LINE_CHAT:
                        await OutboxMessage.create(
                            chat_id=task.chat_id,
                            kind=NoticeKind.task_interrupted,
                            task_id=task.id,
                            language=task.language,
                            payload={"auto_resume": False},
                        )
                    recovered.append((task, stopped))
                return recovered

        recovered = await retry_write(recover, what="recovery of interrupted tasks")
        for task, stopped in recovered:
            logger.info("task %d was interrupted by a stop (%d runs)", task.id, len(stopped))
            self._announce_stopped(task.id, stopped, RunStatus.interrupted)
            self._events.emit(TaskFinished(task.id, TaskStatus.interrupted))
        return [task for task, _ in recovered]

    async def queue_notice(
        self, chat_id: int, kind: NoticeKind, language: str, **payload: Any
    ) -> None:
        """A notification that no status change carries (a schedule that could not start,
        a task that could not be resumed)."""
        await retry_write(
            lambda: OutboxMessage.create(
                chat_id=chat_id,
                kind=kind,
                task_id=payload.get("task_id"),
                language=language,
                payload=payload,
            ),
            what=f"a {kind.value} notice",
        )

    async def _stop_runs(
        self, task_id: int, status: RunStatus, sources: Sequence[RunStatus]
    ) -> list[StoppedRun]:
        """Inside a transaction: the task's runs in `sources` become `status`."""
        allowed = [source for source in sources if source in run_sources(status)]
        rows = await WarmupRun.filter(task_id=task_id, status__in=allowed).values_list(
            "id", "profile__name"
        )
        if not rows:
            return []
        await WarmupRun.filter(id__in=[run_id for run_id, _ in rows], status__in=allowed).update(
            status=status, finished_at=utcnow()
        )
        return [StoppedRun(run_id, profile) for run_id, profile in rows]

    def _announce_stopped(
        self, task_id: int, stopped: Sequence[StoppedRun], status: RunStatus
    ) -> None:
        for run in stopped:
            self._events.emit(RunFinished(task_id, run.run_id, run.profile, status))


def _queued(task: TaskRef, run: WarmupRun) -> QueuedRun:
    """A run row (its profile fetched) as the engine plays it."""
    return QueuedRun(
        RunRef(task, run.id, run.profile.id, run.profile.name), run.profile, run.attempts
    )
