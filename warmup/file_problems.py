"""What the readers of the configuration files (scenarios, profiles) share to tell a file's
problems: a problem (where, why, which line) worded when it is shown, and the pieces both
word alike: a value in words (``the string 'lots'``, ``a list``), ``expected X, got Y``, a
key missing or unknown, a file that cannot be read, is too large, is not UTF-8 or not YAML.

Problems are found once, with no reader yet (at /reload, in a worker thread), and read by
whoever asks, in their language: each reason is a `LazyText`, worded by ``str()``. Names of
the files' language (keys, actions, ``[min, max]``, paths like ``steps[2]``) and the values
quoted from the file stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticCustomError

from warmup.i18n import LazyPlural, LazyText, _
from warmup.yaml_keys import DuplicateKey

Text = str | LazyText
"""A reason: a LazyText, worded when shown, or a str shown as it is."""

TEXT_MAX = 60
"""Characters of a value or key quoted from the file."""

STRING = LazyText("a string")
VARIABLES = LazyText("a mapping of names to values")
VARIABLE_VALUE = LazyText("a string or a number")
SELF_REFERENCE = LazyText("refers to itself (a YAML alias used inside itself)")
SOMETHING_ELSE = LazyText("something else")
YAML_TAG_MISMATCH = LazyText("invalid YAML: a value does not fit its tag (like !!int)")
"""PyYAML's own constructors fail with a LookupError or an AttributeError on an explicit
tag with an empty or wrong value, like `!!int ''`, `!!bool maybe` or `!!timestamp x`."""
YAML_TOO_DEEP = LazyText("invalid YAML: nested too deeply")


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake of a file: where (a path in the file, None for the file itself), why
    (worded when read: `reason`), and the line when YAML gives it."""

    path: str | None
    text: Text
    line: int | None = None

    @property
    def reason(self) -> str:
        """Why, in the language in use."""
        return str(self.text)

    def describe(self, source: str) -> str:
        """``source[, line N]: [path: ]reason``: one line, whatever the file holds."""
        where = source
        if self.line is not None:
            where = _("{file}, line {line}").format(file=source, line=self.line)
        if self.path:
            return printable(f"{where}: {self.path}: {self.reason}")
        return printable(f"{where}: {self.reason}")


def printable(text: str) -> str:
    """The text on one line: control characters and line breaks escaped (``\\n``)."""
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def more_problems(count: int) -> LazyPlural:
    """The last line of a long list: ``and 5 more problems``."""
    return LazyPlural("and {count} more problem", "and {count} more problems", count)


def refusal(kind: str, reason: LazyText, *, at: str | None = None) -> PydanticCustomError:
    """A validator's own error: `reason` is shown as it is (after the key's name)."""
    context: dict[str, Any] = {"reason": reason}
    if at is not None:
        context["at"] = at
    return PydanticCustomError(kind, "{reason}", context)


# --------------------------------------------------------------------------- keys and values


def expected(what: Text, got: Text) -> LazyText:
    """``expected a number from 0 to 1, got the string 'x'``."""
    return LazyText("expected {expected}, got {got}", expected=what, got=got)


def missing(key: object) -> LazyText:
    return LazyText("missing {key}", key=quoted(key))


def unknown_key(key: object, allowed: Iterable[str]) -> LazyText:
    return LazyText("unknown key {key}; expected {keys}", key=quoted(key), keys=", ".join(allowed))


def unknown_top_level_key(key: object, allowed: Iterable[str]) -> LazyText:
    return LazyText(
        "unknown top-level key {key}; expected {keys}", key=quoted(key), keys=", ".join(allowed)
    )


def in_words(value: object) -> Text:
    """How a value of the file reads in a problem: `the string 'x'`, `a list`, `3`."""
    if value is None:
        return LazyText("nothing")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        try:
            return shortened(repr(value))
        except ValueError:  # an int too long to print
            return LazyText("a very large number")
    if isinstance(value, str):
        return LazyText("the string {text}", text=quoted(value))
    if isinstance(value, list | tuple):  # YAML lists of steps are read as tuples
        return LazyText("a list")
    if isinstance(value, dict):
        return LazyText("a mapping")
    return LazyText("a {type}", type=type(value).__name__)


def quoted(value: object) -> str:
    """A key or value of the file as Python writes it (`'goto'`, `1`), shortened."""
    return shortened(repr(value))


def shortened(text: str, limit: int = TEXT_MAX) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "\u2026"


# --------------------------------------------------------------------------- the file


def unreadable(error: OSError) -> Problem:
    return Problem(
        None, LazyText("cannot read the file: {reason}", reason=error.strerror or str(error))
    )


def too_large(limit: int) -> Problem:
    """A file above `limit` bytes."""
    return Problem(None, LazyText("file too large: at most {size} KiB", size=limit // 1024))


def not_utf8(raw: bytes, error: UnicodeDecodeError) -> Problem:
    """The first byte that is not UTF-8, and its line."""
    line = raw[: error.start].count(b"\n") + 1
    reason = LazyText(
        "not UTF-8 text (byte {byte}); save the file as UTF-8", byte=f"0x{raw[error.start]:02x}"
    )
    return Problem(None, reason, line)


def invalid_yaml(problem: str, line: int | None = None) -> Problem:
    """PyYAML's own words for a problem (they stay as PyYAML says them)."""
    return Problem(None, LazyText("invalid YAML: {problem}", problem=problem), line)


def duplicate_key(error: DuplicateKey) -> Problem:
    """A key given twice in one mapping, at the second one's line."""
    mark = error.problem_mark
    reason = LazyText("invalid YAML: found duplicate key {key}", key=repr(error.key))
    return Problem(None, reason, mark.line + 1 if mark is not None else None)
