"""The parts the bot, its workers and `python -m bot try` build alike: the database,
Chromium, the engine, and a heap the garbage collector leaves alone once they are built.

They open them on an `AsyncExitStack` that closes them in reverse order. Nothing here
knows of Telegram, so `try` runs without a token.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass

from playwright.async_api import async_playwright
from tortoise.context import TortoiseContext

from bot.settings import MAX_SESSIONS, Settings
from models.database import open_database
from warmup.attempt import AttemptConfig, BrowserAttempt, TraceMode
from warmup.autoscale import AdjustableLimit, Autoscaler
from warmup.browser import BrowserPool, find_executable
from warmup.engine import Engine, EngineConfig
from warmup.leases import LeaseKeeper
from warmup.ledger import Ledger
from warmup.shared_files import SharedStateStore, share_artifact
from warmup.state_store import StateStorage, StateStore

AUTO_START = 4
"""Sessions at once when MAX_CONCURRENCY=auto starts; the autoscaler takes it from there."""
BUSY_PER_CORE = 4
"""Sessions making the browser work at once, per core. Measured on 2 cores (`make bench`):
2 per core, sized down by the load, made 8 sessions at once 24% slower than bare
Playwright; 4 per core played 100 at once without a failure, as fast as bare Playwright
with no time-outs, where bare Playwright with 30 s step time-outs failed every run."""


@dataclass(frozen=True, slots=True)
class Runtime:
    browser: BrowserPool
    leases: LeaseKeeper
    engine: Engine
    slots: AdjustableLimit
    """Sessions at once (MAX_CONCURRENCY, or sized by the load)."""
    busy: AdjustableLimit
    """Sessions making the browser work at once."""


def state_storage(settings: Settings) -> StateStorage:
    """Where profiles' states live: files under DATA_DIR, or, with BROKER_URL, the
    database that every machine shares."""
    if settings.broker_url:
        return SharedStateStore()
    return StateStore(settings.states_dir)


async def open_storage(settings: Settings, stack: AsyncExitStack) -> TortoiseContext:
    """DATA_DIR (owner-only) and the database, brought up to date by its migrations."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return await stack.enter_async_context(open_database(settings.database_url))


async def open_limits(
    settings: Settings, stack: AsyncExitStack
) -> tuple[AdjustableLimit, AdjustableLimit]:
    """The two limits of how much plays at once.

    `slots`: sessions (browser contexts) at once, MAX_CONCURRENCY, or sized by an
    autoscaler from the load when it is `auto`. `busy`: of those, how many make the
    browser work at the same moment (open a context, load a page, click, save the state,
    close), `BUSY_PER_CORE` per core: a session that waits costs almost nothing, while a
    hundred page loads at once starve the machine until steps time out.
    """
    busy = AdjustableLimit(BUSY_PER_CORE * (os.cpu_count() or 1))
    if settings.max_concurrency != "auto":
        return AdjustableLimit(settings.max_concurrency), busy
    slots = AdjustableLimit(AUTO_START)
    scaler = Autoscaler(slots, maximum=MAX_SESSIONS)
    scaler.start()
    stack.push_async_callback(scaler.close)
    return slots, busy


async def open_engine(settings: Settings, ledger: Ledger, stack: AsyncExitStack) -> Runtime:
    """Chromium, started, and the engine that plays in it under the ledger's player name
    (also its lease holder name); Chromium and the lease renewal close with `stack`.

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
    leases = LeaseKeeper(ledger.player, ttl=settings.lease_ttl)
    slots, busy = await open_limits(settings, stack)
    play = BrowserAttempt(
        browser,
        state_storage(settings),
        AttemptConfig(
            run_timeout=settings.run_timeout,
            artifacts_dir=settings.artifacts_dir,
            trace=TraceMode(settings.trace),
        ),
        busy,
        share=share_artifact if settings.broker_url else None,
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


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Take what start-up made (modules, models, the catalog, the engine) out of the
    garbage collector's way while the process serves.

    A full collection walks every object the collector tracks: with aiogram, Playwright,
    pydantic, Tortoise and matplotlib loaded, about 150 ms during which the event loop
    waits, and a /profiles of 5,000 profiles makes enough objects to bring one every few
    requests (`make bench`, L: p95 223 ms, 48 ms frozen). What start-up made lives as long
    as the process, so it is collected once and frozen (`gc.freeze`): later collections
    walk only what came after, in a few milliseconds. Unfrozen at the end, for a process
    that starts the bot again (the tests).
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
