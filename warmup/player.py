"""Play a parsed scenario on a Playwright page: a plain interpreter, one function per action.

Every failure becomes :class:`StepFailed` with the step's path and label and a
one-line reason; a failed ``logged_in`` check becomes :class:`SessionExpired`.
``asyncio.CancelledError`` always propagates untouched, so a cancelled run stops
at once, whatever step it was in.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from warmup.scenario import (
    ClickStep,
    ExpectStep,
    GotoStep,
    LoggedInCheck,
    PressStep,
    RepeatStep,
    Scenario,
    ScrollStep,
    Step,
    TypeStep,
    UnknownVariable,
    WaitStep,
    substitute,
)

logger = logging.getLogger(__name__)

# Playwright prefixes its messages with the API call, e.g. "Locator.click: ".
_API_PREFIX = re.compile(r"^\w+\.\w+: ")
# "scheme://user:password@host": the credentials part, dropped from messages.
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


class StepFailed(Exception):
    """A step that did not do what it says; ``reason`` is one human line, no secrets."""

    def __init__(self, path: str, label: str, reason: str) -> None:
        self.path = path
        self.label = label
        self.reason = reason
        super().__init__(f"{path} ({label}): {reason}")


class SessionExpired(StepFailed):
    """The scenario's ``logged_in`` check failed: the profile's saved session is no longer
    valid. Playing again would fail the same way; only a fresh storage state helps.

    ``path`` is ``logged_in``; ``reason`` starts with "session expired: ". A failure that
    says nothing about the session (a malformed selector, a closed page) is a plain
    :class:`StepFailed` instead, so that it is retried like any other.
    """


BUSY_STEPS = (GotoStep, ClickStep, TypeStep, PressStep, ScrollStep)
"""The steps that make the browser load, render or take input, as opposed to waiting
(`wait`, `expect`) or holding others (`repeat`)."""


@dataclass
class _Run:
    """What every action needs while one scenario plays."""

    page: Page
    variables: Mapping[str, str]
    rng: random.Random
    on_step: Callable[[Step], None] | None
    default_timeout: float
    typing_delay_ms: float
    busy: AbstractAsyncContextManager[object]
    """Entered around each step that makes the browser work (see `BUSY_STEPS`)."""
    logged_in: LoggedInCheck | None = None
    """The check still to do; None once done (or when the scenario has none)."""
    executed: int = 0

    def text(self, template: str) -> str:
        return substitute(template, self.variables)


async def play(
    page: Page,
    scenario: Scenario,
    variables: Mapping[str, str],
    *,
    rng: random.Random,
    on_step: Callable[[Step], None] | None = None,
    default_timeout: float = 30.0,
    typing_delay_ms: float = 40,
    busy: AbstractAsyncContextManager[object] | None = None,
) -> int:
    """Play ``scenario`` on ``page`` and return how many steps ran.

    ``variables`` (the profile's vars and ``profile``) override the scenario's
    own ``vars``. A repeat counts as a step, and so does each step inside it
    each time it runs; steps skipped by probability do not count.

    The scenario's ``logged_in`` check, if any, runs once, right after the first goto
    step that completes: that is the first moment a page of the site is loaded, so the
    earliest the session can be seen, and before any step acts on a page that may be a
    login form. A run in which no goto completes never checks. Raises SessionExpired
    when the check fails.

    ``busy`` is entered around every step that makes the browser work (loading,
    rendering, input: `BUSY_STEPS`), never around a wait: many sessions may wait at
    once for almost nothing, while their page loads are what a machine must take a few
    at a time. The time spent getting in does not count against the step's timeout.
    """
    run = _Run(
        page=page,
        variables={**scenario.vars, **variables},
        rng=rng,
        on_step=on_step,
        default_timeout=default_timeout,
        typing_delay_ms=typing_delay_ms,
        busy=busy if busy is not None else nullcontext(),
        logged_in=scenario.logged_in,
    )
    await _play_steps(run, scenario.steps)
    return run.executed


async def _play_steps(run: _Run, steps: tuple[Step, ...]) -> None:
    for step in steps:
        await _play_step(run, step)


async def _play_step(run: _Run, step: Step) -> None:
    if step.probability < 1.0 and not run.rng.random() < step.probability:
        logger.debug("skipped by probability: %s (%s)", step.path, step.label)
        return
    if run.on_step is not None:
        run.on_step(step)
    run.executed += 1
    try:
        await _execute(run, step)
    except StepFailed as failure:
        # An expired session ends the run even inside an optional repeat.
        if not step.optional or isinstance(failure, SessionExpired):
            raise
        logger.warning(
            "optional step %s (%s) failed, going on: %s",
            failure.path,
            failure.label,
            failure.reason,
        )
        return
    if isinstance(step, GotoStep) and run.logged_in is not None:
        check, run.logged_in = run.logged_in, None
        await _check_logged_in(run, check)


def _limit(run: _Run, step: Step) -> float | None:
    """Seconds the whole step may take.

    Without an explicit ``timeout``, browser actions get the default timeout,
    while waits and repeats are bounded only by the caller's run timeout.
    """
    if step.timeout is not None:
        return step.timeout
    if isinstance(step, WaitStep | RepeatStep):
        return None
    return run.default_timeout


async def _execute(run: _Run, step: Step) -> None:
    """Run one step's action under its time limit and turn every error into StepFailed.

    Browser actions get the same limit twice: as Playwright's own timeout and
    as an ``asyncio.timeout`` (for calls without a timeout, like key presses).
    Whichever fires first, the reason is the same.
    """
    limit = _limit(run, step)
    busy = run.busy if isinstance(step, BUSY_STEPS) else nullcontext()
    try:
        async with busy, asyncio.timeout(limit):
            await _ACTIONS[type(step)](run, step, limit or run.default_timeout)
    except StepFailed:
        raise
    except UnknownVariable as exc:
        raise StepFailed(step.path, step.label, str(exc)) from None
    except (TimeoutError, PlaywrightTimeoutError):
        # Playwright's TimeoutError is not a builtin TimeoutError: both are caught here.
        reason = _timeout_reason(run, step, limit or run.default_timeout)
        raise StepFailed(step.path, step.label, reason) from None
    except PlaywrightError as exc:
        raise StepFailed(step.path, step.label, _playwright_reason(exc)) from None


async def _check_logged_in(run: _Run, check: LoggedInCheck) -> None:
    """SessionExpired unless the page shows the session within the check's timeout.

    Only a time-out means "not logged in"; any other error (a malformed selector, a
    closed page) is a plain StepFailed, like a step's.
    """
    page = run.page
    try:
        async with asyncio.timeout(check.timeout):
            if check.url is not None:
                part = run.text(check.url)
                await page.wait_for_url(
                    lambda url: part in url, wait_until="commit", timeout=check.timeout * 1000
                )
            else:
                locator = page.locator(run.text(check.selector or "")).first
                await locator.wait_for(state="visible", timeout=check.timeout * 1000)
    except UnknownVariable as exc:
        raise StepFailed(check.path, check.label, str(exc)) from None
    except (TimeoutError, PlaywrightTimeoutError):
        within = f"within {_seconds(check.timeout)}"
        if check.url is not None:
            missing = f"the URL did not contain {run.text(check.url)!r} {within}"
        else:
            missing = f"{run.text(check.selector or '')!r} was not visible {within}"
        raise SessionExpired(check.path, check.label, f"session expired: {missing}") from None
    except PlaywrightError as exc:
        raise StepFailed(check.path, check.label, _playwright_reason(exc)) from None


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _timeout_reason(run: _Run, step: Step, limit: float) -> str:
    after = f"timed out after {_seconds(limit)}"
    match step:
        case GotoStep():
            return f"{after} loading {_safe_url(run.text(step.url))}"
        case ClickStep():
            return f"{after} waiting for {run.text(step.selector)!r} to be clickable"
        case TypeStep():
            return f"{after} typing into {run.text(step.selector)!r}"
        case ExpectStep(selector=str(selector)):
            return f"{after} waiting for {run.text(selector)!r} to be visible"
        case ExpectStep(text=str(text)):
            return f"{after} waiting for the text {run.text(text)!r} to be visible"
        case ExpectStep(url=str(url)):
            return f"{after} waiting for the URL to contain {run.text(url)!r}"
        case _:
            return after


def _playwright_reason(exc: BaseException) -> str:
    """The first line of a Playwright message, without the API prefix or the call log."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    return _URL_USERINFO.sub("", _API_PREFIX.sub("", first))


def _safe_url(url: str) -> str:
    """The URL without any user:password part, fit for logs and chat messages."""
    return _URL_USERINFO.sub("", url)


# --------------------------------------------------------------------------- actions


async def _goto(run: _Run, step: GotoStep, limit: float) -> None:
    url = run.text(step.url)
    response = await run.page.goto(url, wait_until="load", timeout=limit * 1000)
    if response is not None and response.status >= 400:
        raise StepFailed(step.path, step.label, f"HTTP {response.status} at {_safe_url(url)}")


async def _wait(run: _Run, step: WaitStep, limit: float) -> None:
    await asyncio.sleep(step.seconds.pick(run.rng))


async def _scroll(run: _Run, step: ScrollStep, limit: float) -> None:
    await run.page.mouse.wheel(0, step.pixels.pick(run.rng))


async def _click(run: _Run, step: ClickStep, limit: float) -> None:
    await run.page.locator(run.text(step.selector)).first.click(timeout=limit * 1000)


async def _type(run: _Run, step: TypeStep, limit: float) -> None:
    locator = run.page.locator(run.text(step.selector)).first
    await locator.press_sequentially(
        run.text(step.text), delay=run.typing_delay_ms, timeout=limit * 1000
    )


async def _press(run: _Run, step: PressStep, limit: float) -> None:
    await run.page.keyboard.press(run.text(step.key))


async def _expect(run: _Run, step: ExpectStep, limit: float) -> None:
    if step.url is not None:
        part = run.text(step.url)
        # "commit": the URL is there as soon as the navigation starts, or at once for
        # same-document changes (history.pushState, #anchors).
        await run.page.wait_for_url(
            lambda url: part in url, wait_until="commit", timeout=limit * 1000
        )
        return
    if step.selector is not None:
        locator = run.page.locator(run.text(step.selector)).first
    else:
        locator = run.page.get_by_text(run.text(step.text or "")).first
    await locator.wait_for(state="visible", timeout=limit * 1000)


async def _repeat(run: _Run, step: RepeatStep, limit: float) -> None:
    for _ in range(int(step.times.pick(run.rng))):
        await _play_steps(run, step.steps)


_ACTIONS: dict[type, Callable[[_Run, Any, float], Awaitable[None]]] = {
    GotoStep: _goto,
    WaitStep: _wait,
    ScrollStep: _scroll,
    ClickStep: _click,
    TypeStep: _type,
    PressStep: _press,
    ExpectStep: _expect,
    RepeatStep: _repeat,
}
