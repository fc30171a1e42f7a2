"""One attempt of one profile in one fresh browser context, and nothing outlives it.

The orchestrator (slots, leases, retries, events) never touches Playwright: it hands a
`PlayAttempt` an `AttemptPlan` and gets back None (the attempt succeeded) or an
`AttemptFailure`. Whatever goes wrong inside the attempt (a stuck page, a browser that no
longer answers, a full disk, a bug) becomes that failure; only cancellation propagates.

A page stuck in `while(true){}` makes Playwright wait forever, even for calls given a
timeout of their own. So the scenario plays under `run_timeout`, and every browser call
after it (screenshot, trace, storage state, closing the context) has its own
`teardown_timeout`: an attempt takes at most `run_timeout` plus a few of those. A context
that will not close gets its browser killed, so the next attempt starts in a new one.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from warmup.browser import BrowserPool, first_line
from warmup.player import SessionExpired, StepFailed, play
from warmup.scenario import Scenario, Step
from warmup.state_store import StateStorage

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    """What an attempt needs of a profile (a plain snapshot, no ORM object)."""

    name: str
    options: Mapping[str, Any]
    """Browser.new_context keyword arguments (locale, proxy, viewport...)."""
    vars: Mapping[str, str]
    seed_state: Path | None
    """The starting storage state before the first saved one."""


@dataclass(frozen=True, slots=True)
class AttemptPlan:
    task_id: int
    run_id: int
    attempt: int
    """1-based."""
    profile: ProfileSpec
    scenario: Scenario
    trace_path: Path | None = None
    """Keep this try's trace here whatever the outcome (`python -m bot try --trace`)."""


@dataclass(frozen=True, slots=True)
class AttemptFailure:
    step: str | None
    error: str
    screenshot: Path | None = None
    trace: Path | None = None
    session_expired: bool = False
    """The scenario's logged_in check failed: another try would fail the same way."""


class TraceMode(StrEnum):
    """When an attempt records a Playwright trace: Playwright Test's modes (`trace:`)."""

    off = "off"
    on_first_retry = "on-first-retry"
    """Only the second attempt, the first retry: a run that failed once is traced when it
    is played again, so its failure notification still has a trace."""
    retain_on_failure = "retain-on-failure"
    """Every attempt, kept only when it failed."""
    on = "on"
    """Every attempt, kept whatever the outcome."""


def records_trace(mode: TraceMode, attempt: int) -> bool:
    """Whether this attempt records a trace (a trace asked for by `try --trace` always is)."""
    match mode:
        case TraceMode.off:
            return False
        case TraceMode.on_first_retry:
            return attempt == 2
        case TraceMode.retain_on_failure | TraceMode.on:
            return True


class PlayAttempt(Protocol):
    async def __call__(
        self, plan: AttemptPlan, on_step: Callable[[Step], None]
    ) -> AttemptFailure | None:
        """Play one attempt; None when it succeeded. Raises only CancelledError."""
        ...


@dataclass(frozen=True, slots=True)
class AttemptConfig:
    run_timeout: float
    """Seconds the scenario may take (context creation + play)."""
    artifacts_dir: Path
    step_timeout: float = 30.0
    trace: TraceMode = TraceMode.on_first_retry
    teardown_timeout: float = 5.0
    """Seconds for each browser call outside the scenario: screenshot, tracing.stop,
    storage_state, closing the context."""


@dataclass
class _Opened:
    """What the attempt has opened so far, for the teardown to see even after an error."""

    context: BrowserContext | None = None
    page: Page | None = None
    tracing: bool = False
    state_saved: bool = False
    session_expired: bool = False
    """The logged_in check failed: the stored state must stay as it was."""
    current: Step | None = None
    """The step being played."""


