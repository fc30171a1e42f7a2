"""/stats [days]: the fleet's recent history as a picture, with the numbers in its caption.

The whole fleet's runs, whichever chat started them: the profiles are shared.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _

from bot.charts import render_chart, stats_caption
from handlers.arguments import ArgumentError, parse_days
from warmup.stats import fleet_stats

logger = logging.getLogger(__name__)

DEFAULT_DAYS = 14
MAX_DAYS = 365


async def stats(message: Message, command: CommandObject, i18n: I18n) -> None:
    try:
        days = parse_days(command.args, DEFAULT_DAYS, most=MAX_DAYS)
    except ArgumentError as error:
        await message.answer(f"⚠️ {error}. " + _("Usage: /stats [days]"))
        return
    counted = await fleet_stats(days)
    if not counted.runs:
        await message.answer(
            ngettext(
                "No run ended in the last {days} day (UTC).",
                "No run ended in the last {days} days (UTC).",
                days,
            ).format(days=days)
        )
        return
    started = time.perf_counter()
    picture = await asyncio.to_thread(render_chart, counted, i18n.current_locale)
    elapsed = time.perf_counter() - started
    logger.info("stats of %d days (%d runs) drawn in %.2f s", days, counted.runs, elapsed)
    await message.answer_photo(
        BufferedInputFile(picture, filename=f"warmup-stats-{days}d.png"),
        caption=stats_caption(counted, i18n.current_locale),
    )


def create_router() -> Router:
    router = Router(name="stats")
    router.message.register(stats, Command("stats"))
    return router
