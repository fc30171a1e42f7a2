"""A refused scenario file in the project's words: every problem, each with its step's path,
its reason and its line.

Pydantic validates a scenario (:mod:`warmup.scenario`) and reports each error as a type
(``string_type``, ``extra_forbidden``...) at a location such as ``('steps', 2, 'repeat',
'steps', 0, 'wait', 'wait')`` (the action after a step's index is pydantic's tag for the
step type). This module is the one place that turns those into plain sentences
(``steps[2].repeat.steps[0]: wait: expected a number from 0 to 3600, or [min, max], got
-1``), and finds each one's line in the YAML the data was loaded from. The sentences are
worded when they are read, in the reader's language (:mod:`warmup.file_problems`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from warmup.file_problems import (
    SELF_REFERENCE,
    SOMETHING_ELSE,
    VARIABLE_VALUE,
    Problem,
    Text,
    expected,
    in_words,
    missing,
    more_problems,
    quoted,
    unknown_key,
    unknown_top_level_key,
)
from warmup.i18n import LazyPlural, LazyText

MAX_PROBLEMS = 20
"""Problems listed for one file; the rest are counted."""
AT_STEP = "step"
"""A refusal raised on a field that is about the whole step (`too deeply nested`)."""
RANGE_TAG = "range"
"""The tag of a span's `[min, max]` form in error locations."""
TEXT = LazyText("a non-empty string")
"""What a text field takes, in words (a number there gets a hint to quote it)."""

_ROOT = LazyText("a mapping with 'steps' at the top")
_STEPS = LazyText("a non-empty list of steps")
_KEY_LOCATION = "[key]"  # pydantic's location of a mapping key's own error


class ScenarioError(Exception):
    """A scenario file that cannot be used, with every problem found in it.

    `problems` holds at least one; past MAX_PROBLEMS the last one says how many more there
    are. `path`, `reason` and `line` are the first problem's. ``str(error)`` has one line
    per problem, each ``source[, line N]: [path: ]reason``, worded in the language in use
    when it is read.
    """

    def __init__(
        self,
        source: str,
        reason: Text | None = None,
        *,
        path: str | None = None,
        line: int | None = None,
        problems: Iterable[Problem] = (),
    ) -> None:
        found = list(problems)
        if reason is not None:
            found.insert(0, Problem(path, reason, line))
        if not found:
            raise ValueError("a ScenarioError needs a problem")
        self.source = source
        self.count = len(found)
        """How many problems were found, the unlisted ones included."""
        if len(found) > MAX_PROBLEMS:
            more = more_problems(len(found) - MAX_PROBLEMS)
            found = [*found[:MAX_PROBLEMS], Problem(None, more)]
        self.problems: tuple[Problem, ...] = tuple(found)
        super().__init__(source)

    @property
    def path(self) -> str | None:
        return self.problems[0].path

    @property
    def reason(self) -> str:
        return self.problems[0].reason

    @property
    def line(self) -> int | None:
        return self.problems[0].line

    def lines(self, source: str | None = None) -> list[str]:
        """One line per problem, naming the file as `source` (its name by default)."""
        return [problem.describe(source or self.source) for problem in self.problems]

    def summary(self) -> str:
        """The first problem, and how many more there are: one line, for lists of files."""
        first = self.problems[0].describe(self.source)
        return first if self.count == 1 else f"{first} ({more_problems(self.count - 1)})"

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass(frozen=True)
class Vocabulary:
    """What the wording needs to know of the language, taken from its models."""

    actions: tuple[str, ...]
    modifiers: tuple[str, ...]
    top_level_keys: tuple[str, ...]
    keys_of: Mapping[str, tuple[str, ...]]
    """The keys a mapping value takes, by its key (`type`, `expect`, `logged_in`)."""
    expected: Mapping[str, Text]
    """What a key's value must be, in words: `a number from 0 to 1`."""


def problems_of(error: ValidationError, data: object, words: Vocabulary) -> list[Problem]:
    """Every problem of `error` in words, once each, in the order of the file's lines."""
    found: dict[Problem, None] = {}
    for detail in error.errors(include_url=False):
        problem = _problem(detail, data, words)
        if problem is not None:
            found.setdefault(problem)
    return sorted(found, key=lambda problem: (problem.line is None, problem.line or 0))


