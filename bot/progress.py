"""The Telegram side of the engine's events: live progress messages and failure notifications.

The reporter is an event listener that only records what changed and returns;
two background loops of its own do the talking to Telegram. So a slow or
flooded chat delays messages but never a browser run, and after an outage the
progress message jumps straight to the latest state instead of replaying edits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from aiogram import Bot
from aiogram.types import FSInputFile

from bot.delivery import deliver
from bot.render import render_failure, render_progress
from handlers.keyboards import progress_keyboard, retry_keyboard
from models import WarmupTask
from warmup.events import Event, RunFailed, StepStarted
from warmup.views import load_task_view

logger = logging.getLogger(__name__)


class ProgressReporter:
    def __init__(
        self,
        bot: Bot,
        live_steps: Mapping[int, str],
        *,
        interval: float,
        alert_chat_id: int | None,
    ) -> None:
        self._bot = bot
        self._live_steps = live_steps
        self._interval = interval
        self._alert_chat_id = alert_chat_id
        self._messages: dict[int, tuple[int, int]] = {}
        """task id → (chat id, message id) of its progress message."""
        self._dirty: set[int] = set()
        self._last_edit: dict[int, float] = {}
        self._wake = asyncio.Event()
        self._notifications: asyncio.Queue[RunFailed] = asyncio.Queue()
        self._loops: list[asyncio.Task[None]] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunFailed) and event.final:
            self._notifications.put_nowait(event)
        if isinstance(event, StepStarted) and event.task_id not in self._messages:
            return
        self._dirty.add(event.task_id)
        self._wake.set()

    async def open_message(self, task_id: int, chat_id: int) -> None:
        """Send the task's progress message and keep it up to date from now on."""
        view = await load_task_view(task_id, self._live_steps)
        if view is None:
            return
        message = await deliver(
            lambda: self._bot.send_message(
                chat_id,
                render_progress(view, datetime.now(UTC)),
                reply_markup=progress_keyboard(view),
            ),
            what=f"progress message of task {task_id}",
        )
        if message is None:
            return
        await WarmupTask.filter(id=task_id).update(progress_message_id=message.message_id)
        self._follow(task_id, chat_id, message.message_id)

    def _follow(self, task_id: int, chat_id: int, message_id: int) -> None:
        self._messages[task_id] = (chat_id, message_id)
        self._last_edit[task_id] = time.monotonic()
        self._dirty.add(task_id)
        self._wake.set()

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._edit_loop(), name="progress-edits"),
            asyncio.create_task(self._notify_loop(), name="failure-notifications"),
        ]

    async def close(self, *, flush_timeout: float = 10.0) -> None:
        """Stop editing on a timer, deliver what is pending (within a bound), then stop."""
        edits, notifications = self._loops
        edits.cancel()
        await asyncio.gather(edits, return_exceptions=True)
        try:
            async with asyncio.timeout(flush_timeout):
                for task_id in list(self._dirty):
                    await self._edit(task_id)
                await self._notifications.join()
        except TimeoutError:
            logger.warning("stopped with progress updates still pending")
        notifications.cancel()
        await asyncio.gather(notifications, return_exceptions=True)

    async def _edit_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._dirty:
                task_id, due = min(
                    ((task_id, self._due(task_id)) for task_id in self._dirty),
                    key=lambda item: item[1],
                )
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue
                try:
                    await self._edit(task_id)
                except Exception:
                    logger.exception("progress of task %d not updated", task_id)

    def _due(self, task_id: int) -> float:
        return self._last_edit.get(task_id, 0.0) + self._interval

    async def _edit(self, task_id: int) -> None:
        self._dirty.discard(task_id)
        target = self._messages.get(task_id)
        if target is None:
            return
        view = await load_task_view(task_id, self._live_steps)
        if view is None:
            return
        chat_id, message_id = target
        await deliver(
            lambda: self._bot.edit_message_text(
                text=render_progress(view, datetime.now(UTC)),
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=progress_keyboard(view),
            ),
            what=f"progress of task {task_id}",
        )
        self._last_edit[task_id] = time.monotonic()
        if view.finished:
            self._messages.pop(task_id, None)
            self._last_edit.pop(task_id, None)

    async def _notify_loop(self) -> None:
        while True:
            failure = await self._notifications.get()
            try:
                await self._notify(failure)
            except Exception:
                logger.exception("failure notification for run %d", failure.run_id)
            finally:
                self._notifications.task_done()

    async def _notify(self, failure: RunFailed) -> None:
        task = await WarmupTask.get_or_none(id=failure.task_id)
        if task is None:
            return
        chats = [task.chat_id]
        if self._alert_chat_id is not None and self._alert_chat_id != task.chat_id:
            chats.append(self._alert_chat_id)
        caption = render_failure(failure.task_id, failure.profile, failure.step, failure.error)
        for chat_id in chats:
            await self._send_failure(chat_id, failure, caption)

    async def _send_failure(self, chat_id: int, failure: RunFailed, caption: str) -> None:
        keyboard = retry_keyboard(failure.run_id)
        what = f"failure notification of run {failure.run_id} to {chat_id}"
        screenshot = _existing(failure.screenshot)
        if screenshot is not None:
            await deliver(
                lambda: self._bot.send_photo(
                    chat_id, FSInputFile(screenshot), caption=caption, reply_markup=keyboard
                ),
                what=what,
            )
        else:
            await deliver(
                lambda: self._bot.send_message(chat_id, caption, reply_markup=keyboard), what=what
            )


def _existing(path: Path | None) -> Path | None:
    return path if path is not None and path.is_file() else None
