"""The same migrations build the same schema on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from tortoise.context import TortoiseContext

from models.database import open_database
from tests.servers import PostgresServer

Schema = dict[str, dict[str, object]]
"""table → {"columns": {name: (kind, nullable)}, "unique": {column sets}, "indexed": ...}"""


def kind(declared: str) -> str:
    """A column type as one of a few kinds both databases agree on. SQLite has no boolean:
    Tortoise stores one as an INT there."""
    declared = declared.lower()
    for word, family in (
        ("bigint", "bigint"),
        ("int", "integer"),
        ("serial", "integer"),
        ("bool", "integer"),
        ("blob", "binary"),
        ("bytea", "binary"),
        ("timestamp", "timestamp"),
        ("json", "json"),
        ("char", "text"),
        ("text", "text"),
    ):
        if word in declared:
            return family
    return declared


async def sqlite_schema(context: TortoiseContext) -> Schema:
    connection = context.db()
    _, tables = await connection.execute_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    schema: Schema = {}
    for (table,) in [tuple(row) for row in tables]:
        _, columns = await connection.execute_query(f'PRAGMA table_info("{table}")')
        described = {
            row["name"]: (kind(row["type"]), not row["notnull"] and not row["pk"])
            for row in columns
        }
        _, indexes = await connection.execute_query(f'PRAGMA index_list("{table}")')
        unique, indexed = set(), set()
        for index in indexes:
            _, parts = await connection.execute_query(f'PRAGMA index_info("{index["name"]}")')
            names = frozenset(part["name"] for part in parts)
            (unique if index["unique"] else indexed).add(names)
        schema[table] = {"columns": described, "unique": unique, "indexed": indexed}
    return schema


POSTGRES_INDEXES = """
SELECT t.relname AS table_name, i.indisunique AS is_unique,
       array_agg(a.attname::text ORDER BY a.attname) AS names
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey)
WHERE n.nspname = 'public' AND NOT i.indisprimary
GROUP BY i.indexrelid, t.relname, i.indisunique
"""


async def postgres_schema(context: TortoiseContext) -> Schema:
    connection = context.db()
    _, columns = await connection.execute_query(
        "SELECT table_name, column_name, data_type, is_nullable, "
        "column_name = ANY(SELECT kcu.column_name FROM information_schema.key_column_usage kcu "
        "JOIN information_schema.table_constraints tc "
        "ON tc.constraint_name = kcu.constraint_name AND tc.table_name = kcu.table_name "
        "WHERE tc.constraint_type = 'PRIMARY KEY' AND kcu.table_name = c.table_name) AS pk "
        "FROM information_schema.columns c WHERE table_schema = 'public'"
    )
    schema: Schema = {}
    for row in columns:
        table = schema.setdefault(
            row["table_name"], {"columns": {}, "unique": set(), "indexed": set()}
        )
        nullable = row["is_nullable"] == "YES" and not row["pk"]
        table["columns"][row["column_name"]] = (kind(row["data_type"]), nullable)  # type: ignore[index]
    _, indexes = await connection.execute_query(POSTGRES_INDEXES)
    for row in indexes:
        sets = schema[row["table_name"]]["unique" if row["is_unique"] else "indexed"]
        sets.add(frozenset(row["names"]))  # type: ignore[attr-defined]
    return schema


async def test_sqlite_and_postgresql_get_the_same_tables_columns_and_keys(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with open_database(f"sqlite://{tmp_path}/schema.sqlite3") as context:
        on_sqlite = await sqlite_schema(context)
    async with open_database(await postgres_server.create_database()) as context:
        on_postgres = await postgres_schema(context)

    assert {"profile", "warmup_task", "warmup_run", "profile_lease", "outbox_message"} <= set(
        on_sqlite
    )
    assert sorted(on_postgres) == sorted(on_sqlite)
    for table, described in on_sqlite.items():
        assert on_postgres[table] == described, table
    # Each of the one-holder and one-run-per-profile rules is a unique key on both.
    assert frozenset({"profile_id"}) in on_postgres["profile_lease"]["unique"]  # type: ignore[operator]
    assert frozenset({"task_id", "profile_id"}) in on_postgres["warmup_run"]["unique"]  # type: ignore[operator]
