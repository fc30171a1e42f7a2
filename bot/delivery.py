"""Calling Telegram from background work: one call, a bounded patience, a plain verdict.

The waiting itself (limits, 429 holds, retries of server errors) is the session
middleware's (`bot.pacing`); here a caller learns how it ended: the result, None when
Telegram refused the call for good, or Undelivered when it may work later, with the
wait Telegram asked for when it asked for one.
"""

from __future__ import annotations

import logging
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

from bot.pacing import Held, patience

logger = logging.getLogger(__name__)

T = TypeVar("T")

NOT_MODIFIED = "message is not modified"


class Undelivered(Exception):
    """Telegram did not take the call within its patience; it may later."""

    def __init__(self, what: str, wait: float | None) -> None:
        super().__init__(what)
        self.wait = wait
        """Seconds Telegram asked to wait (a flood limit), or None for an outage or a
        server error, which says nothing of when it ends."""


def is_not_modified(error: TelegramBadRequest) -> bool:
    return NOT_MODIFIED in error.message


async def deliver(call: Callable[[], Awaitable[T]], *, what: str, wait: float) -> T | None:
    """Run one Bot API call, waiting at most `wait` seconds for its turn and retries.

    "message is not modified" counts as done (None)."""
    try:
        with patience(wait):
            return await call()
    except TelegramRetryAfter as error:
        raise Undelivered(what, float(error.retry_after)) from None
    except Held as held:
        raise Undelivered(what, held.wait) from None
    except TelegramEntityTooLarge as error:
        logger.warning("%s refused: %s", what, error.message)
        return None
    except (TelegramServerError, TelegramNetworkError) as error:
        logger.info("%s failed: %s", what, type(error).__name__)
        raise Undelivered(what, None) from None
    except TelegramBadRequest as error:
        if not is_not_modified(error):
            logger.warning("%s refused: %s", what, error.message)
        return None
    except TelegramAPIError as error:
        logger.warning("%s refused: %s", what, error.message)
        return None
