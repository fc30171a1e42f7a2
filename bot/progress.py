"""The Telegram side of the engine's events: live progress messages and notifications.

The reporter is an event listener that only records what changed and returns;
two background loops of its own do the talking to Telegram. So a slow, flooded
or unreachable Telegram delays messages but never a browser run:

- progress messages are sent or edited from the database's current state, at
  most once every `interval` seconds per task; after an outage the message jumps
  straight to the latest state instead of replaying the edits it missed;
- notifications (failures, interrupted tasks) wait in a queue, in order, until
  Telegram takes them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiogram import Bot
from aiogram.types import FSInputFile, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n

from bot.delivery import Undelivered, deliver
from bot.render import render_failure, render_progress
from handlers.keyboards import failure_keyboard, progress_keyboard
from models import WarmupTask
from warmup.events import Event, RunFailed, StepStarted
from warmup.views import load_task_view

logger = logging.getLogger(__name__)

MAX_PROGRESS_BACKOFF = 30.0
"""Seconds between two tries of a progress update at most, while Telegram is unreachable."""
NOTIFICATION_PATIENCE = 3600.0
"""Seconds a notification keeps trying before it is logged as lost."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for one chat, already worded in that chat's language."""

    chat_id: int
    text: str
    keyboard: InlineKeyboardMarkup | None = None
    photo: Path | None = None


@dataclass(slots=True)
class ProgressMessage:
    chat_id: int
    message_id: int | None = None
    """None until Telegram has taken the first version."""
    not_before: float = 0.0
    """Monotonic time of the next allowed update."""
    backoff: float = 0.0


