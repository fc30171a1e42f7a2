"""Fixtures: a fake Telegram, a local site, and the whole bot started on them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from bot.app import Application
from bot.settings import Settings, load_settings
from models import ACTIVE_TASK_STATUSES, OutboxMessage, WarmupTask
from tests.chat_client import ChatClient
from tests.fake_telegram import FakeTelegram
from tests.servers import PostgresServer, RedisServer
from tests.site import LocalSite

if TYPE_CHECKING:
    from tests.bot_process import BotLauncher

ADMIN_ID = 1001
CHAT_ID = 5001

SMOKE = """
description: Open the feed, scroll, read a story
steps:
  - goto: "{site}/feed?p={profile}"
  - scroll: 400
  - click: "a.item"
  - expect: "#article"
"""


@dataclass
class Harness:
    app: Application
    fake: FakeTelegram
    site: LocalSite
    chat: ChatClient
    settings: Settings

    @contextmanager
    def db(self) -> Iterator[None]:
        """Query the bot's database from the test's own task."""
        assert self.app.database is not None
        with self.app.database:
            yield

    def chat_for(self, chat_id: int, user_id: int = ADMIN_ID) -> ChatClient:
        return ChatClient(self.fake, chat_id=chat_id, user_id=user_id)

    async def settled(self, timeout: float = 30) -> None:
        """Until everything bound for Telegram has gone: no task is still active, the
        outbox is empty and every progress message shows its task's final state. What
        was going to be sent has been, so a count taken now is final."""
        async with asyncio.timeout(timeout):
            while True:
                with self.db():
                    waiting = (
                        await WarmupTask.filter(status__in=list(ACTIVE_TASK_STATUSES)).count()
                        + await OutboxMessage.all().count()
                        + await WarmupTask.filter(
                            progress_message_id__not_isnull=True, progress_final=False
                        ).count()
                    )
                if not waiting:
                    return
                await asyncio.sleep(0.05)


StartBot = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def site() -> AsyncIterator[LocalSite]:
    local = LocalSite()
    await local.start()
    yield local
    await local.stop()


def write_config(
    root: Path,
    site: LocalSite,
    profiles: list[str | dict[str, Any]],
    scenarios: dict[str, str],
) -> None:
    entries = []
    for profile in profiles:
        entry = {"name": profile} if isinstance(profile, str) else dict(profile)
        entry["vars"] = {"site": site.url, **entry.get("vars", {})}
        entries.append(entry)
    (root / "profiles.yaml").write_text(yaml.safe_dump({"profiles": entries}), encoding="utf-8")
    scenarios_dir = root / "scenarios"
    scenarios_dir.mkdir(exist_ok=True)
    for name, text in scenarios.items():
        (scenarios_dir / f"{name}.yaml").write_text(text, encoding="utf-8")


@pytest.fixture
async def start_bot(tmp_path: Path, fake: FakeTelegram, site: LocalSite) -> AsyncIterator[StartBot]:
    """Start the real application (polling, Chromium, SQLite file) on the fakes."""
    running: list[tuple[Application, asyncio.Task[None]]] = []

    async def start(
        profiles: list[str | dict[str, Any]] | None = None,
        scenarios: dict[str, str] | None = None,
        *,
        write: bool = True,
        **overrides: Any,
    ) -> Harness:
        if write:
            write_config(
                tmp_path,
                site,
                profiles or ["alice"],
                scenarios if scenarios is not None else {"smoke": SMOKE},
            )
        options: dict[str, Any] = {
            "_env_file": None,
            "bot_token": fake.token,
            "telegram_api_url": fake.api_url,
            "admin_ids": frozenset({ADMIN_ID}),
            "database_url": f"sqlite://{tmp_path}/warmup.sqlite3",
            "data_dir": tmp_path / "data",
            "profiles_file": tmp_path / "profiles.yaml",
            "scenarios_dir": tmp_path / "scenarios",
            "progress_interval": 0.3,
            "trace": "retain-on-failure",  # one attempt per run here: trace it
            # Telegram's real per-chat pace (1 a second) would slow every test down; the
            # pacing tests set it back.
            "telegram_private_chat_rate": 50,
            "telegram_group_rate": 3000,
            "retry_delay": 0.05,
            "max_attempts": 1,
            "run_timeout": 60,
        }
        options.update(overrides)
        settings = load_settings(**options)
        app = Application(settings, handle_signals=False)
        runner = asyncio.create_task(app.run())
        running.append((app, runner))
        ready = asyncio.create_task(app.ready.wait())
        await asyncio.wait({runner, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            ready.cancel()
            runner.result()
        assert app.ready.is_set(), "the bot did not start within 30 s"
        return Harness(
            app, fake, site, ChatClient(fake, chat_id=CHAT_ID, user_id=ADMIN_ID), settings
        )

    yield start
    for app, runner in running:
        if not runner.done():
            await app.stop()
        await asyncio.wait_for(runner, timeout=30)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL for the session, started by the first test that needs it."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/warmup.sqlite3"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return await server.create_database()


@pytest.fixture
async def bots(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[BotLauncher]:
    """`python -m bot` (and its workers) as real processes, killed at the end if alive."""
    from tests.bot_process import BotLauncher  # which imports this module's constants

    launcher = BotLauncher(tmp_path, fake)
    yield launcher
    await launcher.close()


@pytest.fixture
def chat(fake: FakeTelegram) -> ChatClient:
    """The admin in the tests' private chat with the bot."""
    return ChatClient(fake, chat_id=CHAT_ID, user_id=ADMIN_ID)
