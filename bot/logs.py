"""Logging set-up for `python -m bot`: one format, and no secrets even at DEBUG."""

from __future__ import annotations

import logging

NEVER_BELOW_INFO = ("tortoise.db_client", "aiosqlite")
"""Their DEBUG lines carry SQL parameters, and the profiles table holds proxy passwords."""


def configure_logging(level: str, handler: logging.Handler | None = None) -> None:
    """`handler` replaces the usual one on stderr (`try` logs through its terminal display)."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=None if handler is None else [handler],
    )
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    for name in NEVER_BELOW_INFO:
        logging.getLogger(name).setLevel(logging.INFO)
