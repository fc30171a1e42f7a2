"""A refused profiles file in the project's words: every problem pydantic finds, with its
place in the file and its reason.

Pydantic validates the file (:mod:`warmup.profiles`) and reports each error as a type
(``string_pattern_mismatch``, ``extra_forbidden``...) at a location such as
``('profiles', 2, 'viewport', 'width')``. This module is the one place that turns those
into sentences like the scenario's (:mod:`warmup.scenario_problems`), worded when they are
read: ``profiles[2].viewport.width: expected a whole number from 200 to 8000, got 100``,
``profiles[1]: unknown key 'nam'; expected name, tags, ...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from warmup.file_problems import (
    SELF_REFERENCE,
    SOMETHING_ELSE,
    Problem,
    Text,
    expected,
    in_words,
    missing,
    shortened,
    unknown_key,
    unknown_top_level_key,
)
from warmup.i18n import LazyText

ROOT = "root"
"""The role of the file itself (the locations' empty path)."""
ENTRY = "profile"
"""The role of an item of `profiles`."""
VARIABLE = "variable"
"""The role of a value inside `vars` (its key is the user's name)."""
_ITEMS = {"profiles": ENTRY, "tags": "tag"}
"""The role of an item of a list, by the list's key."""
_KEY_LOCATION = "[key]"  # pydantic's location of a mapping key's own error
_KEY_MAX = 40


@dataclass(frozen=True)
class Outline:
    """What the wording needs to know of the file, taken from its models. A place in the
    file has a role: ROOT, a key (`tags`, `width`), ENTRY, `tag` or VARIABLE."""

    keys_of: Mapping[str, tuple[str, ...]]
    """The keys a mapping takes, by its role (ROOT, ENTRY, `proxy`, `viewport`)."""
    expected: Mapping[str, Text]
    """What the value must be, in words, by its role."""


def problems_of(error: ValidationError, outline: Outline) -> list[tuple[int, Problem]]:
    """Every problem of `error` in words, once each, with the index of its entry (-1: the
    file's outline)."""
    found: dict[tuple[int, Problem], None] = {}
    for detail in error.errors(include_url=False):
        loc = detail["loc"]
        index = loc[1] if loc[:1] == ("profiles",) and len(loc) > 1 else -1
        found.setdefault((index if isinstance(index, int) else -1, _problem(detail, outline)))
    return list(found)


def _problem(detail: ErrorDetails, outline: Outline) -> Problem:
    kind, loc, value = detail["type"], detail["loc"], detail["input"]
    context = detail.get("ctx") or {}
    if loc and loc[-1] == _KEY_LOCATION:  # a name in `vars` that is not a string
        variables = loc[:-2]
        name = LazyText("a string as the name")
        return Problem(_path(variables), expected(name, in_words(value)))
    if kind in ("missing", "extra_forbidden"):
        key, container = loc[-1], loc[:-1]
        if kind == "missing":
            return Problem(_path(container), missing(key))
        allowed = outline.keys_of.get(_role(container), ())
        if not container:
            return Problem(None, unknown_top_level_key(key, allowed))
        return Problem(_path(container), unknown_key(key, allowed))
    if "reason" in context:
        return Problem(_path(loc), context["reason"])
    if kind == "recursion_loop":
        return Problem(_path(loc), SELF_REFERENCE)
    what = outline.expected.get(_role(loc), SOMETHING_ELSE)
    return Problem(_path(loc), expected(what, in_words(value)))


def _role(loc: tuple[int | str, ...]) -> str:
    """What the place `loc` leads to is in the file: see Outline."""
    role = ROOT
    for part in loc:
        if role == "vars":
            role = VARIABLE
        elif isinstance(part, int):
            role = _ITEMS.get(role, role)
        else:
            role = part
    return role


def _path(loc: tuple[int | str, ...]) -> str | None:
    """``profiles[2].viewport.width``; None for the file itself."""
    path = "".join(
        f"[{part}]" if isinstance(part, int) else f".{shortened(part, _KEY_MAX)}" for part in loc
    )
    return path.lstrip(".") or None
