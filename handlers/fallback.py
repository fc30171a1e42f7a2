"""Last in line: what no other handler took, and errors."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import CallbackQuery, ErrorEvent, Message
from aiogram.utils.i18n import gettext as _

logger = logging.getLogger(__name__)


async def on_unknown_button(callback: CallbackQuery) -> None:
    """Forged or outdated payloads: answer, so the button stops spinning, and do nothing."""
    await callback.answer(_("This button is no longer valid."))


async def on_unknown_command(message: Message) -> None:
    await message.answer(_("Unknown command. /help lists what I can do."))


async def on_other_message(message: Message) -> None:
    await message.answer(_("I only understand commands. /help lists them."))


async def on_error(event: ErrorEvent) -> None:
    logger.error(
        "update %s failed: %s",
        event.update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    if event.update.message is not None:
        await event.update.message.answer(_("Something went wrong; the error is in the bot's log."))
    elif event.update.callback_query is not None:
        await event.update.callback_query.answer(_("Something went wrong; see the bot's log."))


def create_router() -> Router:
    router = Router(name="fallback")
    router.callback_query.register(on_unknown_button)
    router.message.register(on_unknown_command, F.text.startswith("/"))
    router.message.register(on_other_message)
    router.errors.register(on_error, ExceptionTypeFilter(Exception))
    return router