class BrowserAttempt:
    """`PlayAttempt` with the real browser: a fresh context per attempt, always closed."""

    def __init__(
        self,
        browser: BrowserPool,
        states: StateStorage,
        config: AttemptConfig,
        busy: AbstractAsyncContextManager[object] | None = None,
        share: Callable[[Path], Awaitable[None]] | None = None,
    ) -> None:
        self._browser = browser
        self._states = states
        self._config = config
        self._share = share
        """Given each screenshot and trace kept, for other machines to read (workers)."""
        self._busy = busy if busy is not None else nullcontext()
        """Entered while the browser works for an attempt (a new context and page, a page
        load, a click, the state saved and the context closed), never while it waits:
        shared by every attempt of the process. Time-outs count from the entry."""
        self._closing: set[asyncio.Task[bool]] = set()
        """Closes that a second cancel must not interrupt (see `_close`)."""

    async def __call__(
        self, plan: AttemptPlan, on_step: Callable[[Step], None]
    ) -> AttemptFailure | None:
        try:
            return await self._attempt(plan, on_step)
        except Exception as error:
            logger.exception(
                "attempt %d of run %d (%s) failed unexpectedly",
                plan.attempt,
                plan.run_id,
                plan.profile.name,
            )
            reason = first_line(str(error)) if str(error) else "no details"
            return AttemptFailure(None, f"internal error: {type(error).__name__}: {reason}")

    async def _attempt(
        self, plan: AttemptPlan, on_step: Callable[[Step], None]
    ) -> AttemptFailure | None:
        """Play, keep what the attempt leaves (screenshot, trace, state), close the context."""
        profile = plan.profile
        options = dict(profile.options)
        state = await self._states.load_state(profile.name, profile.seed_state)
        if state is not None:
            options["storage_state"] = state
        opened = _Opened()
        try:
            failure = await self._play_and_keep(plan, options, on_step, opened)
        finally:
            closed = opened.context is None or await self._close(opened.context)
        if closed:
            return failure
        reason = (
            f"the browser did not close the context within "
            f"{self._config.teardown_timeout:g} s and was restarted"
        )
        if failure is None:
            return AttemptFailure(None, reason)
        return replace(failure, error=f"{failure.error}; then {reason}")

    async def _play_and_keep(
        self,
        plan: AttemptPlan,
        options: Mapping[str, Any],
        on_step: Callable[[Step], None],
        opened: _Opened,
    ) -> AttemptFailure | None:
        try:
            failure = await self._play(plan, options, on_step, opened)
            if opened.context is not None:
                async with self._busy:
                    failure = await self._keep(plan, opened, failure)
            return failure
        except asyncio.CancelledError:
            if opened.context is not None:
                await self._keep_when_cancelled(plan, opened)
            raise

    async def _keep_when_cancelled(self, plan: AttemptPlan, opened: _Opened) -> None:
        """Shutdown relies on it: a stopped run keeps the session it had so far (and the
        requested trace). Nothing raised here may take the place of the cancellation."""
        assert opened.context is not None
        try:
            if opened.tracing and plan.trace_path is not None:
                await self._stop_tracing(opened, plan.trace_path)
            if not opened.state_saved and not opened.session_expired:
                await self._save_state(opened.context, plan.profile.name, opened)
        except Exception:
            logger.exception("could not keep the state of cancelled %s", plan.profile.name)

    async def _play(
        self,
        plan: AttemptPlan,
        options: Mapping[str, Any],
        on_step: Callable[[Step], None],
        opened: _Opened,
    ) -> AttemptFailure | None:
        """Open the context and play the scenario in it, all within `run_timeout`."""
        profile, scenario = plan.profile, plan.scenario
        variables = {**scenario.vars, **profile.vars, "profile": profile.name}

        def step_started(step: Step) -> None:
            opened.current = step
            on_step(step)

        run_bound = asyncio.timeout(self._config.run_timeout)
        try:
            async with run_bound:
                async with self._busy:
                    opened.context = await self._browser.new_context(options)
                    if plan.trace_path is not None or records_trace(
                        self._config.trace, plan.attempt
                    ):
                        await opened.context.tracing.start(screenshots=True, snapshots=True)
                        opened.tracing = True
                    opened.page = await opened.context.new_page()
                await play(
                    opened.page,
                    scenario,
                    variables,
                    rng=random.Random(),
                    on_step=step_started,
                    default_timeout=self._config.step_timeout,
                    busy=self._busy,
                )
        except StepFailed as error:
            opened.session_expired = isinstance(error, SessionExpired)
            return AttemptFailure(
                f"{error.path} ({error.label})",
                error.reason,
                session_expired=opened.session_expired,
            )
        except TimeoutError:
            step = opened.current
            where = f"{step.path} ({step.label})" if step is not None else None
            if not run_bound.expired():  # the pool's own bound on opening a context
                return AttemptFailure(where, "the browser did not open a context in time")
            return AttemptFailure(where, f"run timed out after {self._config.run_timeout:g} s")
        except PlaywrightError as error:
            return AttemptFailure(None, first_line(error.message))
        return None

    async def _keep(
        self, plan: AttemptPlan, opened: _Opened, failure: AttemptFailure | None
    ) -> AttemptFailure | None:
        """The screenshot and trace of a failure, the kept trace, the saved state.

        A failed logged_in check leaves the stored state as it was: the logged-out one
        would replace the session that may still be revived by hand.
        """
        assert opened.context is not None
        name = f"task{plan.task_id}-{plan.profile.name}-{plan.attempt}"
        if failure is not None:
            screenshot = await self._screenshot(opened.page, name) if opened.page else None
            trace = None
            if opened.tracing:
                path = plan.trace_path or await self._artifact(f"{name}.zip")
                trace = await self._stop_tracing(opened, path)
            failure = replace(failure, screenshot=screenshot, trace=trace)
            await self._shared(screenshot, trace)
        elif opened.tracing:
            kept = self._config.trace == TraceMode.on and plan.trace_path is None
            path = await self._artifact(f"{name}.zip") if kept else plan.trace_path
            await self._shared(await self._stop_tracing(opened, path))
        if failure is not None and failure.session_expired:
            logger.info("the session of %s expired; its stored state is kept", plan.profile.name)
        else:
            await self._save_state(opened.context, plan.profile.name, opened)
        return failure

    async def _shared(self, *files: Path | None) -> None:
        if self._share is not None:
            for file in files:
                if file is not None:
                    await self._share(file)

    @asynccontextmanager
    async def _bounded(self, what: str) -> AsyncIterator[None]:
        """Run the block within `teardown_timeout`; a time-out or a browser error is logged
        and swallowed, so the teardown goes on with its next step."""
        timeout = self._config.teardown_timeout
        try:
            async with asyncio.timeout(timeout):
                yield
        except TimeoutError:
            logger.warning("%s: no answer from the browser within %g s", what, timeout)
        except PlaywrightError as error:
            logger.warning("%s: %s", what, first_line(error.message))

    async def _screenshot(self, page: Page, name: str) -> Path | None:
        path = await self._artifact(f"{name}.png")
        taken = False
        async with self._bounded(f"no screenshot of {name}"):
            await page.screenshot(path=path, timeout=self._config.teardown_timeout * 1000)
            taken = True
        return await asyncio.to_thread(_owner_only, path) if taken else None

    async def _stop_tracing(self, opened: _Opened, path: Path | None) -> Path | None:
        """Keep the trace at `path`, or drop it (None); the kept file, if any."""
        assert opened.context is not None
        opened.tracing = False
        stopped = False
        async with self._bounded("no trace kept"):
            await opened.context.tracing.stop(path=path)
            stopped = True
        if not stopped or path is None:
            return None
        return await asyncio.to_thread(_owner_only, path)

    async def _save_state(self, context: BrowserContext, profile: str, opened: _Opened) -> None:
        """Store the context's cookies, localStorage and IndexedDB as the profile's state."""
        state = None
        async with self._bounded(f"the storage state of {profile} was not saved"):
            state = await context.storage_state(indexed_db=True)
        if state is not None:
            await self._states.save_state(profile, dict(state))
            opened.state_saved = True

    async def _close(self, context: BrowserContext) -> bool:
        """Close the context, or kill its browser when it does not close in time.

        The work is a task of its own, awaited through a shield, so a second cancel of
        the attempt cannot stop it halfway and leave the context open.
        """
        closing = asyncio.create_task(self._close_or_kill(context))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        return await asyncio.shield(closing)

    async def _close_or_kill(self, context: BrowserContext) -> bool:
        timeout = self._config.teardown_timeout
        async with self._busy:
            closed = await self._browser.close_context(context, timeout)
        if closed:
            return True
        await self._browser.kill(
            f"a context did not close within {timeout:g} s", browser=context.browser
        )
        return False

    async def _artifact(self, filename: str) -> Path:
        directory = self._config.artifacts_dir
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True, mode=0o700)
        return directory / filename


def _owner_only(path: Path) -> Path | None:
    """The artifact, made readable by the owner only; None if it was not written."""
    if not path.is_file():
        return None
    path.chmod(0o600)
    return path
