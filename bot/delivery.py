"""Calling Telegram from background work: wait out flood limits and outages, boundedly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_TRIES = 6
MAX_DELAY = 60.0
NOT_MODIFIED = "message is not modified"


def is_not_modified(error: TelegramBadRequest) -> bool:
    return NOT_MODIFIED in error.message


async def deliver(call: Callable[[], Awaitable[T]], *, what: str) -> T | None:
    """Run one Bot API call until it lands; None when it cannot (or need not) land.

    A 429 is waited out as its `retry_after` says, server errors and network
    faults back off exponentially, and "message is not modified" counts as done.
    Both loops are bounded: a message that cannot be delivered is logged, never
    retried forever.
    """
    for attempt in range(1, MAX_TRIES + 1):
        try:
            return await call()
        except TelegramRetryAfter as error:
            delay = min(float(error.retry_after), MAX_DELAY)
        except (TelegramServerError, TelegramNetworkError) as error:
            delay = min(2.0 ** (attempt - 1), MAX_DELAY)
            logger.info("%s failed (%s)", what, type(error).__name__)
        except TelegramBadRequest as error:
            if not is_not_modified(error):
                logger.warning("%s refused: %s", what, error.message)
            return None
        except TelegramForbiddenError as error:
            logger.warning("%s refused: %s", what, error.message)
            return None
        if attempt < MAX_TRIES:
            logger.info("%s: retrying in %.1f s", what, delay)
            await asyncio.sleep(delay)
    logger.error("%s: gave up after %d tries", what, MAX_TRIES)
    return None
