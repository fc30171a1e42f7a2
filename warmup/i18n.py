"""Translating what the engine tells people (refusals of what they typed, problems of the
configuration files).

The engine knows nothing of Telegram or of who is asking: the bot installs a translator,
for the tasks it starts, that follows the language of the update being handled. Without
one (the command line, unit tests) texts stay in English. Browser errors are not
translated: they quote the browser.

Counts go through `ngettext`, so that each language picks its own plural form (Russian
has three: 1 профиль, 2 профиля, 5 профилей).

A problem of a file is found once (at /reload, in a worker thread, before anyone asks)
and read later by whoever asks, in their language: it is kept as a `LazyText`, worded
when it is turned into a string.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, Union


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


@contextmanager
def in_english() -> Iterator[None]:
    """Texts worded inside stay in English, whoever is asking (for the logs)."""
    token = translator.set(None)
    try:
        yield
    finally:
        translator.reset(token)


Param = Union[str, int, "LazyText"]
"""What goes into a lazy text's placeholders: a nested LazyText is worded too."""


@dataclass(frozen=True, slots=True, init=False)
class LazyText:
    """A text worded when it is shown, not when it is made: ``str()`` translates the
    template with `_` at that moment and fills its ``{placeholders}`` with the params,
    each ``str()``-ed. A template without params is not formatted (its braces are
    literal); one with params writes a literal brace twice.

    Babel extracts the template (the Makefile's ``-k LazyText``): write it as a literal.
    """

    template: str
    params: tuple[tuple[str, Param], ...]

    def __init__(self, template: str, /, **params: Param) -> None:
        object.__setattr__(self, "template", template)
        object.__setattr__(self, "params", tuple(sorted(params.items())))

    def __str__(self) -> str:
        return self._filled(_(self.template))

    def _filled(self, text: str) -> str:
        if not self.params:
            return text
        return text.format_map({name: str(value) for name, value in self.params})


@dataclass(frozen=True, slots=True, init=False)
class LazyPlural(LazyText):
    """A LazyText with a count: the form for `count` is picked with `ngettext` when it is
    shown, and fills ``{count}`` (Babel: ``-k LazyPlural:1,2``)."""

    plural: str
    count: int

    def __init__(self, singular: str, plural: str, count: int, /, **params: Param) -> None:
        LazyText.__init__(self, singular, count=count, **params)
        object.__setattr__(self, "plural", plural)
        object.__setattr__(self, "count", count)

    def __str__(self) -> str:
        return self._filled(ngettext(self.template, self.plural, self.count))
