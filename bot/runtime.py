"""The parts the bot and `python -m bot try` build alike: the database, Chromium, the engine.

Both open them on an `AsyncExitStack` that closes them in reverse order. Nothing here
knows of Telegram, so `try` runs without a token.
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from dataclasses import dataclass

from playwright.async_api import async_playwright
from tortoise.context import TortoiseContext

from bot.settings import MAX_SESSIONS, Settings
from models.database import open_database
from warmup.attempt import AttemptConfig, BrowserAttempt, TraceMode
from warmup.autoscale import AdjustableLimit, Autoscaler, LoadSampler
from warmup.browser import BrowserPool, find_executable
from warmup.engine import Engine, EngineConfig
from warmup.leases import LeaseKeeper
from warmup.ledger import Ledger
from warmup.state_store import StateStore

AUTO_START = 4
"""Sessions at once when MAX_CONCURRENCY=auto starts; the autoscaler takes it from there."""
BUSY_PER_CORE = 2
"""Sessions making the browser work at once, per core, before the autoscaler sizes it."""


@dataclass(frozen=True, slots=True)
class Runtime:
    browser: BrowserPool
    leases: LeaseKeeper
    engine: Engine
    slots: AdjustableLimit
    """Sessions at once (MAX_CONCURRENCY, or sized by the load)."""
    busy: AdjustableLimit
    """Sessions making the browser work at once."""


async def open_storage(settings: Settings, stack: AsyncExitStack) -> TortoiseContext:
    """DATA_DIR (owner-only) and the database, brought up to date by its migrations."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return await stack.enter_async_context(open_database(settings.database_url))


async def open_limits(
    settings: Settings, stack: AsyncExitStack
) -> tuple[AdjustableLimit, AdjustableLimit]:
    """The two limits of how much plays at once, and the autoscalers that size them.

    `slots`: sessions (browser contexts) at once, MAX_CONCURRENCY, or sized by the load
    when it is `auto`. `busy`: of those, how many make the browser work at the same
    moment (open a context, load a page, click), always sized by the load: a session that
    waits costs almost nothing, while a hundred page loads at once starve the machine.
    """
    cores = os.cpu_count() or 1
    sampler = LoadSampler()
    sampler.start()
    stack.push_async_callback(sampler.close)
    busy = AdjustableLimit(BUSY_PER_CORE * cores)
    scalers = [Autoscaler(busy, sampler=sampler, minimum=cores, maximum=MAX_SESSIONS)]
    if settings.max_concurrency == "auto":
        slots = AdjustableLimit(AUTO_START)
        scalers.append(Autoscaler(slots, sampler=sampler, maximum=MAX_SESSIONS))
    else:
        slots = AdjustableLimit(settings.max_concurrency)
    for scaler in scalers:
        scaler.start()
        stack.push_async_callback(scaler.close)
    return slots, busy


async def open_engine(
    settings: Settings, ledger: Ledger, owner: str, stack: AsyncExitStack
) -> Runtime:
    """Chromium, started, and the engine that plays in it under the lease holder `owner`;
    Chromium and the lease renewal close with `stack`.

    The engine's `shutdown` is left to the caller: it pushes it after its own listeners'
    clean-up, so that they still hear of the runs the shutdown interrupts.
    """
    playwright = await stack.enter_async_context(async_playwright())
    browser = BrowserPool(
        playwright,
        executable=find_executable(playwright, settings.browser_executable),
        headless=settings.headless,
        recycle_after=settings.browser_recycle_after or None,
        memory_limit_mb=settings.browser_memory_limit_mb or None,
        nice=settings.browser_nice or None,
    )
    await browser.start()
    stack.push_async_callback(browser.close)
    leases = LeaseKeeper(owner, ttl=settings.lease_ttl)
    slots, busy = await open_limits(settings, stack)
    play = BrowserAttempt(
        browser,
        StateStore(settings.states_dir),
        AttemptConfig(
            run_timeout=settings.run_timeout,
            artifacts_dir=settings.artifacts_dir,
            trace=TraceMode(settings.trace),
        ),
        busy,
    )
    engine = Engine(
        ledger,
        leases,
        play,
        EngineConfig(
            run_timeout=settings.run_timeout,
            max_attempts=settings.max_attempts,
            artifacts_dir=settings.artifacts_dir,
            artifacts_max_age_days=settings.artifacts_max_age_days,
            artifacts_max_bytes=int(settings.artifacts_max_mb * 1024 * 1024),
            retry_delay=settings.retry_delay,
        ),
        slots,
    )
    leases.on_lost = engine.lease_lost
    leases.start()
    stack.push_async_callback(leases.close)
    await engine.prune_artifacts()
    return Runtime(browser, leases, engine, slots, busy)
