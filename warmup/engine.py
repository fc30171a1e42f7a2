"""The run executor: plays a task's runs in the shared browser, bounded and cancellable.

Every status change is written to the database first and announced as an event
after, so a listener that reads the database always sees the state it was told of.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from models import (
    FINISHED_RUN_STATUSES,
    Profile,
    RunStatus,
    TaskStatus,
    WarmupRun,
    WarmupTask,
)
from models.writes import retry_write
from warmup.artifacts import prune_artifacts
from warmup.browser import BrowserPool
from warmup.events import (
    EventBus,
    RunFailed,
    RunFinished,
    RunQueued,
    RunStarted,
    StepStarted,
    TaskFinished,
)
from warmup.player import SessionExpired, StepFailed, play
from warmup.scenario import Scenario, Step
from warmup.state_store import StateStore

logger = logging.getLogger(__name__)

SCREENSHOT_TIMEOUT_MS = 5_000


@dataclass(frozen=True, slots=True)
class EngineConfig:
    max_concurrency: int
    run_timeout: float
    max_attempts: int
    artifacts_dir: Path
    artifacts_max_age_days: float = 14
    artifacts_max_bytes: int = 500 * 1024 * 1024
    retry_delay: float = 2.0
    step_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class AttemptFailure:
    step: str | None
    error: str
    screenshot: Path | None = None
    trace: Path | None = None
    session_expired: bool = False
    """The scenario's logged_in check failed: another try would fail the same way."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Engine:
    def __init__(
        self,
        browser: BrowserPool,
        states: StateStore,
        config: EngineConfig,
        events: EventBus,
    ) -> None:
        self._browser = browser
        self._states = states
        self._config = config
        self._events = events
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._profile_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._stopping = False
        self.current_steps: dict[int, str] = {}
        """run id → label of the step it is playing now; read by progress displays."""
        self._trace_paths: dict[int, Path] = {}
        """task id → where to keep each try's trace, failed or not (`play_task`)."""

    @property
    def events(self) -> EventBus:
        return self._events

    def submit(self, task_id: int, scenario: Scenario) -> None:
        """Start playing the task's queued runs in the background."""
        if task_id in self._tasks:
            raise RuntimeError(f"task {task_id} is already running")
        runner = asyncio.create_task(
            self._execute(task_id, scenario), name=f"warmup-task-{task_id}"
        )
        self._tasks[task_id] = runner
        runner.add_done_callback(lambda _: self._tasks.pop(task_id, None))

    async def cancel(self, task_id: int) -> bool:
        """Stop a task now: its contexts are closed and unfinished runs become cancelled."""
        runner = self._tasks.get(task_id)
        if runner is None:
            return False
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        return True

    async def play_task(
        self, task_id: int, scenario: Scenario, *, trace_path: Path | None = None
    ) -> None:
        """Play a task to its end in the foreground (`python -m bot try`).

        With `trace_path`, each try's trace is written there, succeeded or not (a later try
        overwrites an earlier one). Cancelling this call cancels the task, once, and waits
        until its runs are marked cancelled.
        """
        if trace_path is not None:
            self._trace_paths[task_id] = trace_path
        self.submit(task_id, scenario)
        try:
            await asyncio.shield(self._tasks[task_id])
        except asyncio.CancelledError:
            await self.cancel(task_id)
            raise
        finally:
            self._trace_paths.pop(task_id, None)

    async def shutdown(self) -> None:
        """Stop every task; what was unfinished becomes interrupted, to be resumed later."""
        self._stopping = True
        runners = list(self._tasks.values())
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)

    async def _set_run(self, run_id: int, **fields: object) -> None:
        await retry_write(
            lambda: WarmupRun.filter(id=run_id).update(**fields), what=f"status of run {run_id}"
        )

    async def _set_task(self, task_id: int, **fields: object) -> None:
        await retry_write(
            lambda: WarmupTask.filter(id=task_id).update(**fields),
            what=f"status of task {task_id}",
        )

    async def _mark_session(self, profile_id: int, *, expired: bool) -> None:
        await retry_write(
            lambda: Profile.filter(id=profile_id).update(session_expired=expired),
            what=f"session mark of profile {profile_id}",
        )

    async def _execute(self, task_id: int, scenario: Scenario) -> None:
        runs = await WarmupRun.filter(task_id=task_id, status=RunStatus.queued).prefetch_related(
            "profile"
        )
        await self._set_task(task_id, status=TaskStatus.running)
        await retry_write(
            lambda: WarmupTask.filter(id=task_id, started_at__isnull=True).update(
                started_at=utcnow()
            ),
            what=f"start time of task {task_id}",
        )
        for run in runs:
            self._events.emit(RunQueued(task_id, run.id, run.profile.name))
        try:
            async with asyncio.TaskGroup() as group:
                for run in runs:
                    group.create_task(self._run_profile(task_id, run, scenario))
        except asyncio.CancelledError:
            if self._stopping:
                await self._stop_unfinished(task_id, RunStatus.interrupted, TaskStatus.interrupted)
            else:
                await self._stop_unfinished(task_id, RunStatus.cancelled, TaskStatus.cancelled)
            raise
        except Exception:
            logger.exception("task %d stopped by an unexpected error", task_id)
            await self._stop_unfinished(task_id, RunStatus.failed, TaskStatus.failed)
            return
        status = await self._finish_status(task_id)
        await self._set_task(task_id, status=status, finished_at=utcnow())
        self._events.emit(TaskFinished(task_id, status))
        self.prune_artifacts()

    def prune_artifacts(self) -> None:
        prune_artifacts(
            self._config.artifacts_dir,
            max_age_days=self._config.artifacts_max_age_days,
            max_bytes=self._config.artifacts_max_bytes,
        )

    async def _finish_status(self, task_id: int) -> TaskStatus:
        """Completed unless every run failed: a completed task may still hold failed runs."""
        statuses = await WarmupRun.filter(task_id=task_id).values_list("status", flat=True)
        if statuses and all(status == RunStatus.failed for status in statuses):
            return TaskStatus.failed
        return TaskStatus.completed

    async def _stop_unfinished(
        self, task_id: int, run_status: RunStatus, task_status: TaskStatus
    ) -> None:
        unfinished = (
            await WarmupRun.filter(task_id=task_id)
            .exclude(status__in=list(FINISHED_RUN_STATUSES))
            .prefetch_related("profile")
        )
        now = utcnow()
        for run in unfinished:
            await self._set_run(run.id, status=run_status, finished_at=now)
        await self._set_task(task_id, status=task_status, finished_at=now)
        for run in unfinished:
            self.current_steps.pop(run.id, None)
            self._events.emit(RunFinished(task_id, run.id, run.profile.name, run_status))
        self._events.emit(TaskFinished(task_id, task_status))

    async def _run_profile(self, task_id: int, run: WarmupRun, scenario: Scenario) -> None:
        profile = run.profile
        # The profile lock comes first so that a run waiting for its profile holds no slot.
        async with self._profile_locks[profile.name], self._slots:
            for attempt in range(1, self._config.max_attempts + 1):
                await self._set_run(
                    run.id, status=RunStatus.running, attempts=attempt, started_at=utcnow()
                )
                self._events.emit(RunStarted(task_id, run.id, profile.name, attempt))
                failure = await self._attempt(task_id, run, scenario, attempt)
                self.current_steps.pop(run.id, None)
                if failure is None or failure.session_expired:
                    await self._mark_session(profile.id, expired=failure is not None)
                if failure is None:
                    await self._set_run(
                        run.id,
                        status=RunStatus.succeeded,
                        finished_at=utcnow(),
                        failed_step=None,
                        error=None,
                        screenshot_path=None,
                        trace_path=None,
                    )
                    self._events.emit(
                        RunFinished(task_id, run.id, profile.name, RunStatus.succeeded)
                    )
                    return
                final = attempt >= self._config.max_attempts or failure.session_expired
                await self._set_run(
                    run.id,
                    status=RunStatus.failed if final else RunStatus.running,
                    finished_at=utcnow() if final else None,
                    failed_step=failure.step,
                    error=failure.error,
                    screenshot_path=str(failure.screenshot) if failure.screenshot else None,
                    trace_path=str(failure.trace) if failure.trace else None,
                )
                self._events.emit(
                    RunFailed(
                        task_id,
                        run.id,
                        profile.name,
                        attempt,
                        failure.step,
                        failure.error,
                        failure.screenshot,
                        final,
                        failure.trace,
                        failure.session_expired,
                    )
                )
                if final:
                    return
                await asyncio.sleep(self._config.retry_delay * attempt)

    async def _attempt(
        self, task_id: int, run: WarmupRun, scenario: Scenario, attempt: int
    ) -> AttemptFailure | None:
        """One try of one profile; None means it succeeded.

        Whatever goes wrong inside one profile's try (a full disk, a bug) fails that
        try only, never the other profiles of the task.
        """
        try:
            return await self._play_once(task_id, run, scenario, attempt)
        except Exception as error:
            logger.exception("run %d (%s) failed unexpectedly", run.id, run.profile.name)
            reason = _first_line(str(error)) if str(error) else "no details"
            return AttemptFailure(None, f"internal error: {type(error).__name__}: {reason}")

    async def _play_once(
        self, task_id: int, run: WarmupRun, scenario: Scenario, attempt: int
    ) -> AttemptFailure | None:
        """Play the scenario in a fresh context, save the state, close the context."""
        profile = run.profile
        seed = Path(profile.seed_state) if profile.seed_state else None
        options = dict(profile.options)
        state = self._states.load(profile.name, seed)
        if state is not None:
            options["storage_state"] = state
        variables = {**scenario.vars, **profile.vars, "profile": profile.name}
        current: list[Step] = []

        def on_step(step: Step) -> None:
            current[:] = [step]
            self.current_steps[run.id] = step.label
            self._events.emit(StepStarted(task_id, run.id, profile.name, step.path, step.label))

        context: BrowserContext | None = None
        try:
            failure: AttemptFailure | None = None
            page: Page | None = None
            try:
                async with asyncio.timeout(self._config.run_timeout):
                    context = await self._browser.new_context(options)
                    await context.tracing.start(screenshots=True, snapshots=True)
                    page = await context.new_page()
                    await play(
                        page,
                        scenario,
                        variables,
                        rng=random.Random(),
                        on_step=on_step,
                        default_timeout=self._config.step_timeout,
                    )
            except StepFailed as error:
                failure = AttemptFailure(
                    f"{error.path} ({error.label})",
                    error.reason,
                    session_expired=isinstance(error, SessionExpired),
                )
            except TimeoutError:
                step = f"{current[0].path} ({current[0].label})" if current else None
                timeout = f"{self._config.run_timeout:g}"
                failure = AttemptFailure(step, f"run timed out after {timeout} s")
            except PlaywrightError as error:
                failure = AttemptFailure(None, _first_line(error.message))
            except asyncio.CancelledError:
                if self._stopping and context is not None:
                    await self._save_state(context, profile.name)
                raise
            if context is not None:
                name = f"task{task_id}-{profile.name}-{attempt}"
                requested = self._trace_paths.get(task_id)
                if failure is not None:
                    failure = replace(
                        failure,
                        screenshot=await self._screenshot(page, name) if page else None,
                        trace=await self._stop_tracing(
                            context, requested or self._artifact(f"{name}.zip")
                        ),
                    )
                else:
                    await self._stop_tracing(context, requested)
                await self._save_state(context, profile.name)
            return failure
        finally:
            if context is not None:
                await self._browser.close_context(context)

    async def _save_state(self, context: BrowserContext, profile: str) -> None:
        try:
            state = await context.storage_state()
        except PlaywrightError as error:
            logger.warning(
                "could not read the state of %s: %s", profile, _first_line(error.message)
            )
            return
        self._states.save(profile, state)

    def _artifact(self, filename: str) -> Path:
        directory = self._config.artifacts_dir
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return directory / filename

    async def _screenshot(self, page: Page, name: str) -> Path | None:
        path = self._artifact(f"{name}.png")
        try:
            await page.screenshot(path=path, timeout=SCREENSHOT_TIMEOUT_MS)
        except PlaywrightError as error:
            logger.warning("no screenshot of %s: %s", name, _first_line(error.message))
            return None
        return _owner_only(path)

    async def _stop_tracing(self, context: BrowserContext, path: Path | None) -> Path | None:
        """Keep the trace at `path` (a failed try), or drop it (None: the try succeeded)."""
        try:
            await context.tracing.stop(path=path)
        except PlaywrightError as error:
            logger.warning("no trace kept: %s", _first_line(error.message))
            return None
        return _owner_only(path) if path is not None else None


def _owner_only(path: Path) -> Path | None:
    """The artifact, made readable by the owner only; None if it was not written."""
    if not path.is_file():
        return None
    path.chmod(0o600)
    return path


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "browser error"
