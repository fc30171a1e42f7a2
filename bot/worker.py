"""`python -m bot worker`: a process that plays the runs the bot sends through BROKER_URL,
on this machine's Chromium, until SIGINT or SIGTERM.

Its browser and engine open in taskiq's worker start-up hook and close in its shut-down
hook; the loop that takes messages is `warmup.worker.Worker`. It shares the database
(DATABASE_URL, PostgreSQL when the workers are on other machines) and the broker with
the bot, and needs no Telegram token: the bot alone talks to Telegram.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from typing import Any

from taskiq import TaskiqEvents, TaskiqState

from bot.logs import configure_logging
from bot.runtime import Runtime, frozen_heap, open_engine, open_storage
from bot.settings import Settings, SettingsError, load_settings
from warmup.browser import BrowserNotFound
from warmup.events import EventBus
from warmup.leases import process_owner
from warmup.ledger import Ledger
from warmup.run_queue import create_broker, redelivery_timeout
from warmup.signals import Signals
from warmup.worker import Worker

logger = logging.getLogger(__name__)


def run_worker() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"warmup-bot: {error}", file=sys.stderr)
        return 2
    if not settings.broker_url:
        print(
            "warmup-bot: BROKER_URL is not set: a worker takes its runs from the bot's broker "
            "(redis://…); without one, the bot plays them itself",
            file=sys.stderr,
        )
        return 2
    os.umask(0o077)
    configure_logging(settings.log_level)
    try:
        asyncio.run(serve(settings))
    except BrowserNotFound as error:
        print(f"warmup-bot: {error}", file=sys.stderr)
        return 2
    return 0


async def serve(settings: Settings) -> None:
    """Play runs until a signal stops the process; what plays then is left `running`
    without a lease, and the bot gives it to another worker."""
    assert settings.broker_url is not None
    name = process_owner("worker")
    async with AsyncExitStack() as stack:
        await open_storage(settings, stack)
        signals = Signals(settings.broker_url)
        stack.push_async_callback(signals.close)
        events = EventBus()
        events.subscribe(signals.relay)
        ledger = Ledger(events, player=name)
        idle = redelivery_timeout(settings.run_timeout, settings.max_attempts, settings.retry_delay)
        broker = create_broker(settings.broker_url, consumer=name, idle_timeout=idle)
        broker.is_worker_process = True
        engine_stack = AsyncExitStack()

        @broker.on_event(TaskiqEvents.WORKER_STARTUP)
        async def open_browser(state: TaskiqState) -> None:
            runtime = await open_engine(settings, ledger, engine_stack)
            engine_stack.push_async_callback(runtime.engine.shutdown)
            state.runtime = runtime

        @broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
        async def close_browser(state: TaskiqState) -> None:
            await engine_stack.aclose()

        await broker.startup()
        stack.push_async_callback(broker.shutdown)
        runtime: Runtime = broker.state.runtime
        signals.on_cancel(runtime.engine.cancel_runs)
        worker = Worker(
            broker, ledger, runtime.engine, runtime.slots, beat_interval=settings.lease_ttl / 3
        )
        logger.info("worker %s: taking runs, %s at once", name, settings.max_concurrency)
        with frozen_heap():
            await _until_signal(worker.run())
    logger.info("worker stopped")


async def _until_signal(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` until SIGINT or SIGTERM, then cancel it and wait for it."""
    task = asyncio.create_task(work, name="worker")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
