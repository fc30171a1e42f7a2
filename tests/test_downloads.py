"""A document's download stays bounded, whether or not Telegram gives its size."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BufferedInputFile, Document

from bot.i18n import create_i18n
from handlers.downloads import DownloadRefused, download
from tests.fake_telegram import FakeTelegram

CHAT_ID = 5001
CONTENT = b"steps:\n  - wait: 1\n" * 10


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with create_i18n().context():
        yield


@pytest.fixture
async def sent() -> AsyncIterator[tuple[FakeTelegram, Bot, Document]]:
    """A document the fake Telegram holds, and a bot that downloads through it."""
    async with FakeTelegram() as fake:
        fake.add_chat(CHAT_ID)
        bot = Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.api_url)))
        message = await bot.send_document(CHAT_ID, BufferedInputFile(CONTENT, "browse.yaml"))
        assert message.document is not None and message.document.file_size == len(CONTENT)
        yield fake, bot, message.document
        await bot.session.close()


async def test_a_document_within_the_limit_is_downloaded_whole(
    sent: tuple[FakeTelegram, Bot, Document],
) -> None:
    _, bot, document = sent
    assert await download(bot, document, limit=len(CONTENT), limit_text="at most so") == CONTENT


async def test_a_document_said_to_be_too_large_is_refused_before_the_download(
    sent: tuple[FakeTelegram, Bot, Document],
) -> None:
    fake, bot, document = sent
    calls = len(fake.calls)
    with pytest.raises(DownloadRefused, match=r"too large \(190 bytes\); at most 100 bytes\.$"):
        await download(bot, document, limit=100, limit_text="at most 100 bytes")
    assert len(fake.calls) == calls, "nothing asked of Telegram"


async def test_a_document_of_unknown_size_is_stopped_past_the_limit(
    sent: tuple[FakeTelegram, Bot, Document],
) -> None:
    fake, bot, document = sent
    unsized = document.model_copy(update={"file_size": None})
    with pytest.raises(DownloadRefused, match=r"^the file is too large; at most 100 bytes\.$"):
        await download(bot, unsized, limit=100, limit_text="at most 100 bytes")
    assert fake.calls[-1].method == "getFile", "the download was tried, and stopped"
