"""Mode D, the distributed mode on this one machine: the bot (as in C, on the fake Bot
API server) with BROKER_URL and a PostgreSQL, and two `python -m bot worker` processes
that play the fleet, half of its concurrency each. Against C it shows what the queue,
the shared database and a second Chromium cost where there is no second machine to gain.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench.bot_run import STATUS_PERIOD, play_from_chat, started_app, stop_app
from bench.config import TEARDOWN_BOUND, fleet_settings, write_fleet
from bench.fleets import Fleet
from bench.results import ModeRun
from bench.site_process import SiteProcess
from bot.app import Application
from bot.settings import Settings
from tests.fake_telegram import FakeTelegram
from tests.servers import PostgresServer, RedisServer

logger = logging.getLogger(__name__)

WORKERS = 2
READY_LINE = b"taking runs"
WORKER_START_TIMEOUT = 60.0
WORKER_STOP_TIMEOUT = 30.0


async def run_cluster(fleet: Fleet, number: int, status_period: float = STATUS_PERIOD) -> ModeRun:
    result = ModeRun("D", number, runs=fleet.profiles)
    postgres, redis = PostgresServer(), RedisServer()
    await asyncio.gather(asyncio.to_thread(postgres.start), asyncio.to_thread(redis.start))
    site = SiteProcess()
    await site.start()
    try:
        async with FakeTelegram() as fake:
            fake.enforce_flood_limits()
            with tempfile.TemporaryDirectory(prefix="bench-d-") as folder:
                root = Path(folder)
                write_fleet(root, site, fleet)
                settings = fleet_settings(
                    root,
                    fleet,
                    bot_token=fake.token,
                    telegram_api_url=fake.api_url,
                    database_url=await postgres.create_database(),
                    broker_url=redis.url,
                )
                app = Application(settings, handle_signals=False)
                runner = asyncio.create_task(app.run(), name="bench-bot-d")
                try:
                    await started_app(app, runner)
                    async with (
                        workers(settings, root, fleet),
                        asyncio.timeout(fleet.time_bound() + TEARDOWN_BOUND),
                    ):
                        await play_from_chat(app, fake, fleet, result, status_period)
                    # The statements counted are the bot's own: the workers write theirs
                    # in processes of their own, so a count per run would mislead.
                    result.measures.pop("db", None)
                finally:
                    await stop_app(app, runner)
    finally:
        await site.stop()
        await asyncio.gather(asyncio.to_thread(postgres.stop), asyncio.to_thread(redis.stop))
    result.measures["workers"] = WORKERS
    return result


@asynccontextmanager
async def workers(settings: Settings, root: Path, fleet: Fleet) -> AsyncIterator[None]:
    """`WORKERS` worker processes, each with half the fleet's concurrency, until they take
    runs; stopped with SIGTERM afterwards."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "BROKER_URL": settings.broker_url or "",
        "MAX_CONCURRENCY": str(max(1, fleet.concurrency // WORKERS)),
        "LOG_LEVEL": "INFO",
    }
    started: list[asyncio.subprocess.Process] = []
    drains: list[asyncio.Task[None]] = []
    try:
        for index in range(WORKERS):
            data = root / f"worker-{index + 1}"
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "worker",
                env={**env, "DATA_DIR": str(data)},
                cwd=root,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            started.append(process)
        await asyncio.gather(*(_ready(process) for process in started))
        # Read and drop their later output, so that a full pipe never blocks one.
        drains = [asyncio.create_task(_drain(process)) for process in started]
        yield
    finally:
        for process in started:
            if process.returncode is None:
                process.terminate()
        for process in started:
            try:
                await asyncio.wait_for(process.wait(), WORKER_STOP_TIMEOUT)
            except TimeoutError:
                logger.warning("D: a worker did not stop; killing it")
                process.kill()
                await process.wait()
        for drain in drains:
            drain.cancel()
        await asyncio.gather(*drains, return_exceptions=True)


async def _ready(process: asyncio.subprocess.Process) -> None:
    """Until the worker says it takes runs."""
    assert process.stdout is not None
    async with asyncio.timeout(WORKER_START_TIMEOUT):
        while True:
            line = await process.stdout.readline()
            if not line:
                raise RuntimeError("a worker exited before it took runs")
            if READY_LINE in line:
                return


async def _drain(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    while await process.stdout.readline():
        pass
