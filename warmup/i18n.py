"""Translating what the engine tells people (refusals of what they typed).

The engine knows nothing of Telegram or of who is asking: the bot installs a translator,
for the tasks it starts, that follows the language of the update being handled. Without
one (the command line, unit tests) texts stay in English. Technical texts (browser
errors, scenario file errors) are not translated: they quote pages and files.

Counts go through `ngettext`, so that each language picks its own plural form (Russian
has three: 1 профиль, 2 профиля, 5 профилей).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol


class Translator(Protocol):
    """What `aiogram.utils.i18n.I18n.gettext` is: gettext and ngettext in one call."""

    def __call__(self, singular: str, plural: str | None = None, n: int = 1) -> str: ...


translator: ContextVar[Translator | None] = ContextVar("translator", default=None)


def _(text: str) -> str:
    translate = translator.get()
    return text if translate is None else translate(text)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of `singular`/`plural` for the number `n`, in the language in use."""
    translate = translator.get()
    if translate is None:
        return singular if n == 1 else plural
    return translate(singular, plural, n)
