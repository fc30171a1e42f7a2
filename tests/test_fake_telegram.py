"""The fake Bot API server behaves like Telegram for a real aiogram Bot and Dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from tests.chat_client import ChatClient
from tests.fake_telegram import NOT_MODIFIED, ApiCall, FakeTelegram, parse_html, png_bytes

CHAT_ID = 4242
OTHER_CHAT_ID = 4343
GROUP_ID = -424242


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data)] for text, data in buttons
        ]
    )


def make_bot(fake: FakeTelegram, token: str | None = None) -> Bot:
    return Bot(
        token or fake.token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(fake.api_url)),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        server.add_chat(CHAT_ID)
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    bot = make_bot(fake)
    yield bot
    await bot.session.close()


async def test_send_then_edit_message(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(
        CHAT_ID, "<b>Warmup #1</b> &amp; co\n\n", reply_markup=keyboard(("Cancel", "cancel:1"))
    )

    assert sent.text == "Warmup #1 & co"
    assert sent.from_user is not None and sent.from_user.is_bot
    assert sent.chat.type == "private"
    assert sent.entities is not None and sent.entities[0].type == "bold"
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == keyboard(("Cancel", "cancel:1")).model_dump()

    edited = await bot.edit_message_text(
        "<i>Completed</i>", chat_id=CHAT_ID, message_id=sent.message_id
    )

    assert isinstance(edited, Message)
    assert edited.text == "Completed"
    assert edited.reply_markup is None  # an edit that leaves the keyboard out removes it
    stored = fake.message(CHAT_ID, sent.message_id)
    assert stored is not None
    assert (stored.text, stored.html) == ("Completed", "<i>Completed</i>")
    assert (stored.edit_count, stored.history) == (1, ["Warmup #1 & co"])


async def test_an_edit_that_changes_nothing_is_refused(fake: FakeTelegram, bot: Bot) -> None:
    markup = keyboard(("Details", "details:1"))
    sent = await bot.send_message(CHAT_ID, "Running <b>1/2</b>", reply_markup=markup)

    with pytest.raises(TelegramBadRequest) as refused:
        await bot.edit_message_text(
            "Running <b>1/2</b>", chat_id=CHAT_ID, message_id=sent.message_id, reply_markup=markup
        )

    assert refused.value.message == NOT_MODIFIED
    # Same text, other formatting: modified, as on Telegram.
    await bot.edit_message_text(
        "Running 1/2", chat_id=CHAT_ID, message_id=sent.message_id, reply_markup=markup
    )
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=CHAT_ID, message_id=999)


async def test_an_injected_429_raises_retry_after_and_changes_nothing(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.fail_next("sendMessage", retry_after=7)

    with pytest.raises(TelegramRetryAfter) as limited:
        await bot.send_message(CHAT_ID, "hello")

    assert limited.value.retry_after == 7
    # aiogram rewrites a 429's message and keeps Telegram's text at its end.
    assert limited.value.message.endswith("Original description: Too Many Requests: retry after 7")
    assert fake.messages(CHAT_ID) == []
    assert [(c.method, c.ok, c.error_code) for c in fake.calls] == [("sendMessage", False, 429)]
    assert not fake.calls[0].flood_limited and fake.flood_refusals == 0
    await bot.send_message(CHAT_ID, "hello")
    assert [m.text for m in fake.messages(CHAT_ID)] == ["hello"]


async def test_server_errors_and_a_wrong_token(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", error_code=502)
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.send_message(CHAT_ID, "hello")

    stranger = make_bot(fake, token="999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await stranger.get_me()
    finally:
        await stranger.session.close()


async def test_raw_http_answers_have_telegrams_shapes(fake: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as http:
        base = f"{fake.api_url}/bot{fake.token}"
        async with http.get(f"{base}/noSuchMethod") as response:
            assert (response.status, await response.json()) == (
                404,
                {"ok": False, "error_code": 404, "description": "Not Found"},
            )
        async with http.get(f"{fake.api_url}/bot1:nope/getMe") as response:
            assert (response.status, await response.json()) == (
                401,
                {"ok": False, "error_code": 401, "description": "Unauthorized"},
            )
        fake.fail_next("getMe", retry_after=3)
        async with http.post(f"{base}/getMe", json={}) as response:
            assert (response.status, await response.json()) == (
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 3",
                    "parameters": {"retry_after": 3},
                },
            )
        async with http.post(f"{base}/sendMessage", json={"chat_id": 1, "text": "x"}) as response:
            assert (await response.json())["description"] == "Bad Request: chat not found"


async def test_callback_data_is_limited_to_64_bytes(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(CHAT_ID, "ok", reply_markup=keyboard(("é", "é" * 32)))

    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(CHAT_ID, "too long", reply_markup=keyboard(("x", "a" * 65)))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(CHAT_ID, "empty", reply_markup=keyboard(("x", "")))
    assert [m.text for m in fake.messages(CHAT_ID)] == ["ok"]


async def test_texts_and_captions_have_telegrams_limits(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(CHAT_ID, "a" * 4096)
    await bot.send_message(CHAT_ID, "<b>" + "a" * 4096 + "</b>")  # counted after parsing

    with pytest.raises(TelegramBadRequest) as too_long:
        await bot.send_message(CHAT_ID, "a" * 4097)
    assert too_long.value.message == "Bad Request: message is too long"
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(CHAT_ID, "")
    with pytest.raises(TelegramBadRequest, match="text must be non-empty"):
        await bot.send_message(CHAT_ID, "<b> </b>\n")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(CHAT_ID, BufferedInputFile(png_bytes(), "p.png"), caption="c" * 1025)


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("line<br>break", 'Unsupported start tag "br" at byte offset 4'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("привет <div>", 'Unsupported start tag "div" at byte offset 13'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ],
)
async def test_bad_html_cannot_be_parsed(bot: Bot, html: str, reason: str) -> None:
    with pytest.raises(TelegramBadRequest) as refused:
        await bot.send_message(CHAT_ID, html)

    assert refused.value.message == f"Bad Request: can't parse entities: {reason}"


async def test_a_bare_ampersand_is_text_unless_the_fake_is_strict(bot: Bot) -> None:
    sent = await bot.send_message(CHAT_ID, "AT&T <i>&amp;</i> co")
    assert sent.text == "AT&T & co"

    async with FakeTelegram(strict_ampersand=True) as strict:
        strict.add_chat(CHAT_ID)
        strict_bot = make_bot(strict)
        try:
            with pytest.raises(
                TelegramBadRequest, match='can\'t parse entities: Unescaped "&" at '
            ):
                await strict_bot.send_message(CHAT_ID, "AT&T")
        finally:
            await strict_bot.session.close()


def test_html_is_parsed_as_telegram_does() -> None:
    assert parse_html("Tom & Jerry &copy; &lt;3 &#65;&#x42;") == ("Tom & Jerry &copy; <3 AB", [])
    text, entities = parse_html(
        '<a href="https://e.com/?a=1&amp;b=2">site</a> <pre><code class="language-py">x'
        "</code></pre> <tg-spoiler>s</tg-spoiler> <blockquote expandable>q</blockquote>"
    )
    assert text == "site x s q"
    assert entities == [
        {"type": "text_link", "offset": 0, "length": 4, "url": "https://e.com/?a=1&b=2"},
        {"type": "pre", "offset": 5, "length": 1, "language": "py"},
        {"type": "spoiler", "offset": 7, "length": 1},
        {"type": "expandable_blockquote", "offset": 9, "length": 1},
    ]


async def test_photos_and_documents_are_stored_and_downloadable(
    fake: FakeTelegram, bot: Bot
) -> None:
    image = png_bytes(1280, 720)
    sent = await bot.send_photo(
        CHAT_ID,
        BufferedInputFile(image, "shot.png"),
        caption="<b>alice</b> failed",
        reply_markup=keyboard(("Retry", "retry:1")),
    )

    assert sent.caption == "alice failed"
    assert sent.photo is not None and (sent.photo[-1].width, sent.photo[-1].height) == (1280, 720)
    assert fake.calls[-1].files == {"photo": image}
    chat = ChatClient(fake, chat_id=CHAT_ID)
    (view,) = chat.bot_messages
    assert (view.photo, view.text, view.buttons) == (image, "alice failed", ["Retry"])
    downloaded = await bot.download(sent.photo[-1].file_id)
    assert downloaded is not None and downloaded.read() == image

    report = await bot.send_document(CHAT_ID, BufferedInputFile(b"a,b\n", "report.csv"))
    assert report.document is not None and report.document.file_name == "report.csv"
    assert chat.bot_messages[-1].document == b"a,b\n"


async def test_photos_telegram_cannot_take_are_refused(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(CHAT_ID, BufferedInputFile(b"", "empty.png"))
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(CHAT_ID, BufferedInputFile(b"not an image", "x.png"))
    # A full-page screenshot of a long page: width + height over 10000.
    with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
        await bot.send_photo(CHAT_ID, BufferedInputFile(png_bytes(1280, 9000), "tall.png"))
    assert fake.messages(CHAT_ID) == []


async def test_user_documents_can_be_fetched_with_get_file(fake: FakeTelegram, bot: Bot) -> None:
    chat = ChatClient(fake, chat_id=CHAT_ID, user_id=CHAT_ID)
    message_id = await chat.send_document("profiles.yaml", b"- alice\n", caption="new list")

    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.message_id == message_id
    assert update.message.document is not None
    assert (update.message.caption, update.message.document.file_name) == (
        "new list",
        "profiles.yaml",
    )
    file = await bot.get_file(update.message.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == b"- alice\n"


async def test_long_polling_returns_as_soon_as_an_update_arrives(
    fake: FakeTelegram, bot: Bot
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    fake.user_sends(CHAT_ID, CHAT_ID, "/start")

    (update,) = await poll
    assert loop.time() - started < 2
    assert update.message is not None and update.message.text == "/start"
    entities = update.message.entities
    assert entities is not None and (entities[0].type, entities[0].length) == ("bot_command", 6)
    # The offset confirms it; nothing is left, and a short poll returns empty.
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == []
    assert fake.pending_updates == []


async def test_commands_are_stored_per_scope_and_language(fake: FakeTelegram, bot: Bot) -> None:
    commands = [BotCommand(command="warmup", description="Start a warmup")]
    assert await bot.set_my_commands(commands)
    assert await bot.set_my_commands(
        [BotCommand(command="hilfe", description="Hilfe")], language_code="de"
    )

    assert [c.model_dump() for c in await bot.get_my_commands()] == [
        c.model_dump() for c in commands
    ]
    assert fake.commands_for() == [{"command": "warmup", "description": "Start a warmup"}]
    assert fake.commands_for(language_code="de")[0]["command"] == "hilfe"
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])


async def test_a_callback_query_can_be_answered_once(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(CHAT_ID, "Pick", reply_markup=keyboard(("Go", "go")))
    query_id = fake.user_presses(CHAT_ID, CHAT_ID, sent.message_id, "go")

    assert fake.callback_answers[query_id] is None
    assert await bot.answer_callback_query(query_id, text="Done", show_alert=True)
    answer = fake.callback_answers[query_id]
    assert answer is not None and (answer.text, answer.show_alert) == ("Done", True)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("12345")


async def test_a_real_dispatcher_replies_and_answers_buttons(fake: FakeTelegram, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message(Command("ping"))
    async def ping(message: Message) -> None:
        await message.answer("<b>pong</b>", reply_markup=keyboard(("Again", "again")))

    @dp.callback_query(F.data == "again")
    async def again(callback: CallbackQuery) -> None:
        assert isinstance(callback.message, Message)
        await callback.message.edit_text("pong again")
        await callback.answer("Pinged again")

    @dp.callback_query()
    async def forged(callback: CallbackQuery) -> None:
        await callback.answer("This button is no longer valid.", show_alert=True)

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, polling_timeout=1, close_bot_session=False)
    )
    try:
        chat = ChatClient(fake, chat_id=CHAT_ID, user_id=CHAT_ID)
        command_id = await chat.send("/ping")
        reply = await chat.wait_for_reply(timeout=5)

        assert reply.message_id > command_id
        assert (reply.text, reply.html, reply.buttons) == ("pong", "<b>pong</b>", ["Again"])
        assert await chat.press(reply, "Again", timeout=5) == "Pinged again"
        assert (reply.text, reply.edit_count, reply.history) == ("pong again", 1, ["pong"])
        assert await chat.press_data(reply, "forged:1", timeout=5) == (
            "This button is no longer valid."
        )
        with pytest.raises(AssertionError, match=r"No button 'Missing'.*buttons: \[\]"):
            await chat.press(reply, "Missing")
    finally:
        await dp.stop_polling()
        await polling


async def test_wait_for_times_out_with_a_readable_account(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(CHAT_ID, "Warmup #1 running")
    chat = ChatClient(fake, chat_id=CHAT_ID)

    with pytest.raises(AssertionError) as timed_out:
        await chat.wait_for_message("Completed", timeout=0.2)

    report = str(timed_out.value)
    assert "text containing 'Completed'" in report
    assert "sendMessage ok" in report
    assert "'Warmup #1 running'" in report


async def test_a_restarted_bot_polls_without_conflicts(fake: FakeTelegram) -> None:
    async def run_once(text: str) -> None:
        bot = make_bot(fake)
        dp = Dispatcher()

        @dp.message()
        async def echo(message: Message) -> None:
            await message.answer(f"echo {message.text}")

        polling = asyncio.create_task(
            dp.start_polling(bot, handle_signals=False, polling_timeout=1)
        )
        try:
            chat = ChatClient(fake, chat_id=CHAT_ID, user_id=CHAT_ID)
            await chat.send(text)
            assert (await chat.wait_for_reply(timeout=5)).text == f"echo {text}"
        finally:
            await dp.stop_polling()
            await polling  # start_polling closes the bot's session

    await run_once("first")
    await run_once("second")

    refused = [c for c in fake.calls if not c.ok]
    assert refused == []


async def test_two_pollers_at_once_conflict_as_on_telegram(fake: FakeTelegram, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(bot.get_updates(timeout=1))

    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first
    assert await second == []


async def test_flood_limits_are_off_by_default_and_can_be_turned_off(
    fake: FakeTelegram, bot: Bot
) -> None:
    for number in range(5):
        await bot.send_message(CHAT_ID, f"line {number}")

    assert fake.flood_limits is None and fake.flood_refusals == 0
    assert fake.max_calls_in_window(60, chat_id=CHAT_ID) == 5  # measured all the same

    fake.enforce_flood_limits()
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(CHAT_ID, "too soon")
    fake.flood_limits = None
    await bot.send_message(CHAT_ID, "unlimited again")
    assert fake.messages(CHAT_ID)[-1].text == "unlimited again"
    assert fake.flood_refusals == 1


async def test_a_private_chat_takes_one_message_a_second(fake: FakeTelegram, bot: Bot) -> None:
    fake.enforce_flood_limits()
    await bot.send_message(CHAT_ID, "first")

    with pytest.raises(TelegramRetryAfter) as limited:
        await bot.send_message(CHAT_ID, "second")

    assert limited.value.retry_after == 1
    assert limited.value.message.endswith("Original description: Too Many Requests: retry after 1")
    assert [m.text for m in fake.messages(CHAT_ID)] == ["first"]
    refused = fake.calls[-1]
    assert (refused.method, refused.ok, refused.error_code) == ("sendMessage", False, 429)
    assert refused.flood_limit == f"private chat {CHAT_ID}: at most 1 call per 0.9s"
    assert refused.flood_limited and fake.flood_refusals == 1
    assert "(flood limit of private chat 4242" in fake.dump()

    await asyncio.sleep(limited.value.retry_after)
    await bot.send_message(CHAT_ID, "second")
    assert [m.text for m in fake.messages(CHAT_ID)] == ["first", "second"]
    assert fake.max_calls_in_window(0.9, chat_id=CHAT_ID) == 1
    assert fake.max_calls_in_window(60, chat_id=CHAT_ID) == 2


async def test_private_chats_do_not_limit_each_other(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_chat(OTHER_CHAT_ID)
    fake.enforce_flood_limits()

    await bot.send_message(CHAT_ID, "to one")
    await bot.send_message(OTHER_CHAT_ID, "to another")

    assert fake.flood_refusals == 0
    assert fake.max_calls_in_window(0.9) == 2
    assert fake.max_calls_in_window(0.9, chat_id=OTHER_CHAT_ID) == 1


async def test_edits_and_deletions_count_and_are_refused_with_telegrams_429(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.enforce_flood_limits()
    sent = await bot.send_message(CHAT_ID, "Running 1/2")
    edit = {"chat_id": CHAT_ID, "message_id": sent.message_id, "text": "Running 2/2"}
    fake.fail_next("editMessageText", retry_after=5)

    async with aiohttp.ClientSession() as http:
        base = f"{fake.api_url}/bot{fake.token}"
        async with http.post(f"{base}/editMessageText", json=edit) as response:
            injected = (response.status, await response.json())
        async with http.post(f"{base}/editMessageText", json=edit) as response:
            emulated = (response.status, await response.json())

    assert injected[0] == emulated[0] == 429
    assert emulated[1] == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }
    # Both answer alike; only the recorded call tells the emulation's refusal apart.
    assert [(c.error_code, c.flood_limited) for c in fake.calls[-2:]] == [(429, False), (429, True)]
    assert fake.flood_refusals == 1
    stored = fake.message(CHAT_ID, sent.message_id)
    assert stored is not None and (stored.text, stored.edit_count) == ("Running 1/2", 0)
    with pytest.raises(TelegramRetryAfter):
        await bot.delete_message(CHAT_ID, sent.message_id)
    assert not stored.deleted

    await asyncio.sleep(emulated[1]["parameters"]["retry_after"])
    await bot.edit_message_text("Running 2/2", chat_id=CHAT_ID, message_id=sent.message_id)
    with pytest.raises(TelegramRetryAfter):
        await bot.edit_message_reply_markup(
            chat_id=CHAT_ID, message_id=sent.message_id, reply_markup=keyboard(("Stop", "stop"))
        )
    assert (stored.text, stored.edit_count, stored.reply_markup) == ("Running 2/2", 1, None)
    assert fake.flood_refusals == 3


async def test_a_group_takes_twenty_messages_a_minute(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_chat(GROUP_ID)
    fake.enforce_flood_limits()
    first = await bot.send_message(GROUP_ID, "line 0")
    for number in range(1, 15):
        await bot.send_message(GROUP_ID, f"line {number}")
    for number in range(5):  # edits count as messages
        await bot.edit_message_text(
            f"line 0, edit {number}", chat_id=GROUP_ID, message_id=first.message_id
        )
    assert fake.flood_refusals == 0

    with pytest.raises(TelegramRetryAfter) as limited:
        await bot.send_message(GROUP_ID, "one too many")
    with pytest.raises(TelegramRetryAfter):
        await bot.delete_message(GROUP_ID, first.message_id)

    # The window is the first call's minute, less the tolerance: 54 s.
    assert 50 <= limited.value.retry_after <= 54
    assert fake.calls[-1].flood_limit == f"group {GROUP_ID}: at most 20 calls per 54s"
    assert len(fake.messages(GROUP_ID)) == 15 and fake.flood_refusals == 2
    assert fake.max_calls_in_window(54, chat_id=GROUP_ID) == 20
    await bot.send_message(CHAT_ID, "a private chat is not held up by the group")


async def test_all_chats_together_take_thirty_messages_a_second(fake: FakeTelegram) -> None:
    chat_ids = list(range(1, 32))
    for chat_id in chat_ids:
        fake.add_chat(chat_id)
    fake.enforce_flood_limits()

    async with aiohttp.ClientSession() as http:
        base = f"{fake.api_url}/bot{fake.token}"

        async def send(chat_id: int) -> dict[str, Any]:
            async with http.post(
                f"{base}/sendMessage", json={"chat_id": chat_id, "text": "hi"}
            ) as response:
                return dict(await response.json())

        answers = await asyncio.gather(*(send(chat_id) for chat_id in chat_ids))
        refused = [
            (chat_id, answer)
            for chat_id, answer in zip(chat_ids, answers, strict=True)
            if not answer["ok"]
        ]

        assert len(refused) == 1
        chat_id, answer = refused[0]
        assert answer["parameters"] == {"retry_after": 1}
        assert fake.calls[-1].flood_limit == "all chats: at most 30 calls per 0.9s"
        assert fake.messages(chat_id) == [] and fake.flood_refusals == 1
        assert fake.max_calls_in_window(0.9) == 30

        await asyncio.sleep(answer["parameters"]["retry_after"])
        assert (await send(chat_id))["ok"]
        assert [m.text for m in fake.messages(chat_id)] == ["hi"]


async def test_calls_that_are_not_messages_are_never_limited(fake: FakeTelegram, bot: Bot) -> None:
    # The strictest limits: one message a second in all, one per 18 s in the chat.
    fake.enforce_flood_limits(private_per_second=0.05, overall_per_second=1)
    sent = await bot.send_message(CHAT_ID, "Pick", reply_markup=keyboard(("Go", "go")))
    for _ in range(3):
        query_id = fake.user_presses(CHAT_ID, CHAT_ID, sent.message_id, "go")
        assert await bot.answer_callback_query(query_id, text="Done")
        await bot.send_chat_action(CHAT_ID, "typing")
        await bot.get_me()
        await bot.set_my_commands([BotCommand(command="warmup", description="Start a warmup")])
    updates = await bot.get_updates(timeout=0)
    await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    await bot.get_updates(timeout=0)

    assert fake.flood_refusals == 0
    # The limits are on all the same: the next message is refused.
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(CHAT_ID, "too soon")
    assert fake.flood_refusals == 1


async def test_private_rates_other_than_one_a_second(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_chat(OTHER_CHAT_ID)
    fake.enforce_flood_limits(private_per_second=3)
    for number in range(3):
        await bot.send_message(CHAT_ID, f"line {number}")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(CHAT_ID, "a fourth in a second")

    fake.enforce_flood_limits(private_per_second=0.5)  # one per 2 s, less the tolerance
    await bot.send_message(OTHER_CHAT_ID, "one")
    with pytest.raises(TelegramRetryAfter) as limited:
        await bot.send_message(OTHER_CHAT_ID, "two")
    assert limited.value.retry_after == 2
    assert fake.calls[-1].flood_limit == f"private chat {OTHER_CHAT_ID}: at most 1 call per 1.8s"

    with pytest.raises(ValueError, match="tolerance"):
        fake.enforce_flood_limits(tolerance=1)


def test_max_calls_in_window_counts_successful_message_calls_by_their_times() -> None:
    fake = FakeTelegram()

    def call(method: str, chat_id: int, at: float, *, ok: bool = True) -> ApiCall:
        return ApiCall(method, {"chat_id": chat_id}, {}, time=at, ok=ok)

    fake.calls.extend(
        [
            call("sendMessage", 1, 10.0),
            call("editMessageText", 1, 10.5),
            call("sendPhoto", 1, 10.99),
            call("sendMessage", 1, 11.0),  # exactly a second after the first: its own window
            call("sendMessage", 1, 10.7, ok=False),  # refused: not counted
            call("answerCallbackQuery", 1, 10.8),
            call("sendChatAction", 1, 10.9),
            call("sendMessage", 2, 10.2),
            call("deleteMessage", -5, 10.3),
        ]
    )

    assert fake.max_calls_in_window(1, chat_id=1) == 3
    assert fake.max_calls_in_window(0.5, chat_id=1) == 2
    assert fake.max_calls_in_window(0.01, chat_id=1) == 2  # 10.99 and 11.0
    assert fake.max_calls_in_window(0.005, chat_id=1) == 1
    assert fake.max_calls_in_window(1) == 5
    assert fake.max_calls_in_window(1, methods=["sendMessage"]) == 2  # 10.0 and 10.2
    assert fake.max_calls_in_window(1, chat_id=1, methods=["SENDMESSAGE", "sendPhoto"]) == 2
    assert fake.max_calls_in_window(60, methods=["answerCallbackQuery", "sendChatAction"]) == 2
    assert fake.max_calls_in_window(60, chat_id=3) == 0
    with pytest.raises(ValueError, match="positive"):
        fake.max_calls_in_window(0)
