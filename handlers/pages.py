"""Long lists shown a page at a time: one message, edited in place by ◀ ▶ buttons.

Every list (/profiles, /scenarios, /tasks, /status, /schedules, a task's details) has a
size per page chosen so that its longest possible page stays within Telegram's 4096
characters; the page asked for is clamped to the pages there are now, so a button pressed
after the list shrank shows its last page rather than nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InaccessibleMessage,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from warmup.i18n import _

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAX_PAGE = 99_999
"""The highest page number a button may carry: more than any list has."""


@dataclass(frozen=True, slots=True)
class Page:
    """Where one page lies in a list of `total` items, `size` to a page."""

    number: int
    """From 1; at most `count`."""
    count: int
    """Pages in the list: at least 1, the first page of an empty list."""
    size: int
    total: int

    @classmethod
    def of(cls, total: int, size: int, wanted: int) -> Page:
        count = max(1, math.ceil(total / size))
        return cls(number=min(max(wanted, 1), count), count=count, size=size, total=total)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def slice(self, items: Sequence[T]) -> Sequence[T]:
        return items[self.offset : self.offset + self.size]

    def line(self) -> str:
        """ "page k of n", or nothing for a list that fits one page."""
        if self.count == 1:
            return ""
        return _("page {number} of {count}").format(number=self.number, count=self.count)


def nav_row(page: Page, to_page: Callable[[int], CallbackData]) -> list[InlineKeyboardButton]:
    """◀ and ▶, each only where there is a page to go to."""
    row = []
    if page.number > 1:
        row.append(InlineKeyboardButton(text="◀", callback_data=to_page(page.number - 1).pack()))
    if page.number < page.count:
        row.append(InlineKeyboardButton(text="▶", callback_data=to_page(page.number + 1).pack()))
    return row


def keyboard(*rows: Sequence[InlineKeyboardButton]) -> InlineKeyboardMarkup | None:
    """The rows that have buttons; None when none has."""
    builder = InlineKeyboardBuilder()
    for row in rows:
        if row:
            builder.row(*row)
    markup = builder.as_markup()
    return markup if markup.inline_keyboard else None


def chosen(text: str, selected: bool) -> str:
    """A filter button's label, marked when it is the filter in use."""
    return f"• {text}" if selected else text


async def show_in_place(
    callback: CallbackQuery,
    text: str,
    markup: InlineKeyboardMarkup | None,
    *,
    answer: str | None = None,
) -> None:
    """Edit the message whose button was pressed to `text`, then answer the press (with
    `answer` as a notice). A message that can no longer be edited gets the page as a new
    message below."""
    if not await _edit(callback.message, text, markup) and callback.message is not None:
        assert callback.bot is not None
        await callback.bot.send_message(callback.message.chat.id, text, reply_markup=markup)
    await callback.answer(answer)


async def _edit(
    message: Message | InaccessibleMessage | None, text: str, markup: InlineKeyboardMarkup | None
) -> bool:
    """False when the message cannot be edited (deleted, too old to reach).

    Pressing the filter already in use changes nothing, which Telegram refuses as "message
    is not modified": the message shows the page, so that is a success."""
    if not isinstance(message, Message):
        return False
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as error:
        if "message is not modified" in error.message:
            return True
        logger.warning("list not edited in place, sent anew: %s", error.message)
        return False
    return True
