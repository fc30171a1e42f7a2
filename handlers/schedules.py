"""/schedules (to be built: issue 4)."""

from __future__ import annotations

from aiogram import Router


def create_router() -> Router:
    return Router(name="schedules")
