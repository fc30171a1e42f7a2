"""aiogram routers, one per feature; the catch-all comes last."""

from __future__ import annotations

from aiogram import Router

from handlers import catalog, fallback, help, tasks, warmup


def get_routers() -> list[Router]:
    return [help.router, warmup.router, tasks.router, catalog.router, fallback.router]