# --------------------------------------------------------------------------- where


@dataclass
class _Where:
    """Where a location leads in the loaded data."""

    node: object
    """The value reached (or the mapping a missing or unknown key belongs to)."""
    line: int | None
    path: str | None = None
    """The step (`steps[2].repeat.steps[0]`), `logged_in`, `vars.home`, or a top-level key."""
    keys: list[str] = field(default_factory=list)
    """The keys inside a step or `logged_in`, like ["type", "text"]."""
    about: str | None = None
    """The last key of the language on the way, which says what the value must be."""
    action: str | None = None
    """The action of the step reached."""
    mode: str = "top"

    def line_of(self, key: object) -> int | None:
        lines = getattr(self.node, "key_lines", None)
        try:
            return lines[key] if lines and key in lines else self.line
        except TypeError:
            return self.line


def _walk(loc: tuple[int | str, ...], data: object, words: Vocabulary) -> _Where:
    """Follow a pydantic location through the data, knowing the language's shape: after a
    step's index comes pydantic's tag for the step type (its action), inside `vars` the
    keys are the user's names, and a part that is not in the data is one of pydantic's
    tags (a span's `number` or `range`, a union's member)."""
    where = _Where(node=data, line=getattr(data, "line", None))
    for part in loc:
        mode = where.mode
        if mode == "step-tag":
            where.action, where.mode = str(part), "step"
            continue
        if mode == "value":
            continue
        descended = _descend(where, part)
        if mode == "top":
            where.path = str(part)
            where.mode = str(part) if part in ("steps", "vars") else "field"
        elif mode == "steps":
            where.path, where.mode = f"{where.path}[{part}]", "step-tag"
        elif mode == "vars":
            name = str(part)
            where.path = f"vars.{name}" if name.isidentifier() else f"vars[{quoted(name)}]"
            where.mode = "value"
        elif mode == "step" and part == "steps":  # a repeat's own list of steps
            where.path = f"{where.path}.{where.action}.steps"
            where.keys, where.mode = [], "steps"
        elif descended and isinstance(part, str):  # a key inside a step or logged_in
            where.keys.append(part)
            where.mode = "field"
        if mode != "vars" and part in words.expected:
            where.about = str(part)
    return where


def _descend(where: _Where, part: int | str) -> bool:
    node = where.node
    if isinstance(node, dict) and not isinstance(part, int) and part in node:
        where.line = where.line_of(part)
        where.node = node[part]
        return True
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        lines = getattr(node, "item_lines", None)
        where.node = node[part]
        where.line = lines[part] if lines else where.line
        return True
    return False


# --------------------------------------------------------------------------- why


def _problem(detail: ErrorDetails, data: object, words: Vocabulary) -> Problem | None:
    kind, loc, value = detail["type"], detail["loc"], detail["input"]
    context = detail.get("ctx") or {}
    if kind == "too_short" and _has_length(value, context.get("min_length", 0)):
        return None  # a tuple whose items failed: they are reported
    if loc and loc[-1] == _KEY_LOCATION:
        return _variable_name_problem(kind, loc, value, context, data, words)
    if kind in ("missing", "extra_forbidden", "invalid_key"):
        key = value if kind == "invalid_key" else loc[-1]
        where = _walk(loc[:-1], data, words)
        return _key_problem(kind, key, where, words)
    if context.get("at") == AT_STEP:
        where = _walk(loc[:-1], data, words)
        return Problem(where.path, context["reason"], where.line)
    where = _walk(loc, data, words)
    if kind == "union_tag_not_found":  # the step discriminator found no single action
        reason, key = _action_problem(value, words)
        return Problem(where.path, reason, where.line_of(key) if key is not None else where.line)
    reason: Text
    if "reason" in context:
        reason = context["reason"]
    elif kind in ("too_short", "too_long") and loc[-1] == RANGE_TAG and isinstance(value, list):
        reason = LazyPlural(
            "a range is [min, max], got {count} item",
            "a range is [min, max], got {count} items",
            len(value),
        )
    elif kind == "recursion_loop":
        reason = SELF_REFERENCE
    else:
        reason = _expected(where, value, words)
    return _at(where, reason, where.line)


