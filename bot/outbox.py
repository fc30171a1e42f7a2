"""The one sender of the outbox: notifications delivered in order, paced, none lost.

Rows are written by the ledger in the transaction of the change they tell of (by any
process); this loop reads them oldest first, words each in its language, sends it and
deletes it once Telegram took it, or refused it for good. A row Telegram did not take
stays, and its chat's later rows wait behind it, so each chat reads its notices in
order; other chats go on. A restart simply finds the rows still there.

Many failures of one task waiting for one chat are folded into one message: under
Telegram's limits (one message a second in a private chat, twenty a minute in a group)
five hundred photos would take minutes, while the summary says the same at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from aiogram import Bot
from aiogram.types import FSInputFile, Message
from aiogram.utils.i18n import I18n
from tortoise.expressions import F

from bot.delivery import Undelivered, deliver
from bot.notices import word_folded_failures, word_notice
from bot.pacing import Pacer
from models import NoticeKind, OutboxMessage
from models.writes import retry_write
from warmup.clock import wait_set
from warmup.events import Event, RunFailed, TaskFinished
from warmup.shared_files import local_artifact

logger = logging.getLogger(__name__)

BATCH = 100
"""Rows read in one pass."""
FOLD_AFTER = 3
"""More failures of one task than this waiting for one chat are sent as one summary."""
POLL_INTERVAL = 1.0
"""Seconds between two looks at the outbox when nothing woke the sender: rows may come
from another process."""


class OutboxSender:
    def __init__(
        self,
        bot: Bot,
        pacer: Pacer,
        i18n: I18n,
        *,
        retry_interval: float,
        artifacts_dir: Path,
    ) -> None:
        self._bot = bot
        self._pacer = pacer
        self._i18n = i18n
        self._retry_interval = retry_interval
        self._artifacts_dir = artifacts_dir
        """Where a screenshot a worker took elsewhere is fetched to before it is sent."""
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    def __call__(self, event: Event) -> None:
        """Listens to the engine: a final failure or an end may have written a row."""
        if isinstance(event, RunFailed | TaskFinished):
            self.wake()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._loop = asyncio.create_task(self._send_loop(), name="outbox")

    async def close(self, *, flush_timeout: float = 10.0) -> None:
        """Stop, after one last pass within a bound: what stays is sent after a restart."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        try:
            async with asyncio.timeout(flush_timeout):
                await self.send_pending()
        except TimeoutError:
            logger.warning("stopped with notifications in the outbox; they go after a restart")

    async def _send_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                waiting = await self.send_pending()
            except Exception:
                logger.exception("outbox: a pass failed; trying again later")
                waiting = self._retry_interval
            await wait_set(self._wake, waiting or POLL_INTERVAL)

    async def send_pending(self) -> float:
        """Send all that can go now: 0 when the outbox is empty, else the seconds until
        the next try of what stays."""
        stuck: dict[int, float] = {}
        """chat id → seconds until its next try, for chats whose oldest row did not go."""
        while True:
            rows = await OutboxMessage.exclude(chat_id__in=list(stuck)).order_by("id").limit(BATCH)
            if not rows:
                return min(stuck.values(), default=0.0)
            sent: set[int] = set()
            for row in rows:
                if row.id in sent or row.chat_id in stuck:
                    continue
                held = self._pacer.held_for(row.chat_id)
                if held > 0:
                    stuck[row.chat_id] = held
                    continue
                batch = await self._folded(row)
                ids = [item.id for item in batch]
                try:
                    await self._send(batch)
                except Undelivered as error:
                    stuck[row.chat_id] = self._retry_interval if error.wait is None else error.wait
                    await OutboxMessage.filter(id__in=ids).update(attempts=F("attempts") + 1)
                    continue
                await retry_write(
                    lambda ids=ids: OutboxMessage.filter(id__in=ids).delete(), what="sent notices"
                )
                sent.update(ids)

    async def _folded(self, head: OutboxMessage) -> list[OutboxMessage]:
        """The head alone, or with every failure of its task waiting for its chat."""
        if head.kind != NoticeKind.run_failed or head.task_id is None:
            return [head]
        same = await OutboxMessage.filter(
            chat_id=head.chat_id, task_id=head.task_id, kind=NoticeKind.run_failed
        ).order_by("id")
        return same if len(same) > FOLD_AFTER else [head]

    async def _send(self, batch: Sequence[OutboxMessage]) -> Message | None:
        head = batch[0]
        with self._i18n.use_locale(head.language):
            if len(batch) > 1:
                outgoing = word_folded_failures(head.task_id or 0, batch)
            else:
                outgoing = word_notice(head)
        what = f"{head.kind.value} notice to {head.chat_id}"
        photo = await local_artifact(outgoing.photo, self._artifacts_dir)
        if photo is not None:
            sent = await deliver(
                lambda: self._bot.send_photo(
                    head.chat_id,
                    FSInputFile(photo),
                    caption=outgoing.text,
                    reply_markup=outgoing.keyboard,
                ),
                what=what,
                wait=0,
            )
            if sent is not None:
                return sent
            logger.warning("%s: sending it without its screenshot", what)
        return await deliver(
            lambda: self._bot.send_message(
                head.chat_id, outgoing.text, reply_markup=outgoing.keyboard
            ),
            what=what,
            wait=0,
        )
