"""aiogram routers, one per feature; the catch-all comes last.

Routers are built per dispatcher (a router belongs to one parent), so a process
or a test suite may create several dispatchers one after another.
"""

from __future__ import annotations

from aiogram import Router

from handlers import (
    catalog,
    export,
    fallback,
    help,
    schedules,
    sessions,
    stats,
    tasks,
    uploads,
    warmup,
)


def get_routers() -> list[Router]:
    return [
        help.create_router(),
        warmup.create_router(),
        tasks.create_router(),
        catalog.create_router(),
        sessions.create_router(),
        schedules.create_router(),
        export.create_router(),
        stats.create_router(),
        uploads.create_router(),
        fallback.create_router(),
    ]
