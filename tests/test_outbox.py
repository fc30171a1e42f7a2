"""The pacer and the outbox sender, against the fake Bot API server with Telegram's flood
limits on: what Telegram would refuse is never sent, and what waits is never lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from bot.i18n import create_i18n, install
from bot.outbox import OutboxSender
from bot.pacing import Held, PacedRequests, Pacer, TelegramLimits, patience
from models import NoticeKind, OutboxMessage
from models.database import open_database
from tests.chat_client import BotMessage, ChatClient
from tests.fake_telegram import FakeTelegram, png_bytes

CHAT = 5001
OTHER_CHAT = 5002


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        server.add_chat(CHAT)
        server.add_chat(OTHER_CHAT)
        yield server


def in_chat(fake: FakeTelegram, chat_id: int) -> list[BotMessage]:
    return ChatClient(fake, chat_id=chat_id).bot_messages


def paced_bot(fake: FakeTelegram, pacer: Pacer) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.api_url), timeout=10)
    session.middleware(PacedRequests(pacer))
    return Bot(fake.token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[None]:
    async with open_database(f"sqlite://{tmp_path}/outbox.sqlite3"):
        yield


async def test_messages_to_one_chat_are_spaced_as_telegram_asks(fake: FakeTelegram) -> None:
    fake.enforce_flood_limits()
    bot = paced_bot(fake, Pacer(TelegramLimits()))
    try:
        await asyncio.gather(*(bot.send_message(CHAT, f"number {n}") for n in range(4)))
    finally:
        await bot.session.close()
    assert sorted(m.text for m in in_chat(fake, CHAT)) == [f"number {n}" for n in range(4)]
    assert fake.flood_refusals == 0
    assert fake.max_calls_in_window(0.9, chat_id=CHAT) == 1


async def test_a_429_holds_the_chat_for_exactly_its_retry_after_and_the_call_lands(
    fake: FakeTelegram,
) -> None:
    fake.fail_next("sendMessage", error_code=429, retry_after=2)
    pacer = Pacer(TelegramLimits(private_chat_per_second=50))
    bot = paced_bot(fake, pacer)
    try:
        await bot.send_message(CHAT, "waited out")
        refused, sent = [call for call in fake.calls if call.method == "sendMessage"]
        assert 2.0 <= sent.time - refused.time < 4.0, "waited as Telegram said, no longer"
        assert pacer.held_for(CHAT) == 0 and pacer.held_for(OTHER_CHAT) == 0
    finally:
        await bot.session.close()
    assert [m.text for m in in_chat(fake, CHAT)] == ["waited out"]


async def test_a_hold_longer_than_the_patience_is_refused_at_once() -> None:
    pacer = Pacer(TelegramLimits())
    pacer.hold(CHAT, 30)
    with pytest.raises(Held) as held:
        async with pacer.turn(CHAT, patience=5):
            raise AssertionError("no turn for a chat held for 30 s")
    assert 29 < held.value.wait <= 30
    async with pacer.turn(OTHER_CHAT, patience=0):
        pass


async def test_a_call_without_patience_gives_way_to_a_reply_and_never_queues() -> None:
    pacer = Pacer(TelegramLimits(private_chat_per_second=5))
    reply_in_flight, reply_answered = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def reply() -> None:
        async with pacer.turn(CHAT, patience=10):
            reply_in_flight.set()
            await reply_answered.wait()
            order.append("reply")

    async def queued_reply() -> None:
        async with pacer.turn(CHAT, patience=10):
            order.append("queued reply")

    replying = asyncio.create_task(reply())
    await reply_in_flight.wait()
    with pytest.raises(Held) as busy:
        async with pacer.turn(CHAT, patience=0):
            raise AssertionError("an edit went while a reply was in flight")
    assert busy.value.wait == pytest.approx(0.2)
    queued = asyncio.create_task(queued_reply())
    await asyncio.sleep(0)
    with pytest.raises(Held):
        async with pacer.turn(CHAT, patience=0):
            raise AssertionError("an edit overtook a reply that waits for its turn")
    reply_answered.set()
    await asyncio.gather(replying, queued)
    async with pacer.turn(CHAT, patience=0):
        order.append("edit, after the spacing")
    assert order == ["reply", "queued reply", "edit, after the spacing"]


async def test_calls_without_patience_wait_out_the_spacing_one_after_the_other(
    fake: FakeTelegram,
) -> None:
    fake.enforce_flood_limits(private_per_second=5)
    pacer = Pacer(TelegramLimits(private_chat_per_second=5))
    bot = paced_bot(fake, pacer)
    try:
        for number in range(3):
            with patience(0):
                await bot.send_message(CHAT, f"update {number}")
    finally:
        await bot.session.close()
    assert [m.text for m in in_chat(fake, CHAT)] == [f"update {n}" for n in range(3)]
    assert fake.flood_refusals == 0


async def queue_failures(chat_id: int, task_id: int, profiles: list[str]) -> None:
    for number, profile in enumerate(profiles, start=1):
        await OutboxMessage.create(
            chat_id=chat_id,
            kind=NoticeKind.run_failed,
            task_id=task_id,
            payload={
                "run_id": number,
                "profile": profile,
                "step": "steps[0] (goto x)",
                "error": f"HTTP 500 for {profile}",
                "screenshot": None,
                "trace": False,
                "session_expired": False,
            },
        )


async def drain(sender: OutboxSender, tries: int = 20) -> None:
    """Send until the outbox is empty, each pass after the wait the last one named: the
    pacer holds a chat's next message until its turn rather than queueing it."""
    for _ in range(tries):
        wait = await sender.send_pending()
        if wait == 0:
            return
        await asyncio.sleep(wait)
    raise AssertionError(f"the outbox still holds {await OutboxMessage.all().count()} rows")


