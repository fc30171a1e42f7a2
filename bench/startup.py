"""How long `python -m bot` takes from its start to its first `getUpdates` at the fake:
the process with the tests' environment (`tests.bot_process.BotLauncher`), a fresh folder
and fake each time, stopped with SIGTERM and every descendant it left killed."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.config import write_fleet
from bench.fleets import Fleet
from bench.site_process import SiteProcess
from tests.bot_process import BotLauncher, BotProcess
from tests.fake_telegram import ApiCall, FakeTelegram
from tests.processes import kill_all

logger = logging.getLogger(__name__)

FIRST_POLL_TIMEOUT = 60.0
EXIT_TIMEOUT = 30.0


async def time_startups(fleet: Fleet, count: int) -> list[float]:
    """Seconds to the first getUpdates, one per start; a start that fails is logged."""
    site = SiteProcess()
    await site.start()
    try:
        times = []
        for _ in range(count):
            try:
                times.append(await _time_one(site, fleet))
            except Exception as error:
                logger.warning("startup: %s", str(error).splitlines()[0])
        return times
    finally:
        await site.stop()


async def _time_one(site: SiteProcess, fleet: Fleet) -> float:
    async with FakeTelegram() as fake:
        with tempfile.TemporaryDirectory(prefix="bench-start-") as folder:
            root = Path(folder)
            write_fleet(root, site, fleet)
            environment = BotLauncher(root, fake).environment()
            log_path = root / "bot.log"
            with log_path.open("wb") as log:
                started = time.monotonic()
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot",
                    cwd=root,
                    env=environment,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
            bot = BotProcess(process, log_path)
            bot.start_sampling()
            try:
                call: ApiCall = await fake.wait_for(
                    lambda: _first_poll(fake) or process.returncode is not None,
                    timeout=FIRST_POLL_TIMEOUT,
                    description="the bot's first getUpdates",
                )
                if not isinstance(call, ApiCall):
                    raise RuntimeError(f"the bot exited with {process.returncode}{bot.explain(20)}")
                return call.time - started
            finally:
                await _stop(bot)


def _first_poll(fake: FakeTelegram) -> ApiCall | None:
    return next((call for call in fake.calls if call.method.lower() == "getupdates"), None)


async def _stop(bot: BotProcess) -> None:
    if bot.process.returncode is None:
        bot.send_signal(signal.SIGTERM)
        try:
            await bot.wait_exit(EXIT_TIMEOUT)
        except AssertionError:
            logger.warning("startup: the bot did not stop within %g s; killed", EXIT_TIMEOUT)
            bot.process.kill()
            await bot.process.wait()
    await bot.stop_sampling()
    kill_all(bot.seen.values())
