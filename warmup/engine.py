"""The orchestrator: plays a task's runs with bounded concurrency, leases and retries.

It never touches Playwright: one attempt of one profile is played by a `PlayAttempt`
(`warmup.attempt.BrowserAttempt` in production, a fake in tests), and every status goes
through the ledger. A run first takes its profile's lease (waiting while another run
holds it, without a slot), then a slot for each attempt; between attempts it gives the
slot back, so a run waiting to retry never keeps another profile from playing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from models import Profile, TaskStatus
from warmup.artifacts import prune_artifacts
from warmup.attempt import AttemptFailure, AttemptPlan, PlayAttempt, ProfileSpec
from warmup.autoscale import AdjustableLimit
from warmup.events import EventBus, StepStarted
from warmup.leases import LeaseKeeper
from warmup.ledger import Ledger, QueuedRun, RunRef
from warmup.scenario import Scenario, Step

logger = logging.getLogger(__name__)

ATTEMPT_SLACK = 60.0
"""Seconds an attempt may overrun its RUN_TIMEOUT before the engine gives up on it. The
attempt bounds every browser call itself; this only guards a slot against a defect."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    run_timeout: float
    max_attempts: int
    artifacts_dir: Path
    artifacts_max_age_days: float = 14
    artifacts_max_bytes: int = 500 * 1024 * 1024
    retry_delay: float = 2.0


def profile_spec(profile: Profile) -> ProfileSpec:
    return ProfileSpec(
        name=profile.name,
        options=dict(profile.options),
        vars=dict(profile.vars),
        seed_state=Path(profile.seed_state) if profile.seed_state else None,
    )


