"""/export [days]: the runs of this chat's tasks as a CSV document."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import FSInputFile, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.settings import Settings
from handlers.arguments import ArgumentError, parse_days
from handlers.tasks import DOCUMENT_LIMIT
from warmup.export import export_runs

logger = logging.getLogger(__name__)

DEFAULT_DAYS = 30


async def export(message: Message, command: CommandObject, settings: Settings) -> None:
    try:
        days = parse_days(command.args, DEFAULT_DAYS)
    except ArgumentError as error:
        await message.answer(f"⚠️ {error}. " + _("Usage: /export [days]"))
        return
    since = datetime.now(UTC) - timedelta(days=days)
    folder = settings.data_dir / "exports"
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True, mode=0o700)
    descriptor, name = tempfile.mkstemp(dir=folder, prefix="runs-", suffix=".csv")
    path = Path(name)
    try:
        await asyncio.to_thread(os.close, descriptor)
        count = await export_runs(message.chat.id, since, path)
        if not count:
            await message.answer(
                _("No runs in {period}. /tasks lists the latest tasks.").format(
                    period=last_days(days)
                )
            )
            return
        size = (await asyncio.to_thread(path.stat)).st_size
        if size > DOCUMENT_LIMIT:
            await message.answer(
                "⚠️ "
                + ngettext(
                    "The export of {count} run is {size} MB, over Telegram's 50 MB: "
                    "ask for fewer days, like /export 7.",
                    "The export of {count} runs is {size} MB, over Telegram's 50 MB: "
                    "ask for fewer days, like /export 7.",
                    count,
                ).format(count=count, size=f"{size / 2**20:.0f}")
            )
            return
        filename = f"warmup-runs-{datetime.now(UTC):%Y-%m-%d}-{days}d.csv"
        await message.answer_document(
            FSInputFile(path, filename=filename),
            caption=_("{runs} of {period}.").format(
                runs=ngettext("{count} run", "{count} runs", count).format(count=count),
                period=last_days(days),
            ),
        )
        logger.info("exported %d runs of the last %d days to chat %d", count, days, message.chat.id)
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


def last_days(days: int) -> str:
    return ngettext("the last {days} day", "the last {days} days", days).format(days=days)


def create_router() -> Router:
    router = Router(name="export")
    router.message.register(export, Command("export"))
    return router
