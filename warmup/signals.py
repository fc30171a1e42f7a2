"""What the bot and its workers tell each other at once, on Redis pub/sub.

- `cancels`: the bot tells every worker that a task was cancelled (the ledger has marked
  its runs); each stops the runs of it that it plays. taskiq has no revoke.
- `events`: each worker tells the bot what its engine emitted, so that the bot's
  progress messages and outbox move as they do in one process.

Pub/sub keeps nothing: a worker that was not listening finds the cancel in the database
at its next heartbeat, and a bot that was not listening reads the database anyway (the
events only say when to look).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from models import RunStatus, TaskStatus
from warmup.events import (
    Event,
    RunFailed,
    RunFinished,
    RunStarted,
    StepStarted,
    TaskFinished,
    TaskSubmitted,
)

logger = logging.getLogger(__name__)

CANCELS = "warmup:cancels"
EVENTS = "warmup:events"
RECONNECT_DELAY = 1.0
"""Seconds between two tries to subscribe again after the connection was lost."""
OUTGOING_LIMIT = 10_000
"""Events waiting to be published at most; past it the oldest are dropped (logged)."""

EVENT_TYPES: dict[str, type[Any]] = {
    kind.__name__: kind
    for kind in (TaskSubmitted, RunStarted, StepStarted, RunFinished, RunFailed, TaskFinished)
}


def encode_event(event: Event) -> str:
    values = {
        key: str(value) if isinstance(value, Path) else value
        for key, value in asdict(event).items()
    }
    return json.dumps({"type": type(event).__name__, **values})


def decode_event(text: str | bytes) -> Event | None:
    """The event, or None for anything else (logged)."""
    try:
        data = json.loads(text)
        kind = EVENT_TYPES[data.pop("type")]
        values = {field.name: data[field.name] for field in fields(kind) if field.name in data}
        for name in ("screenshot", "trace"):
            if values.get(name) is not None:
                values[name] = Path(values[name])
        if "status" in values:
            values["status"] = (TaskStatus if kind is TaskFinished else RunStatus)(values["status"])
        return kind(**values)  # type: ignore[no-any-return]
    except (ValueError, KeyError, TypeError) as error:
        logger.warning("ignoring a malformed event: %s", error)
        return None


class Signals:
    """Publishing and listening on the two channels of one Redis."""

    def __init__(self, url: str) -> None:
        self._redis = Redis.from_url(url)
        self._listeners: set[asyncio.Task[None]] = set()
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._publisher: asyncio.Task[None] | None = None

    async def cancel(self, task_id: int) -> None:
        await self._redis.publish(CANCELS, str(task_id))

    def relay(self, event: Event) -> None:
        """An `EventBus` listener: the event goes to the bot in the background."""
        if self._outgoing.qsize() >= OUTGOING_LIMIT:
            self._outgoing.get_nowait()
            logger.warning("events are not getting out; dropped the oldest")
        self._outgoing.put_nowait(encode_event(event))
        if self._publisher is None:
            self._publisher = asyncio.create_task(self._publish_loop(), name="event-relay")

    def on_cancel(self, handler: Callable[[int], None]) -> None:
        def heard(data: bytes) -> None:
            try:
                handler(int(data))
            except ValueError:
                logger.warning("ignoring a malformed cancel: %r", data[:40])

        self._listen(CANCELS, heard)

    def on_event(self, handler: Callable[[Event], None]) -> None:
        def heard(data: bytes) -> None:
            event = decode_event(data)
            if event is not None:
                handler(event)

        self._listen(EVENTS, heard)

    async def close(self) -> None:
        tasks = [*self._listeners, *([self._publisher] if self._publisher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._redis.aclose()

    def _listen(self, channel: str, heard: Callable[[bytes], None]) -> None:
        listener = asyncio.create_task(self._listen_loop(channel, heard), name=f"listen-{channel}")
        self._listeners.add(listener)

    async def _listen_loop(self, channel: str, heard: Callable[[bytes], None]) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            heard(message["data"])
            except (RedisError, OSError) as error:
                logger.warning("lost %s (%s); subscribing again", channel, error)
                await asyncio.sleep(RECONNECT_DELAY)

    async def _publish_loop(self) -> None:
        while True:
            text = await self._outgoing.get()
            try:
                await self._redis.publish(EVENTS, text)
            except (RedisError, OSError) as error:
                logger.warning("an event was not published: %s", error)
                await asyncio.sleep(RECONNECT_DELAY)
