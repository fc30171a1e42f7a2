"""One pacing policy for every call to Telegram, in one place: the session's middleware.

Every message the bot sends or changes (replies, progress edits, notifications, files)
waits for its turn under Telegram's limits (Bot FAQ): one message a second in a private
chat, twenty a minute in a group, thirty a second in all (see `Pacer`). A 429 holds its
chat for exactly the `retry_after` Telegram gave, never more, and the call is tried
again when the hold ends. Server errors and network failures are retried with a growing
pause. How long a call may wait for all that is its patience: a command's reply waits
long enough to ride out a flood, while background work sets a patience of its own with
`patience()` (the progress reporter sets none at all: it would rather send a newer
state later than an old one now).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
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


@dataclass(slots=True)
class _ChatPace:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """One call in flight per chat, so that the spacing is counted from Telegram's answer."""
    ready_at: float = 0.0
    """Monotonic time the chat's next call may start (private chats)."""
    bucket: AsyncLimiter | None = None
    """A group's budget of messages a minute."""
    waiting: int = 0
    """Calls that wait for their turn (replies): calls without patience give way to them."""


class Pacer:
    """Whose turn it is to talk to Telegram, chat by chat.

    Telegram counts a chat's messages as they arrive, and a call leaves some time before
    it arrives (a screenshot takes longer to upload than a line of text). So a private
    chat's next message starts one interval after Telegram *answered* the previous one,
    which can never arrive too early; a group's twenty a minute and the thirty a second
    in all are `aiolimiter` buckets, which allow the bursts Telegram allows.
    """

    def __init__(
        self, limits: TelegramLimits, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._overall = AsyncLimiter(limits.overall_per_second, 1)
        self._chats: dict[int, _ChatPace] = {}
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

    @asynccontextmanager
    async def turn(self, chat_id: int | None, *, patience: float) -> AsyncIterator[None]:
        """The turn of one call to this chat (None: a call to no chat in particular):
        entered once a hold has ended and the limits leave room, left when Telegram has
        answered. Held when the hold lasts longer than `patience`.

        A call without patience (a progress edit, a notification: work that is tried again
        later with what is current then) never waits in the queue: it waits out the chat's
        spacing, but whenever the chat is held, busy or has a reply waiting it is Held at
        once with the wait to try after. So an operator's reply never queues behind the
        bot's own updates.
        """
        if chat_id is None:
            await self._wait_for_hold(None, patience)
            await self._overall.acquire()
            yield
            return
        pace = self._pace(chat_id)
        if patience <= 0:
            await self._enter_unless_busy(chat_id, pace)
        else:
            pace.waiting += 1
            try:
                await pace.lock.acquire()
            finally:
                pace.waiting -= 1
        try:
            await self._wait_for_hold(chat_id, patience)
            if (early := pace.ready_at - self._clock()) > 0:
                await asyncio.sleep(early)
            if pace.bucket is not None:
                await pace.bucket.acquire()
            await self._overall.acquire()
            try:
                yield
            finally:
                if chat_id > 0:
                    pace.ready_at = self._clock() + self._spacing
        finally:
            pace.lock.release()

    @property
    def _spacing(self) -> float:
        return 1 / self._limits.private_chat_per_second

    async def _enter_unless_busy(self, chat_id: int, pace: _ChatPace) -> None:
        """Take the chat's lock for a call without patience once the spacing since the
        last call has passed; Held when the chat is held, busy or has a reply waiting,
        checked again after the wait."""
        while True:
            if pace.lock.locked() or pace.waiting:
                raise Held(chat_id, self._spacing if chat_id > 0 else 1.0)
            if (held := self.held_for(chat_id)) > 0:
                raise Held(chat_id, held)
            if pace.bucket is not None and not pace.bucket.has_capacity():
                raise Held(chat_id, 60 / self._limits.group_per_minute)
            early = pace.ready_at - self._clock()
            if early <= 0:
                await pace.lock.acquire()  # free: taken at once
                return
            await asyncio.sleep(early)

    async def _wait_for_hold(self, chat_id: int | None, patience: float) -> None:
        while (held := self.held_for(chat_id)) > 0:
            if held > patience:
                raise Held(chat_id, held)
            await asyncio.sleep(held)

    def _pace(self, chat_id: int) -> _ChatPace:
        pace = self._chats.get(chat_id)
        if pace is None:
            bucket = None if chat_id > 0 else AsyncLimiter(self._limits.group_per_minute, 60)
            pace = self._chats[chat_id] = _ChatPace(bucket=bucket)
        return pace


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
            try:
                if not paced:
                    return await make_request(bot, method)
                left = max(0.0, deadline - time.monotonic())
                async with self._pacer.turn(chat_id, patience=left):
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
