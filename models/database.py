"""Opening the database: the Tortoise context, SQLite tuning and migrations."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate

logger = logging.getLogger(__name__)

APP_LABEL = "models"
MIGRATIONS_LOCK = 0x5741524D
"""The PostgreSQL advisory lock held while migrating ("WARM")."""
SQLITE_BUSY_TIMEOUT_MS = 10_000


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _tuned_url(database_url)},
        "apps": {
            APP_LABEL: {
                "models": ["models.entities"],
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _tuned_url(database_url: str) -> str:
    """Give SQLite a busy timeout so concurrent writers wait instead of failing.

    Tortoise's SQLite client already turns WAL on; it applies extra URL
    parameters as PRAGMAs.
    """
    if not database_url.startswith("sqlite://"):
        return database_url
    parts = urlsplit(database_url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("busy_timeout", str(SQLITE_BUSY_TIMEOUT_MS))
    return urlunsplit(parts._replace(query=urlencode(query)))


def sqlite_path(database_url: str) -> Path | None:
    if not database_url.startswith("sqlite://"):
        return None
    path = database_url.removeprefix("sqlite://").split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


@asynccontextmanager
async def open_database(database_url: str) -> AsyncIterator[TortoiseContext]:
    """Bind the models to this event loop's task tree and bring the schema up to date.

    The context is entered in the calling task; every task created inside it
    inherits it, which is how the bot, the engine and the migrations share one
    set of connections on one loop.
    """
    path = sqlite_path(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            path.touch(mode=0o600)
    config = tortoise_config(database_url)
    # Tortoise caches each model's SQL by connection name, not by dialect: a process that
    # opens a PostgreSQL database after a SQLite one (the tests, the benchmark) must not
    # reuse the other's statements.
    EXECUTOR_CACHE.clear()
    async with TortoiseContext() as context:
        async with _migrations_lock(database_url):
            await migrate(config=config)
        await context.init(config=config)
        logger.info("database ready")
        yield context
    if path is not None and path.exists():
        os.chmod(path, 0o600)


@asynccontextmanager
async def _migrations_lock(database_url: str) -> AsyncIterator[None]:
    """On PostgreSQL, one process at a time brings the schema up to date: the bot and its
    workers may start together. SQLite's own file lock does the same for it."""
    if not database_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        yield
        return
    dsn = "postgresql://" + database_url.split("://", 1)[1].split("?", 1)[0]
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", MIGRATIONS_LOCK)
        yield
    finally:
        await connection.close()  # which releases the lock


TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", "sqlite://data/warmup.sqlite3"))
"""For Tortoise's own command line (`tortoise makemigrations`), via pyproject.toml."""
