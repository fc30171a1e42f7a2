"""Authorization: one outer middleware on every update, buttons included."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User

from warmup.i18n import _

logger = logging.getLogger(__name__)


def refusal() -> str:
    return _("Sorry, this bot is private: ask its owner to add your Telegram id to ADMIN_IDS.")


class AdminOnly(BaseMiddleware):
    def __init__(self, admin_ids: frozenset[int]) -> None:
        self._admin_ids = admin_ids

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is not None and user.id in self._admin_ids:
            return await handler(event, data)
        if isinstance(event, Update):
            await self._refuse(event, user)
        return None

    async def _refuse(self, update: Update, user: User | None) -> None:
        user_id = user.id if user else None
        if update.message is not None:
            logger.warning("refused user %s: %s", user_id, _command_of(update.message.text))
            await update.message.answer(refusal())
        elif update.callback_query is not None:
            logger.warning("refused user %s: button", user_id)
            await update.callback_query.answer(refusal(), show_alert=True)
        else:
            logger.warning("refused user %s: %s update", user_id, update.event_type)


def _command_of(text: str | None) -> str:
    """Only the command is logged, never what was typed after it."""
    if text and text.startswith("/"):
        return text.split()[0][:64]
    return "a message"
