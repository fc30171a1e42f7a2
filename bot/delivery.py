"""Calling Telegram from background work: wait out flood limits and outages, boundedly."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BACKOFF = 30.0
NOT_MODIFIED = "message is not modified"


class Undelivered(Exception):
    """Telegram stayed unreachable (or kept saying "later") for longer than the patience."""

    def __init__(self, what: str, wait: float) -> None:
        super().__init__(what)
        self.wait = wait
        """Seconds Telegram asked for, or the backoff reached, before the next try."""


def is_not_modified(error: TelegramBadRequest) -> bool:
    return NOT_MODIFIED in error.message


async def deliver(call: Callable[[], Awaitable[T]], *, what: str, patience: float) -> T | None:
    """Run one Bot API call until it lands; None when Telegram refuses it for good.

    A 429 is waited out as its `retry_after` says; server errors, time-outs and
    refused connections back off exponentially; "message is not modified"
    counts as done. Past `patience` seconds this raises Undelivered, so a caller
    decides what an outage costs: an edit is simply made later with newer
    content, a notification waits in its queue.
    """
    deadline = time.monotonic() + patience
    backoff = 1.0
    while True:
        try:
            return await call()
        except TelegramRetryAfter as error:
            wait = float(error.retry_after)
        except TelegramEntityTooLarge as error:
            logger.warning("%s refused: %s", what, error.message)
            return None
        except (TelegramServerError, TelegramNetworkError) as error:
            wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
            logger.info("%s failed: %s", what, type(error).__name__)
        except TelegramBadRequest as error:
            if not is_not_modified(error):
                logger.warning("%s refused: %s", what, error.message)
            return None
        except TelegramAPIError as error:
            logger.warning("%s refused: %s", what, error.message)
            return None
        if time.monotonic() + wait > deadline:
            raise Undelivered(what, wait)
        logger.info("%s: retrying in %.1f s", what, wait)
        await asyncio.sleep(wait)
