"""One pacing policy for every call to Telegram, in one place: the session's middleware.

Every message the bot sends or changes (replies, progress edits, notifications, files)
waits for its turn under Telegram's limits (Bot FAQ): one message a second in a private
chat, twenty a minute in a group, thirty a second in all, each an `aiolimiter` leaky
bucket. A 429 holds its chat for exactly the `retry_after` Telegram gave, never more,
and the call is tried again when the hold ends. Server errors and network failures are
retried with a growing pause. How long a call may wait for all that is its patience: a
command's reply waits long enough to ride out a flood, while background work sets a
patience of its own with `patience()` (the progress reporter sets none at all: it would
rather send a newer state later than an old one now).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    CopyMessage,
    DeleteMessage,
    EditMessageCaption,
    EditMessageMedia,
    EditMessageReplyMarkup,
    EditMessageText,
    ForwardMessage,
    GetUpdates,
    Response,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiolimiter import AsyncLimiter

logger = logging.getLogger(__name__)

PACED_METHODS: tuple[type[TelegramMethod[Any]], ...] = (
    SendMessage,
    SendPhoto,
    SendDocument,
    SendMediaGroup,
    CopyMessage,
    ForwardMessage,
    EditMessageText,
    EditMessageCaption,
    EditMessageMedia,
    EditMessageReplyMarkup,
    DeleteMessage,
)
"""The calls that put something in a chat, which Telegram's per-chat limits count."""

REPLY_PATIENCE = 120.0
"""Seconds a call made without a patience of its own (a command's reply, an answer to a
button) may wait for floods and outages before it gives up."""
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0

_patience: ContextVar[float] = ContextVar("telegram_patience", default=REPLY_PATIENCE)


@contextmanager
def patience(seconds: float) -> Iterator[None]:
    """Calls to Telegram made inside wait at most this long for their turn and retries."""
    token = _patience.set(seconds)
    try:
        yield
    finally:
        _patience.reset(token)


@dataclass(frozen=True, slots=True)
class TelegramLimits:
    private_chat_per_second: float = 1.0
    group_per_minute: float = 20.0
    overall_per_second: float = 30.0


class Held(Exception):
    """The chat is held by a flood limit for longer than the call's patience."""

    def __init__(self, chat_id: int | None, wait: float) -> None:
        super().__init__(f"chat {chat_id} is held for {wait:.1f} s")
        self.wait = wait


class Pacer:
    """Whose turn it is to talk to Telegram, chat by chat."""

    def __init__(
        self, limits: TelegramLimits, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._overall = AsyncLimiter(limits.overall_per_second, 1)
        self._chats: dict[int, AsyncLimiter] = {}
        self._held_until: dict[int | None, float] = {}
        """chat id (None: every chat) → monotonic time its 429 hold ends."""

    def held_for(self, chat_id: int | None) -> float:
        """Seconds until a 429 hold on this chat (or on every chat) ends; 0 when none."""
        until = max(self._held_until.get(chat_id, 0.0), self._held_until.get(None, 0.0))
        return max(0.0, until - self._clock())

    def hold(self, chat_id: int | None, seconds: float) -> None:
        """Telegram said "retry after `seconds`" for this chat (None: for the whole bot)."""
        until = self._clock() + seconds
        self._held_until[chat_id] = max(self._held_until.get(chat_id, 0.0), until)

    async def turn(self, chat_id: int | None, *, patience: float) -> None:
        """Wait for a hold to end and for a place under the limits; Held when the hold
        lasts longer than `patience`."""
        while (held := self.held_for(chat_id)) > 0:
            if held > patience:
                raise Held(chat_id, held)
            await asyncio.sleep(held)
        if chat_id is not None:
            await self._chat_limiter(chat_id).acquire()
        await self._overall.acquire()

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        limiter = self._chats.get(chat_id)
        if limiter is None:
            if chat_id > 0:
                limiter = AsyncLimiter(self._limits.private_chat_per_second, 1)
            else:
                limiter = AsyncLimiter(self._limits.group_per_minute, 60)
            self._chats[chat_id] = limiter
        return limiter


class PacedRequests(BaseRequestMiddleware):
    """The session middleware that applies the pacer and the retries to every call."""

    def __init__(self, pacer: Pacer) -> None:
        self._pacer = pacer

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, GetUpdates):  # polling has its own back-off
            return await make_request(bot, method)
        paced = isinstance(method, PACED_METHODS)
        chat_id = _chat_of(method)
        deadline = time.monotonic() + _patience.get()
        backoff = FIRST_BACKOFF
        while True:
            if paced:
                await self._pacer.turn(chat_id, patience=max(0.0, deadline - time.monotonic()))
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                self._pacer.hold(chat_id if paced else None, error.retry_after)
                if time.monotonic() + error.retry_after > deadline:
                    raise
                logger.info(
                    "%s to %s: flood limit, again in %d s",
                    type(method).__name__,
                    chat_id,
                    error.retry_after,
                )
                if not paced:  # a paced call waits out the hold in its next turn
                    await asyncio.sleep(error.retry_after)
            except TelegramEntityTooLarge:
                raise
            except (TelegramServerError, TelegramNetworkError) as error:
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
                if time.monotonic() + wait > deadline:
                    raise
                logger.info(
                    "%s failed (%s); again in %.0f s",
                    type(method).__name__,
                    type(error).__name__,
                    wait,
                )
                await asyncio.sleep(wait)


def _chat_of(method: TelegramMethod[Any]) -> int | None:
    chat_id = getattr(method, "chat_id", None)
    return chat_id if isinstance(chat_id, int) else None
