"""Time for the engine: aware UTC datetimes, as the database stores them, and bounded waits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


async def wait_set(event: asyncio.Event, timeout: float) -> bool:
    """Wait until `event` is set (True) or `timeout` seconds pass (False).

    Not `asyncio.wait_for(event.wait(), ...)`: on Python 3.11 it returns normally when
    the event is set at the moment the waiting task is cancelled, and the cancellation
    is lost, so a background loop being closed would carry on."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