class ProgressReporter:
    def __init__(
        self,
        bot: Bot,
        live_steps: Mapping[int, str],
        i18n: I18n,
        *,
        interval: float,
        alert_chat_id: int | None,
    ) -> None:
        self._bot = bot
        self._i18n = i18n
        self._live_steps = live_steps
        self._interval = interval
        self._alert_chat_id = alert_chat_id
        self._messages: dict[int, ProgressMessage] = {}
        """task id → its progress message."""
        self._dirty: set[int] = set()
        self._wake = asyncio.Event()
        self._outbox: asyncio.Queue[Outgoing | RunFailed] = asyncio.Queue()
        self._loops: list[asyncio.Task[None]] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunFailed) and event.final:
            self._failure_notifications(event)
        if isinstance(event, StepStarted) and event.task_id not in self._messages:
            return
        self._mark(event.task_id)

    def _mark(self, task_id: int) -> None:
        self._dirty.add(task_id)
        self._wake.set()

    def _failure_notifications(self, failure: RunFailed) -> None:
        self._outbox.put_nowait(failure)

    def open_message(self, task_id: int, chat_id: int) -> None:
        """Give the task a new progress message in this chat, sent at once and kept current.

        Each update is tried once (a flood limit's wait is honoured): when Telegram is
        unreachable the next try renders the state of then, so nothing stale is replayed.
        """
        self._messages[task_id] = ProgressMessage(chat_id)
        self._mark(task_id)

    async def refresh(self, task_id: int, chat_id: int, message_id: int) -> None:
        """Bring an existing progress message up to date now (one try), e.g. after a crash."""
        self._messages[task_id] = ProgressMessage(chat_id, message_id)
        try:
            await self._update(task_id)
        except Undelivered:
            logger.warning("progress message of task %d left as it was", task_id)
            self._messages.pop(task_id, None)

    def notify(self, chat_id: int, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
        """Queue a message that must reach the chat even through an outage of Telegram."""
        self._outbox.put_nowait(Outgoing(chat_id, text, keyboard))

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._progress_loop(), name="progress-messages"),
            asyncio.create_task(self._outbox_loop(), name="notifications"),
        ]

    async def close(self, *, flush_timeout: float = 10.0) -> None:
        """Stop the timer, deliver what is pending (within a bound), then stop."""
        progress, outbox = self._loops
        progress.cancel()
        await asyncio.gather(progress, return_exceptions=True)
        try:
            async with asyncio.timeout(flush_timeout):
                for task_id in list(self._dirty):
                    await self._update(task_id)
                await self._outbox.join()
        except (TimeoutError, Undelivered):
            logger.warning("stopped with messages still undelivered")
        outbox.cancel()
        await asyncio.gather(outbox, return_exceptions=True)

    async def _progress_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._dirty:
                task_id = min(self._dirty, key=self._due)
                delay = self._due(task_id) - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue
                try:
                    await self._update(task_id)
                except Undelivered as error:
                    self._postpone(task_id, error.wait)
                except Exception:
                    logger.exception("progress of task %d not updated", task_id)

    def _due(self, task_id: int) -> float:
        message = self._messages.get(task_id)
        return message.not_before if message else 0.0

    def _postpone(self, task_id: int, wait: float) -> None:
        """Telegram is unreachable: try again later, backing off, with the state of then."""
        message = self._messages[task_id]
        message.backoff = min(max(message.backoff * 2, wait, self._interval), MAX_PROGRESS_BACKOFF)
        message.not_before = time.monotonic() + message.backoff
        self._dirty.add(task_id)

    async def _update(self, task_id: int) -> None:
        """Send or edit the task's progress message with the state the database holds now."""
        self._dirty.discard(task_id)
        message = self._messages.get(task_id)
        if message is None:
            return
        view = await load_task_view(task_id, self._live_steps)
        if view is None:
            self._messages.pop(task_id, None)
            return
        with self._i18n.use_locale(view.language):
            text = render_progress(view, datetime.now(UTC))
            keyboard = progress_keyboard(view)
        if message.message_id is None:
            sent = await deliver(
                lambda: self._bot.send_message(message.chat_id, text, reply_markup=keyboard),
                what=f"progress message of task {task_id}",
                patience=0,
            )
            if sent is not None:
                message.message_id = sent.message_id
                await WarmupTask.filter(id=task_id).update(progress_message_id=sent.message_id)
        else:
            message_id = message.message_id
            await deliver(
                lambda: self._bot.edit_message_text(
                    text=text,
                    chat_id=message.chat_id,
                    message_id=message_id,
                    reply_markup=keyboard,
                ),
                what=f"progress of task {task_id}",
                patience=0,
            )
        message.not_before = time.monotonic() + self._interval
        message.backoff = 0.0
        if view.finished:
            self._messages.pop(task_id, None)

    async def _outbox_loop(self) -> None:
        while True:
            queued = await self._outbox.get()
            try:
                for outgoing in await self._worded(queued):
                    await self._send(outgoing)
            except Undelivered as error:
                logger.error("notification lost after %.0f s: %s", NOTIFICATION_PATIENCE, error)
            except Exception:
                logger.exception("notification not sent")
            finally:
                self._outbox.task_done()

    async def _worded(self, queued: Outgoing | RunFailed) -> list[Outgoing]:
        """A failure goes to the task's chat and ALERT_CHAT_ID, in the task's language."""
        if isinstance(queued, Outgoing):
            return [queued]
        task = await WarmupTask.get_or_none(id=queued.task_id)
        if task is None:
            return []
        chats = [task.chat_id]
        if self._alert_chat_id is not None and self._alert_chat_id != task.chat_id:
            chats.append(self._alert_chat_id)
        with self._i18n.use_locale(task.language):
            text = render_failure(
                queued.task_id,
                queued.profile,
                queued.step,
                queued.error,
                session_expired=queued.session_expired,
            )
            keyboard = failure_keyboard(queued.run_id, with_trace=queued.trace is not None)
        return [Outgoing(chat_id, text, keyboard, queued.screenshot) for chat_id in chats]

    async def _send(self, outgoing: Outgoing) -> None:
        chat_id = outgoing.chat_id
        photo = _existing(outgoing.photo)
        what = f"notification to {chat_id}"
        if photo is not None:
            await deliver(
                lambda: self._bot.send_photo(
                    chat_id,
                    FSInputFile(photo),
                    caption=outgoing.text,
                    reply_markup=outgoing.keyboard,
                ),
                what=what,
                patience=NOTIFICATION_PATIENCE,
            )
        else:
            await deliver(
                lambda: self._bot.send_message(
                    chat_id, outgoing.text, reply_markup=outgoing.keyboard
                ),
                what=what,
                patience=NOTIFICATION_PATIENCE,
            )


def _existing(path: Path | None) -> Path | None:
    return path if path is not None and path.is_file() else None
