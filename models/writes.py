"""Writes that must land: retried when the database is busy or a write fails for a moment."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError

logger = logging.getLogger(__name__)

T = TypeVar("T")

WRITE_TRIES = 8
FIRST_DELAY = 0.1
MAX_DELAY = 5.0


async def retry_write(operation: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Run a short write, retrying with backoff (about 20 s in all) before giving up.

    SQLite answers "database is locked" when another process holds the write lock
    past the busy timeout; that, and a dropped connection to a server database, pass.
    A broken constraint is an answer, not a failure: it is raised at once.
    """
    delay = FIRST_DELAY
    for attempt in range(1, WRITE_TRIES + 1):
        try:
            return await operation()
        except IntegrityError:
            raise
        except (OperationalError, DBConnectionError) as error:
            if attempt == WRITE_TRIES:
                logger.error("%s failed %d times: %s", what, attempt, error)
                raise
            logger.warning("%s failed (%s); retrying in %.1f s", what, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)
    raise AssertionError("unreachable")
