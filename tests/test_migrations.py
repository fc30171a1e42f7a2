"""The schema is created and upgraded by migrations, keeping what is stored."""

from __future__ import annotations

from pathlib import Path

from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate

from models import Profile, Schedule
from models.database import open_database, tortoise_config


async def test_a_database_of_the_first_version_is_upgraded_at_start(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/old.sqlite3"
    async with TortoiseContext() as context:
        await migrate(config=tortoise_config(url), target="models.0001_initial")
        await context.init(config=tortoise_config(url))
        connection = context.db()
        await connection.execute_query(
            "INSERT INTO profile (name, tags, vars, options, active, created_at, updated_at) "
            "VALUES ('alice', '[]', '{}', '{}', 1, '2026-01-01', '2026-01-01')"
        )

    async with open_database(url):
        alice = await Profile.get(name="alice")
        assert alice.session_expired is False
        assert await Schedule.all().count() == 0