def _expected(where: _Where, value: object, words: Vocabulary) -> LazyText:
    if where.path is None:
        what: Text = _ROOT
    elif where.mode == "value":
        what = VARIABLE_VALUE
    else:
        what = words.expected.get(where.about or "", SOMETHING_ELSE)
    got = in_words(value)
    if where.about == "steps" and isinstance(value, list | tuple) and not value:
        got = LazyText("an empty list")
    elif what == TEXT and _is_number(value):
        got = LazyText("{number} (quote it: '{number}')", number=got)
    return expected(what, got)


def _key_problem(kind: str, key: object, where: _Where, words: Vocabulary) -> Problem:
    """A key missing from a mapping, or one it does not take."""
    line = where.line_of(key)
    if kind == "missing":
        line = getattr(where.node, "line", where.line)
        if where.path is None:  # `steps` is the one key a scenario must have
            reason = LazyText("missing {key} ({steps})", key=quoted(key), steps=_STEPS)
            return Problem(None, reason, line)
        if where.mode == "step" and key == "steps":
            reason = LazyText(
                "{action} needs 'steps' ({steps})", action=str(where.action), steps=_STEPS
            )
            return Problem(where.path, reason, line)
        return _at(where, missing(key), line)
    if where.path is None:
        return Problem(None, unknown_top_level_key(key, words.top_level_keys), line)
    if where.mode == "step":
        if key == "steps":
            return Problem(where.path, LazyText("'steps' is only allowed on repeat"), line)
        allowed = (*words.modifiers, "steps") if where.action == "repeat" else words.modifiers
        reason = LazyText(
            "unknown modifier {key}; expected {keys}", key=quoted(key), keys=", ".join(allowed)
        )
        return Problem(where.path, reason, line)
    container = where.keys[-1] if where.keys else (where.path or "")
    return _at(where, unknown_key(key, words.keys_of.get(container, ())), line)


def _at(where: _Where, reason: Text, line: int | None) -> Problem:
    """The problem, its reason after the keys that lead to it inside the step."""
    if not where.keys:
        return Problem(where.path, reason, line)
    return Problem(
        where.path, LazyText("{keys}: {reason}", keys=".".join(where.keys), reason=reason), line
    )


def _action_problem(value: object, words: Vocabulary) -> tuple[LazyText, object]:
    """Why a step has no single action, and the key to point at."""
    actions = ", ".join(words.actions)
    if not isinstance(value, dict):
        reason = LazyText(
            "expected a mapping with one action ({actions}), got {got}",
            actions=actions,
            got=in_words(value),
        )
        return reason, None
    found = [key for key in value if key in words.actions]
    if len(found) > 1:
        listed = ", ".join(str(action) for action in found)
        reason = LazyText(
            "several actions in one step: {actions}; a step has exactly one", actions=listed
        )
        return reason, found[1]
    unknown = [key for key in value if key not in (*words.modifiers, "steps")]
    if unknown:
        reason = LazyText(
            "unknown action {key}; expected one of {actions}",
            key=quoted(unknown[0]),
            actions=actions,
        )
        return reason, unknown[0]
    return LazyText("missing action; expected one of {actions}", actions=actions), None


def _variable_name_problem(
    kind: str,
    loc: tuple[int | str, ...],
    value: object,
    context: Mapping[str, Any],
    data: object,
    words: Vocabulary,
) -> Problem:
    where = _walk(loc[:1], data, words)
    line = where.line_of(value)
    if kind == "reserved":
        return Problem(f"vars.{value}", context["reason"], line)
    reason = LazyText("invalid variable name {name}; use letters, digits and _", name=quoted(value))
    return Problem("vars", reason, line)


# --------------------------------------------------------------------------- values


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _has_length(value: object, length: int) -> bool:
    return isinstance(value, list | tuple) and len(value) >= length
