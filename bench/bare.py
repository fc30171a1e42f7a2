"""Mode A, the floor: the fleet played with plain async Playwright calls, no engine.

One Chromium launched as `warmup.browser` launches it, a fresh context per profile, the
same concurrency, the same steps, no tracing, no storage state, no database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from bench.fleets import STEP_TIMEOUT, Fleet, Step
from bench.probes import LoopLag, TreeSampler
from bench.results import ModeRun
from bench.site_process import SiteProcess
from warmup.browser import LAUNCH_ARGS, find_executable

logger = logging.getLogger(__name__)


async def run_bare(fleet: Fleet, number: int, *, patient: bool = False) -> ModeRun:
    """Mode A's play of the fleet; `patient`: with no step time-out at all, to see how
    long the browser alone needs when nothing gives up (the whole is still bounded)."""
    result = ModeRun("A", number, runs=fleet.profiles)
    step_timeout = None if patient else STEP_TIMEOUT
    site = SiteProcess()
    await site.start()
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=find_executable(playwright, "auto"),
                headless=True,
                args=list(LAUNCH_ARGS),
            )
            result.measures["browser"] = browser.version
            try:
                async with asyncio.timeout(fleet.time_bound() * (3 if patient else 1)):
                    await _play_fleet(browser, fleet, site.url, result, step_timeout)
            except TimeoutError:
                result.error = f"not finished within {fleet.time_bound():.0f} s"
            finally:
                await browser.close()
    finally:
        await site.stop()
    return result


async def _play_fleet(
    browser: Browser, fleet: Fleet, site: str, result: ModeRun, step_timeout: float | None
) -> None:
    slots = asyncio.Semaphore(fleet.concurrency)
    lag, tree = LoopLag(), TreeSampler()
    await tree.start()
    lag.start()
    started = time.monotonic()
    try:
        outcomes = await asyncio.gather(
            *(
                _play_profile(browser, slots, fleet.steps, site, name, step_timeout)
                for name in fleet.profile_names
            )
        )
        result.wall_s = time.monotonic() - started
    finally:
        result.measures["loop_lag"] = await lag.stop()
        result.measures["lag_samples_ms"] = lag.samples_ms
        result.measures["tree"] = await tree.stop(fleet.sessions_at_once)
    failures = [reason for reason in outcomes if reason is not None]
    result.failed_runs = len(failures)
    result.measures["failures"] = dict(Counter(failures))


async def _play_profile(
    browser: Browser,
    slots: asyncio.Semaphore,
    steps: tuple[Step, ...],
    site: str,
    name: str,
    step_timeout: float | None,
) -> str | None:
    """One profile's run in a fresh context; the reason it failed, or None."""
    async with slots:
        context: BrowserContext | None = None
        try:
            # Bounded as the engine bounds them: opening a context and a page is part of a run.
            async with asyncio.timeout(step_timeout):
                context = await browser.new_context()
                page = await context.new_page()
            for step in steps:
                await _play_step(page, step, site, name, (step_timeout or 0) * 1000)
        except Exception as error:
            reason = _reason(error)
            logger.info("A: %s failed: %s", name, reason)
            return reason
        finally:
            if context is not None:
                await context.close()
    return None


def _reason(error: Exception) -> str:
    """One line for the failure counts (only the asyncio bound has no message)."""
    if not str(error):
        return f"{type(error).__name__} opening the context or page"
    return str(error).splitlines()[0][:120]


async def _play_step(page: Page, step: Step, site: str, profile: str, timeout_ms: float) -> None:
    """One step; `timeout_ms` 0 is Playwright's "no time-out"."""
    match step.action:
        case "goto":
            url = site + str(step.value).replace("{profile}", profile)
            response = await page.goto(url, wait_until="load", timeout=timeout_ms)
            if response is not None and response.status >= 400:
                raise RuntimeError(f"HTTP {response.status} at {url}")
        case "scroll":
            await page.mouse.wheel(0, float(step.value))
        case "wait":
            await asyncio.sleep(float(step.value))
        case "click":
            await page.locator(str(step.value)).first.click(timeout=timeout_ms)
        case "expect":
            await expect(page.locator(str(step.value)).first).to_be_visible(timeout=timeout_ms)
        case _:
            raise ValueError(f"unknown action {step.action}")
