"""A person in one Telegram chat with the bot, for end-to-end tests.

Modelled on aiogram_dialog's ``BotClient``: the test types commands, reads the bot's messages and
presses their inline buttons, while the bot under test runs for real against
:class:`tests.fake_telegram.FakeTelegram`. Every read goes to the fake's live state, so a
:class:`BotMessage` kept by a test always shows the message as it is now (edits included).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fake_telegram import FakeTelegram, StoredMessage

__all__ = ["BotMessage", "ChatClient"]

MessageCheck = Callable[["BotMessage"], bool] | str


class BotMessage:
    """A live view of one bot message in the fake."""

    def __init__(self, fake: FakeTelegram, chat_id: int, message_id: int) -> None:
        self._fake = fake
        self.chat_id = chat_id
        self.message_id = message_id

    @property
    def stored(self) -> StoredMessage:
        """The fake's record of the message, as it now stands."""
        stored = self._fake.message(self.chat_id, self.message_id)
        if stored is None:
            raise AssertionError(f"Message {self.message_id} is not in chat {self.chat_id}")
        return stored

    @property
    def text(self) -> str:
        """The text, or the caption of a photo or document ("" for none): plain, as displayed."""
        return self.stored.text or ""

    @property
    def html(self) -> str | None:
        """The text or caption as the bot sent it, before HTML parsing."""
        return self.stored.html

    @property
    def deleted(self) -> bool:
        return self.stored.deleted

    @property
    def reply_markup(self) -> dict[str, Any] | None:
        return self.stored.reply_markup

    @property
    def buttons(self) -> list[str]:
        """Texts of the inline buttons, row by row."""
        return [str(button.get("text", "")) for button in self._button_list()]

    def button_data(self, text: str) -> str:
        """The callback data of the button labelled ``text``."""
        for button in self._button_list():
            if button.get("text") == text:
                data = button.get("callback_data")
                if data is None:
                    raise AssertionError(f"Button {text!r} has no callback data: {button}")
                return str(data)
        raise AssertionError(
            f"No button {text!r} on message {self.message_id}; buttons: {self.buttons}\n"
            f"Message text: {self.text!r}"
        )

    @property
    def photo(self) -> bytes | None:
        photo = self.stored.photo
        return photo.content if photo is not None else None

    @property
    def document(self) -> bytes | None:
        document = self.stored.document
        return document.content if document is not None else None

    @property
    def document_name(self) -> str | None:
        document = self.stored.document
        return document.file_name if document is not None else None

    @property
    def edit_count(self) -> int:
        return self.stored.edit_count

    @property
    def history(self) -> list[str]:
        """The earlier texts, oldest first, one per edit that changed the text."""
        return list(self.stored.history)

    def _button_list(self) -> list[dict[str, Any]]:
        markup = self.stored.reply_markup or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BotMessage):
            return NotImplemented
        return (self.chat_id, self.message_id) == (other.chat_id, other.message_id)

    def __hash__(self) -> int:
        return hash((self.chat_id, self.message_id))

    def __repr__(self) -> str:
        stored = self._fake.message(self.chat_id, self.message_id)
        if stored is None:
            return f"<BotMessage #{self.message_id} (missing)>"
        return f"<BotMessage #{self.message_id} {stored.text!r} buttons={self.buttons}>"


def _as_check(check: MessageCheck) -> Callable[[BotMessage], bool]:
    if isinstance(check, str):
        return lambda message: check in message.text
    return check


def _describe(check: MessageCheck) -> str:
    return f"text containing {check!r}" if isinstance(check, str) else "a matching message"


class ChatClient:
    """One user in one chat (by default their private chat with the bot)."""

    def __init__(
        self,
        fake: FakeTelegram,
        chat_id: int | None = None,
        user_id: int = 100_001,
        language_code: str = "en",
        first_name: str = "Tester",
    ) -> None:
        self.fake = fake
        self.user_id = user_id
        self.chat_id = user_id if chat_id is None else chat_id
        self.language_code = language_code
        self.first_name = first_name
        self.last_sent_id: int | None = None

    async def send(self, text: str) -> int:
        """Type ``text`` and send it; returns the new message's id."""
        self.last_sent_id = self.fake.user_sends(
            self.chat_id,
            self.user_id,
            text,
            first_name=self.first_name,
            language_code=self.language_code,
        )
        return self.last_sent_id

    async def send_document(self, filename: str, content: bytes, caption: str | None = None) -> int:
        """Send a file; returns the new message's id."""
        self.last_sent_id = self.fake.user_sends_document(
            self.chat_id,
            self.user_id,
            filename,
            content,
            caption,
            first_name=self.first_name,
            language_code=self.language_code,
        )
        return self.last_sent_id

    @property
    def bot_messages(self) -> list[BotMessage]:
        """The bot's messages in this chat, oldest first (deleted ones left out)."""
        return [
            BotMessage(self.fake, self.chat_id, stored.message_id)
            for stored in self.fake.bot_messages(self.chat_id)
        ]

    def bot_messages_after(self, message_id: int | None) -> list[BotMessage]:
        return [
            message
            for message in self.bot_messages
            if message_id is None or message.message_id > message_id
        ]

    async def wait_for_message(
        self,
        predicate: MessageCheck,
        timeout: float = 10,
        after: int | None = None,
    ) -> BotMessage:
        """The first bot message (after message id ``after``, if given) that satisfies
        ``predicate``; a string means "the text contains it"."""
        check = _as_check(predicate)

        def found() -> BotMessage | None:
            return next((m for m in self.bot_messages_after(after) if check(m)), None)

        where = f" after message {after}" if after is not None else ""
        return await self.fake.wait_for(
            found, timeout, description=f"a bot message with {_describe(predicate)}{where}"
        )

    async def wait_for_reply(self, timeout: float = 10) -> BotMessage:
        """The first bot message after the last message this user sent."""
        if self.last_sent_id is None:
            raise AssertionError("wait_for_reply needs a message sent first with send()")
        after = self.last_sent_id

        def found() -> BotMessage | None:
            later = self.bot_messages_after(after)
            return later[0] if later else None

        return await self.fake.wait_for(
            found, timeout, description=f"a bot reply after message {after}"
        )

    async def wait_until(
        self, message: BotMessage, predicate: MessageCheck, timeout: float = 10
    ) -> BotMessage:
        """Wait until ``message``, as now edited, satisfies ``predicate`` (a string: contains)."""
        check = _as_check(predicate)

        def satisfied() -> BotMessage | None:
            return message if check(message) else None

        return await self.fake.wait_for(
            satisfied,
            timeout,
            description=f"message {message.message_id} to show {_describe(predicate)}",
        )

    async def press(self, message: BotMessage, button_text: str, timeout: float = 10) -> str | None:
        """Press the inline button labelled ``button_text`` and wait for the bot to answer the
        callback query; returns the answer's text (None when answered without one)."""
        if button_text not in message.buttons:
            raise AssertionError(
                f"No button {button_text!r} on message {message.message_id}; "
                f"buttons: {message.buttons}\nMessage text: {message.text!r}"
            )
        return await self.press_data(message, message.button_data(button_text), timeout)

    async def press_data(self, message: BotMessage, data: str, timeout: float = 10) -> str | None:
        """Press with arbitrary callback data (a forged or outdated payload) and wait for the
        answer; returns its text."""
        query_id = self.fake.user_presses(self.chat_id, self.user_id, message.message_id, data)
        query = self.fake.callback_queries[query_id]
        answer = await self.fake.wait_for(
            lambda: query.answer,
            timeout,
            description=f"an answer to callback query {query_id} (data {data!r})",
        )
        return answer.text
