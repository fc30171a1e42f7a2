"""Live progress messages: one per task of a chat, edited in place as the task runs.

The reporter is an event listener that only records what changed and returns; a
background loop of its own talks to Telegram, so a slow, flooded or unreachable
Telegram delays the messages but never a browser run. Each update is sent from the
state the database holds at that moment, at most once every `interval` seconds per
task (the final state at once, at Telegram's pace), and tried once: when Telegram does
not take it, the next try, after exactly the wait Telegram asked for (or one interval
after an outage or a server error), sends the state of then. So after any outage a
message jumps straight to the latest state.

A task gets its message when the ledger announces it (created, or resumed). Once a
message shows its task's final state the task is marked so in the database; at start
the reporter takes up every message that does not, so a stop or a crash between a
task's end and its last edit leaves no message stale.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.utils.i18n import I18n

from bot.delivery import Undelivered, deliver
from bot.render import MAX_PROFILE_LINES, render_progress
from handlers.keyboards import progress_keyboard
from models import COMMAND_LINE_CHAT, WarmupTask
from warmup.clock import wait_set
from warmup.events import Event, TaskFinished, TaskSubmitted
from warmup.views import load_task_view

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ProgressMessage:
    chat_id: int
    message_id: int | None = None
    """None until Telegram has taken the first version."""
    not_before: float = 0.0
    """Monotonic time of the next allowed update."""


class ProgressReporter:
    def __init__(
        self, bot: Bot, live_steps: Mapping[int, str], i18n: I18n, *, interval: float
    ) -> None:
        self._bot = bot
        self._i18n = i18n
        self._live_steps = live_steps
        self._interval = interval
        self._messages: dict[int, ProgressMessage] = {}
        """task id → its progress message."""
        self._dirty: set[int] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, TaskSubmitted):
            if event.chat_id != COMMAND_LINE_CHAT:
                # A new message each time: a resumed task is told below the Resume press.
                self._messages[event.task_id] = ProgressMessage(event.chat_id)
                self._mark(event.task_id)
            return
        message = self._messages.get(event.task_id)
        if message is None:
            return
        if isinstance(event, TaskFinished):
            # The end is shown at once, not an interval later (the pacer still keeps
            # Telegram's pace in the chat).
            message.not_before = 0.0
        self._mark(event.task_id)

    def _mark(self, task_id: int) -> None:
        self._dirty.add(task_id)
        self._wake.set()

    async def take_up_unfinished(self) -> None:
        """At start: every progress message that does not show its task's final state."""
        stale = await WarmupTask.filter(
            progress_message_id__not_isnull=True, progress_final=False
        ).values_list("id", "chat_id", "progress_message_id")
        for task_id, chat_id, message_id in stale:
            self._messages[task_id] = ProgressMessage(chat_id, message_id)
            self._mark(task_id)

    def start(self) -> None:
        self._loop = asyncio.create_task(self._progress_loop(), name="progress-messages")

    async def close(self, *, flush_timeout: float = 10.0) -> None:
        """Stop the timer, then bring what is pending up to date (within a bound)."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        try:
            async with asyncio.timeout(flush_timeout):
                while self._dirty:
                    task_id = min(self._dirty, key=self._due)
                    await asyncio.sleep(max(0.0, self._due(task_id) - time.monotonic()))
                    try:
                        await self._update(task_id)
                    except Undelivered as error:
                        if error.wait is None:  # unreachable: the next start updates it
                            raise
                        self._later(task_id, error.wait)
        except (TimeoutError, Undelivered):
            logger.warning("stopped with progress messages not up to date")

    async def _progress_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._dirty:
                task_id = min(self._dirty, key=self._due)
                delay = self._due(task_id) - time.monotonic()
                if delay > 0:
                    await wait_set(self._wake, delay)
                    self._wake.clear()
                    continue
                try:
                    await self._update(task_id)
                except Undelivered as error:
                    self._later(task_id, error.wait)
                except Exception:
                    logger.exception("progress of task %d not updated", task_id)
                    self._later(task_id, None)

    def _due(self, task_id: int) -> float:
        message = self._messages.get(task_id)
        return message.not_before if message else 0.0

    def _later(self, task_id: int, wait: float | None) -> None:
        """Not taken now: try again after the wait Telegram asked for, else an interval."""
        message = self._messages.get(task_id)
        if message is None:
            return
        message.not_before = time.monotonic() + (self._interval if wait is None else wait)
        self._dirty.add(task_id)

    async def _update(self, task_id: int) -> None:
        """Send or edit the task's progress message with the state the database holds now.

        An update cancelled halfway (the loop stopped while it waited for the chat's turn)
        leaves the task marked, so that `close` still sends it."""
        self._dirty.discard(task_id)
        try:
            await self._send_update(task_id)
        except asyncio.CancelledError:
            self._dirty.add(task_id)
            raise

    async def _send_update(self, task_id: int) -> None:
        message = self._messages.get(task_id)
        if message is None:
            return
        view = await load_task_view(task_id, self._live_steps, runs_up_to=MAX_PROFILE_LINES)
        if view is None:
            self._messages.pop(task_id, None)
            return
        with self._i18n.use_locale(view.language):
            text = render_progress(view, datetime.now(UTC))
            keyboard = progress_keyboard(view)
        chat_id = message.chat_id
        if message.message_id is None:
            sent = await deliver(
                lambda: self._bot.send_message(chat_id, text, reply_markup=keyboard),
                what=f"progress message of task {task_id}",
                wait=0,
            )
            if sent is None:
                self._messages.pop(task_id, None)
                return
            message.message_id = sent.message_id
            await WarmupTask.filter(id=task_id).update(
                progress_message_id=sent.message_id, progress_final=False
            )
        else:
            message_id = message.message_id
            await deliver(
                lambda: self._bot.edit_message_text(
                    text=text, chat_id=chat_id, message_id=message_id, reply_markup=keyboard
                ),
                what=f"progress of task {task_id}",
                wait=0,
            )
        message.not_before = time.monotonic() + self._interval
        if view.finished and task_id not in self._dirty and self._messages.get(task_id) is message:
            del self._messages[task_id]
            await WarmupTask.filter(id=task_id, progress_message_id=message.message_id).update(
                progress_final=True
            )
