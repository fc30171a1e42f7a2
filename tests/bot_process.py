"""`python -m bot` as a real child process, for tests that stop it the way an operator would.

The test's own event loop keeps serving the fake Telegram and the local site while the bot runs,
so everything here waits with asyncio and never blocks the loop. The bot's descendants are
followed through /proc, so that a test can tell whether Chromium outlived the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import Settings
from tests.conftest import ADMIN_ID
from tests.fake_telegram import FakeTelegram
from tests.processes import ProcessId, descendants, kill_all

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_LINE = "polling for updates"
WORKER_READY_LINE = "taking runs"
SAMPLE_INTERVAL = 0.2
NOISE = re.compile(r" DEBUG (aiosqlite|tortoise\.db_client): ")
SETTINGS_VARIABLES = frozenset(name.upper() for name in Settings.model_fields)


@dataclass
class BotProcess:
    process: asyncio.subprocess.Process
    log_path: Path
    seen: dict[tuple[int, int], ProcessId] = field(default_factory=dict)
    """Every descendant seen while the bot ran, by pid and start time."""
    _sampler: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def chromium(self) -> list[ProcessId]:
        """The Chromium processes seen below the bot so far (the Playwright driver excluded)."""
        return [process for process in self.seen.values() if process.is_chromium]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def explain(self, last: int = 150) -> str:
        """The end of the bot's output, for assertion messages, without the database's
        DEBUG chatter (the whole output stays in the log file)."""
        lines = [line for line in self.log().splitlines() if not NOISE.search(line)]
        return (
            f"\n--- output of the bot (pid {self.pid}), last {last} lines of "
            f"{self.log_path} without database DEBUG ---\n" + "\n".join(lines[-last:])
        )

    def sample(self) -> None:
        """Record the bot's descendants as they are now."""
        if self.process.returncode is None:
            for process in descendants(self.pid):
                self.seen.setdefault((process.pid, process.start_time), process)

    def start_sampling(self) -> None:
        """Sample in the background: a process that lives briefly between two checks of a
        test is still known at the end, when the test looks for survivors."""

        async def loop() -> None:
            while self.process.returncode is None:
                self.sample()
                await asyncio.sleep(SAMPLE_INTERVAL)

        self._sampler = asyncio.create_task(loop(), name=f"sample-bot-{self.pid}")

    async def stop_sampling(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            await asyncio.gather(self._sampler, return_exceptions=True)

    async def wait_ready(self, timeout: float = 60, line: str = READY_LINE) -> None:
        """Until the bot logs that it polls for updates (a worker: that it takes runs);
        fails at once if it exits instead."""
        deadline = time.monotonic() + timeout
        while line not in self.log():
            if self.process.returncode is not None:
                raise AssertionError(
                    f"the bot exited with {self.process.returncode} before polling{self.explain()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot did not poll within {timeout} s{self.explain()}")
            await asyncio.sleep(0.05)
        self.sample()

    def send_signal(self, sig: signal.Signals) -> None:
        self.sample()
        self.process.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int:
        try:
            async with asyncio.timeout(timeout):
                return await self.process.wait()
        except TimeoutError:
            raise AssertionError(
                f"the bot (pid {self.pid}) was still running {timeout} s later{self.explain()}"
            ) from None


class BotLauncher:
    """Starts bots on the fakes with the tests' environment; kills what is left at the end."""

    def __init__(self, root: Path, fake: FakeTelegram) -> None:
        self.root = root
        self.fake = fake
        self.started: list[BotProcess] = []
        self._spawned = 0

    def environment(self, **extra: str) -> dict[str, str]:
        """The process's own environment without any of the bot's settings, plus the tests'."""
        env = {
            name: value
            for name, value in os.environ.items()
            if name.upper() not in SETTINGS_VARIABLES
        }
        env.update(
            PYTHONPATH=str(REPO_ROOT),
            PYTHONUNBUFFERED="1",
            BOT_TOKEN=self.fake.token,
            TELEGRAM_API_URL=self.fake.api_url,
            ADMIN_IDS=str(ADMIN_ID),
            DATABASE_URL=f"sqlite://{self.root}/warmup.sqlite3",
            DATA_DIR=str(self.root / "data"),
            PROFILES_FILE=str(self.root / "profiles.yaml"),
            SCENARIOS_DIR=str(self.root / "scenarios"),
            PROGRESS_INTERVAL="0.3",
            TRACE="retain-on-failure",
            TELEGRAM_PRIVATE_CHAT_RATE="50",
            TELEGRAM_GROUP_RATE="3000",
            RETRY_DELAY="0.05",
            MAX_ATTEMPTS="1",
            MAX_CONCURRENCY="2",
            RUN_TIMEOUT="120",
            LOG_LEVEL="DEBUG",
        )
        env.update(extra)
        return env

    async def start(self, **extra_env: str) -> BotProcess:
        """Start `python -m bot` and wait until it polls. The working directory is the test's
        own, so no `.env` of the repository is read and nothing is written there."""
        bot = await self._spawn("bot", (), extra_env)
        await bot.wait_ready()
        return bot

    async def start_worker(self, **extra_env: str) -> BotProcess:
        """Start `python -m bot worker` and wait until it takes runs."""
        worker = await self._spawn("worker", ("worker",), extra_env)
        await worker.wait_ready(line=WORKER_READY_LINE)
        return worker

    async def _spawn(
        self, kind: str, arguments: tuple[str, ...], extra_env: dict[str, str]
    ) -> BotProcess:
        # Taken before the first await: workers started together get files of their own.
        self._spawned += 1
        log_path = self.root / f"{kind}-{self._spawned}.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *arguments,
                cwd=self.root,
                env=self.environment(**extra_env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        started = BotProcess(process, log_path)
        self.started.append(started)
        started.start_sampling()
        return started

    async def close(self) -> None:
        """Kill every bot still running and every Chromium any of them left behind; print
        the bots' output, which pytest shows when the test failed."""
        for bot in self.started:
            if bot.process.returncode is None:
                bot.sample()
                with contextlib.suppress(ProcessLookupError):
                    bot.process.kill()
                await bot.process.wait()
            await bot.stop_sampling()
            kill_all(bot.seen.values())
            print(bot.explain())