def sender_for(bot: Bot, pacer: Pacer) -> OutboxSender:
    i18n = create_i18n()
    install(i18n)
    return OutboxSender(
        bot, pacer, i18n, retry_interval=0.2, artifacts_dir=Path("/nonexistent/artifacts")
    )


async def test_notices_go_in_order_and_leave_the_outbox_only_once_taken(
    fake: FakeTelegram, database: None
) -> None:
    pacer = Pacer(TelegramLimits(private_chat_per_second=50))
    bot = paced_bot(fake, pacer)
    sender = sender_for(bot, pacer)
    await queue_failures(CHAT, 1, ["alice", "bob"])
    await OutboxMessage.create(
        chat_id=CHAT, kind=NoticeKind.task_interrupted, task_id=2, payload={"auto_resume": False}
    )
    try:
        await fake.go_offline()
        assert await sender.send_pending() > 0
        assert await OutboxMessage.all().count() == 3, "nothing is lost while Telegram is away"
        await fake.go_online()
        await drain(sender)
    finally:
        await bot.session.close()
    texts = [m.text for m in in_chat(fake, CHAT)]
    assert ["alice" in texts[0], "bob" in texts[1], "interrupted" in texts[2]] == [True] * 3
    assert in_chat(fake, CHAT)[2].buttons == ["Resume"]
    assert await OutboxMessage.all().count() == 0


async def test_many_failures_of_one_task_are_folded_into_one_message(
    fake: FakeTelegram, database: None
) -> None:
    fake.enforce_flood_limits()
    pacer = Pacer(TelegramLimits())
    bot = paced_bot(fake, pacer)
    sender = sender_for(bot, pacer)
    profiles = [f"p{number:03}" for number in range(500)]
    await queue_failures(CHAT, 7, profiles)
    try:
        assert await sender.send_pending() == 0
    finally:
        await bot.session.close()
    (summary,) = in_chat(fake, CHAT)
    assert "Warmup #7: 500 more profiles failed" in summary.text
    assert "p000 · steps[0] (goto x): HTTP 500 for p000" in summary.text
    assert len(summary.text) <= 4096
    assert summary.buttons == ["Restart failed", "Details"]
    assert fake.flood_refusals == 0
    assert await OutboxMessage.all().count() == 0


async def test_a_screenshot_telegram_refuses_does_not_lose_the_notice(
    fake: FakeTelegram, database: None, tmp_path: Path
) -> None:
    not_an_image = tmp_path / "broken.png"
    not_an_image.write_bytes(b"not a picture")
    fine = tmp_path / "fine.png"
    fine.write_bytes(png_bytes())
    pacer = Pacer(TelegramLimits(private_chat_per_second=50))
    bot = paced_bot(fake, pacer)
    sender = sender_for(bot, pacer)
    await queue_failures(CHAT, 1, ["alice", "bob"])
    rows = await OutboxMessage.all().order_by("id")
    for row, picture in zip(rows, (not_an_image, fine), strict=True):
        row.payload = {**row.payload, "screenshot": str(picture)}
        await row.save()
    try:
        await drain(sender)
    finally:
        await bot.session.close()
    alice, bob = in_chat(fake, CHAT)
    assert alice.photo is None and "HTTP 500 for alice" in alice.text
    assert bob.photo is not None and "HTTP 500 for bob" in bob.text


async def test_a_chat_held_by_a_flood_limit_does_not_hold_the_others(
    fake: FakeTelegram, database: None
) -> None:
    pacer = Pacer(TelegramLimits(private_chat_per_second=50))
    bot = paced_bot(fake, pacer)
    sender = sender_for(bot, pacer)
    await queue_failures(CHAT, 1, ["alice"])
    await queue_failures(OTHER_CHAT, 2, ["bob"])
    fake.fail_next("sendMessage", error_code=429, retry_after=30)
    try:
        wait = await sender.send_pending()
    finally:
        await bot.session.close()
    assert 25 < wait <= 30
    assert in_chat(fake, CHAT) == []
    assert ["HTTP 500 for bob" in m.text for m in in_chat(fake, OTHER_CHAT)] == [True]
    assert await OutboxMessage.filter(chat_id=CHAT).count() == 1
