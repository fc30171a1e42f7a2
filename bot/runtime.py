"""The parts the bot and `python -m bot try` build alike: the database, Chromium, the engine.

Both open them on an `AsyncExitStack` that closes them in reverse order. Nothing here
knows of Telegram, so `try` runs without a token.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from playwright.async_api import async_playwright
from tortoise.context import TortoiseContext

from bot.settings import Settings
from models.database import open_database
from warmup.attempt import AttemptConfig, BrowserAttempt
from warmup.browser import BrowserPool, find_executable
from warmup.engine import Engine, EngineConfig
from warmup.leases import LeaseKeeper
from warmup.ledger import Ledger
from warmup.state_store import StateStore


@dataclass(frozen=True, slots=True)
class Runtime:
    browser: BrowserPool
    leases: LeaseKeeper
    engine: Engine


async def open_storage(settings: Settings, stack: AsyncExitStack) -> TortoiseContext:
    """DATA_DIR (owner-only) and the database, brought up to date by its migrations."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return await stack.enter_async_context(open_database(settings.database_url))


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
    )
    await browser.start()
    stack.push_async_callback(browser.close)
    leases = LeaseKeeper(owner, ttl=settings.lease_ttl)
    play = BrowserAttempt(
        browser,
        StateStore(settings.states_dir),
        AttemptConfig(run_timeout=settings.run_timeout, artifacts_dir=settings.artifacts_dir),
    )
    engine = Engine(
        ledger,
        leases,
        play,
        EngineConfig(
            max_concurrency=settings.max_concurrency,
            run_timeout=settings.run_timeout,
            max_attempts=settings.max_attempts,
            artifacts_dir=settings.artifacts_dir,
            artifacts_max_age_days=settings.artifacts_max_age_days,
            artifacts_max_bytes=int(settings.artifacts_max_mb * 1024 * 1024),
            retry_delay=settings.retry_delay,
        ),
    )
    leases.on_lost = engine.lease_lost
    leases.start()
    stack.push_async_callback(leases.close)
    await engine.prune_artifacts()
    return Runtime(browser, leases, engine)