class Engine:
    def __init__(
        self,
        ledger: Ledger,
        leases: LeaseKeeper,
        play: PlayAttempt,
        config: EngineConfig,
        slots: AdjustableLimit,
    ) -> None:
        self._ledger = ledger
        self._leases = leases
        self._play = play
        self._config = config
        self._slots = slots
        """Sessions playing at once: MAX_CONCURRENCY, or resized by an autoscaler."""
        self._runners: dict[int, asyncio.Task[None]] = {}
        """task id → the background task playing it."""
        self._playing: dict[int, tuple[int, asyncio.Task[None]]] = {}
        """run id → (its task's id, the asyncio task playing it), to stop that run alone."""
        self._lost: set[int] = set()
        """Runs stopped because another process took their profile's lease over."""
        self._cancelled: set[int] = set()
        """Runs stopped because their task was cancelled (the ledger has marked them)."""
        self._stopping = False
        self.current_steps: dict[int, str] = {}
        """run id → label of the step it is playing now; read by progress displays."""

    @property
    def events(self) -> EventBus:
        return self._ledger.events

    def submit(
        self, task_id: int, scenario: Scenario, *, trace_path: Path | None = None
    ) -> asyncio.Task[None]:
        """Play the task's queued runs in the background. The ledger's compare-and-set
        (pending once) is what keeps a task from being submitted twice."""
        if task_id in self._runners:
            raise RuntimeError(f"task {task_id} is already being played")
        runner = asyncio.create_task(
            self._execute(task_id, scenario, trace_path), name=f"warmup-task-{task_id}"
        )
        self._runners[task_id] = runner
        runner.add_done_callback(lambda _: self._runners.pop(task_id, None))
        return runner

    async def finished(self, task_id: int) -> None:
        """Wait until the task's runner is done: the task has ended or was stopped.
        Cancelling this wait leaves the task playing."""
        runner = self._runners.get(task_id)
        if runner is not None:
            await asyncio.shield(runner)

    async def stop(self, task_id: int) -> None:
        """Stop the task's playing runs now (their contexts are closed) and wait for it.
        The ledger has marked the task and its runs cancelled already; this ends what
        still plays."""
        runner = self._runners.get(task_id)
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    async def play_run(self, queued: QueuedRun, scenario: Scenario) -> None:
        """Play one run of a task another process started (a worker's message), then end
        the task if that was its last run.

        If this process still plays the run, it stalled past its lease and the bot gave
        the run to the queue again: that play is stopped (nothing it writes is taken any
        more) and this one starts afresh."""
        previous = self._playing.get(queued.ref.run_id)
        if previous is not None:
            self.lease_lost(queued.ref.run_id)
            await asyncio.gather(previous[1], return_exceptions=True)
        await self._run_profile(queued, scenario, None)
        await self._ledger.finish_task(queued.ref.task)

    def cancel_runs(self, task_id: int) -> int:
        """Stop the runs of this task playing here, whose cancel the ledger has recorded
        (told by the process that cancelled it); how many."""
        stopped = 0
        for run_id, (playing_task, playing) in list(self._playing.items()):
            if playing_task == task_id:
                self._cancelled.add(run_id)
                playing.cancel()
                stopped += 1
        if stopped:
            logger.info("task %d was cancelled: %d of its runs stopped here", task_id, stopped)
        return stopped

    def playing_runs(self) -> dict[int, int]:
        """run id → task id of every run playing here now (waiting for a lease or a slot
        included)."""
        return {run_id: task_id for run_id, (task_id, _) in self._playing.items()}

    def lease_lost(self, run_id: int) -> None:
        """Another process took over this run's lease (ours had expired): stop playing it."""
        playing = self._playing.get(run_id)
        if playing is not None:
            self._lost.add(run_id)
            playing[1].cancel()

    async def shutdown(self) -> None:
        """Stop every task; what was unfinished becomes interrupted, to be resumed later."""
        self._stopping = True
        runners = list(self._runners.values())
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)

    async def prune_artifacts(self) -> None:
        """Old screenshots and traces, deleted in a thread: the folder may be large."""
        await asyncio.to_thread(
            prune_artifacts,
            self._config.artifacts_dir,
            max_age_days=self._config.artifacts_max_age_days,
            max_bytes=self._config.artifacts_max_bytes,
        )

    async def _execute(self, task_id: int, scenario: Scenario, trace_path: Path | None) -> None:
        started = await self._ledger.start_task(task_id)
        if started is None:
            logger.info("task %d was stopped before it started", task_id)
            return
        task, runs = started
        try:
            async with asyncio.TaskGroup() as group:
                for run in runs:
                    group.create_task(self._run_profile(run, scenario, trace_path))
        except asyncio.CancelledError:
            status = TaskStatus.interrupted if self._stopping else TaskStatus.cancelled
            await self._ledger.stop_task(task, status)
            raise
        except Exception:
            logger.exception("task %d stopped by an unexpected error", task_id)
            await self._ledger.stop_task(task, TaskStatus.failed)
            return
        await self._ledger.finish_task(task)
        await self.prune_artifacts()

    async def _run_profile(
        self, queued: QueuedRun, scenario: Scenario, trace_path: Path | None
    ) -> None:
        """The run's profile lease, then its attempts. A run whose task was cancelled
        (`cancel_runs`) or whose lease another process took over ends here quietly; any
        other cancel (a stop of the whole task, the shutdown) goes on up."""
        run = queued.ref
        profile = profile_spec(queued.profile)
        playing = asyncio.current_task()
        assert playing is not None
        self._playing[run.run_id] = (run.task.task_id, playing)
        leased: bool | None = None
        """None while the lease is being taken: a cancel then may leave it taken."""
        attempt = 0
        try:
            leased = await self._leases.acquire(run.profile_id, run.run_id)
            if not leased:
                logger.info("run %d is played by another process", run.run_id)
                return
            first = queued.attempts + 1
            for attempt in range(first, max(first, self._config.max_attempts) + 1):
                async with self._slots:
                    if not await self._ledger.begin_attempt(run, attempt, first=attempt == first):
                        return
                    plan = AttemptPlan(
                        run.task.task_id, run.run_id, attempt, profile, scenario, trace_path
                    )
                    failure = await self._attempt(run, plan)
                    self.current_steps.pop(run.run_id, None)
                if failure is None:
                    await self._ledger.succeed_run(run, attempt)
                    return
                final = attempt >= self._config.max_attempts or failure.session_expired
                await self._ledger.fail_attempt(run, attempt, failure, final=final)
                if final:
                    return
                await asyncio.sleep(self._config.retry_delay * attempt)
        except asyncio.CancelledError:
            if run.run_id in self._cancelled:
                playing.uncancel()
            elif run.run_id in self._lost:
                playing.uncancel()
                lost = AttemptFailure(None, "another process took this profile's lease over")
                await self._ledger.fail_attempt(run, attempt, lost, final=True)
            else:
                raise
        finally:
            self._cancelled.discard(run.run_id)
            self._lost.discard(run.run_id)
            self.current_steps.pop(run.run_id, None)
            self._playing.pop(run.run_id, None)
            if leased is not False:
                await asyncio.shield(self._leases.release(run.profile_id, run.run_id))

    async def _attempt(self, run: RunRef, plan: AttemptPlan) -> AttemptFailure | None:
        def on_step(step: Step) -> None:
            self.current_steps[run.run_id] = step.label
            self.events.emit(
                StepStarted(run.task.task_id, run.run_id, run.profile, step.path, step.label)
            )

        bound = self._config.run_timeout + ATTEMPT_SLACK
        try:
            async with asyncio.timeout(bound):
                return await self._play(plan, on_step)
        except TimeoutError:
            logger.error("run %d: the attempt did not end within %.0f s", run.run_id, bound)
            return AttemptFailure(None, f"the browser did not answer for {bound:g} s")
