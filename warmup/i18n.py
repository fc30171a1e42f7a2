"""Translating what the engine tells people (refusals of what they typed).

The engine knows nothing of Telegram or of who is asking: the bot installs a translator,
for the tasks it starts, that follows the language of the update being handled. Without
one (the command line, unit tests) texts stay in English. Technical texts (browser
errors, scenario file errors) are not translated: they quote pages and files.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

translator: ContextVar[Callable[[str], str] | None] = ContextVar("translator", default=None)


def _(text: str) -> str:
    translate = translator.get()
    return text if translate is None else translate(text)
