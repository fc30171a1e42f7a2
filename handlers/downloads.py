"""Downloading a document sent to the bot, bounded in size (/import, /scenario, /profiles_file)."""

from __future__ import annotations

import io
import logging
from typing import Any

from aiogram import Bot, html
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Document
from aiogram.utils.i18n import gettext as _
from aiohttp import ClientError

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 60


class DownloadRefused(Exception):
    """Why a document was not downloaded, as HTML for the reply."""


class _TooLarge(Exception):
    pass


class _BoundedBuffer(io.BytesIO):
    """Stops a download that grows past the limit: Telegram may leave out a file's size."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self._limit:
            raise _TooLarge
        return super().write(data)


async def download(bot: Bot, document: Document, *, limit: int, limit_text: str) -> bytes:
    """The document's bytes; DownloadRefused past `limit` bytes (checked before the download
    when Telegram gives the size, and while it runs in any case), naming `limit_text`, or
    when Telegram does not give the file."""
    if document.file_size is not None and document.file_size > limit:
        raise DownloadRefused(
            _("the file is too large ({bytes} bytes); {limit}.").format(
                bytes=f"{document.file_size:,}", limit=limit_text
            )
        )
    buffer = _BoundedBuffer(limit)
    try:
        await bot.download(document, destination=buffer, timeout=DOWNLOAD_TIMEOUT)
    except _TooLarge:
        raise DownloadRefused(
            _("the file is too large; {limit}.").format(limit=limit_text)
        ) from None
    except (TelegramAPIError, ClientError, TimeoutError) as error:
        # Only Telegram's own description is shown: aiohttp's messages hold the file's
        # URL, and the bot token is part of it.
        detail = _first_line(error.message) if isinstance(error, TelegramAPIError) else ""
        logger.warning("could not download a document: %s", type(error).__name__)
        raise DownloadRefused(
            _("the file could not be downloaded from Telegram ({detail}); send it again.").format(
                detail=html.quote(detail or type(error).__name__)
            )
        ) from None
    return buffer.getvalue()


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else ""
