"""A refused scenario file in the project's words: every problem, each with its step's path,
its reason and its line.

Pydantic validates a scenario (:mod:`warmup.scenario`) and reports each error as a type
(``string_type``, ``extra_forbidden``...) at a location such as ``('steps', 2, 'repeat',
'steps', 0, 'wait', 'wait')`` (the action after a step's index is pydantic's tag for the
step type). This module is the one place that turns those into plain sentences
(``steps[2].repeat.steps[0]: wait: expected a number from 0 to 3600, or [min, max], got
-1``), and finds each one's line in the YAML the data was loaded from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

MAX_PROBLEMS = 20
"""Problems listed for one file; the rest are counted."""
AT_STEP = "step"
"""A refusal raised on a field that is about the whole step (`too deeply nested`)."""
RANGE_TAG = "range"
"""The tag of a span's `[min, max]` form in error locations."""
TEXT = "a non-empty string"
"""What a text field takes, in words (a number there gets a hint to quote it)."""

_TEXT_MAX = 60
_ROOT = "a mapping with 'steps' at the top"
_VARIABLE_VALUE = "a string or a number"
_KEY_LOCATION = "[key]"  # pydantic's location of a mapping key's own error


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake of a file: where (the step's path, None for the file itself), why, and
    the line when YAML gives it."""

    path: str | None
    reason: str
    line: int | None = None

    def describe(self, source: str) -> str:
        """``source[, line N]: [path: ]reason``: one line, whatever the file holds."""
        where = source if self.line is None else f"{source}, line {self.line}"
        text = f"{where}: {self.path}: {self.reason}" if self.path else f"{where}: {self.reason}"
        return "".join(
            char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
            for char in text
        )


class ScenarioError(Exception):
    """A scenario file that cannot be used, with every problem found in it.

    `problems` holds at least one; past MAX_PROBLEMS the last one says how many more there
    are. `path`, `reason` and `line` are the first problem's. ``str(error)`` has one line
    per problem, each ``source[, line N]: [path: ]reason``.
    """

    def __init__(
        self,
        source: str,
        reason: str | None = None,
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
            more = len(found) - MAX_PROBLEMS
            found = [*found[:MAX_PROBLEMS], Problem(None, f"and {_more_problems(more)}")]
        self.problems: tuple[Problem, ...] = tuple(found)
        super().__init__(str(self))

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
        return first if self.count == 1 else f"{first} (and {_more_problems(self.count - 1)})"

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _more_problems(count: int) -> str:
    return f"{count} more problem" if count == 1 else f"{count} more problems"


def refusal(kind: str, reason: str, *, at: str | None = None) -> PydanticCustomError:
    """A validator's own error: `reason` is shown as it is (after the key's name)."""
    context: dict[str, Any] = {"reason": reason}
    if at is not None:
        context["at"] = at
    return PydanticCustomError(kind, "{reason}", context)


@dataclass(frozen=True)
class Vocabulary:
    """What the translation needs to know of the language, taken from its models."""

    actions: tuple[str, ...]
    modifiers: tuple[str, ...]
    top_level_keys: tuple[str, ...]
    keys_of: Mapping[str, tuple[str, ...]]
    """The keys a mapping value takes, by its key (`type`, `expect`, `logged_in`)."""
    expected: Mapping[str, str]
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
            where.path = f"vars.{name}" if name.isidentifier() else f"vars[{_short(repr(name))}]"
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
        return Problem(where.path, str(context["reason"]), where.line)
    where = _walk(loc, data, words)
    if kind == "union_tag_not_found":  # the step discriminator found no single action
        reason, key = _action_problem(value, words)
        return Problem(where.path, reason, where.line_of(key) if key is not None else where.line)
    if "reason" in context:
        reason = str(context["reason"])
    elif kind in ("too_short", "too_long") and loc[-1] == RANGE_TAG and isinstance(value, list):
        reason = f"a range is [min, max], got {len(value)} items"
    elif kind == "recursion_loop":
        reason = "refers to itself (a YAML alias used inside itself)"
    else:
        reason = _expected(where, value, words)
    return _at(where, reason, where.line)


def _expected(where: _Where, value: object, words: Vocabulary) -> str:
    if where.path is None:
        expected = _ROOT
    elif where.mode == "value":
        expected = _VARIABLE_VALUE
    else:
        expected = words.expected.get(where.about or "", "something else")
    got = _kind(value)
    if where.about == "steps" and isinstance(value, list | tuple) and not value:
        got = "an empty list"
    elif expected == TEXT and _is_number(value):
        got += f" (quote it: '{got}')"
    return f"expected {expected}, got {got}"


def _key_problem(kind: str, key: object, where: _Where, words: Vocabulary) -> Problem:
    """A key missing from a mapping, or one it does not take."""
    shown = _short(repr(key))
    line = where.line_of(key)
    if kind == "missing":
        line = getattr(where.node, "line", where.line)
        if where.path is None:  # `steps` is the one key a scenario must have
            return Problem(None, f"missing {shown} (a non-empty list of steps)", line)
        if where.mode == "step" and key == "steps":
            return Problem(
                where.path, f"{where.action} needs 'steps' (a non-empty list of steps)", line
            )
        return _at(where, f"missing {shown}", line)
    if where.path is None:
        keys = ", ".join(words.top_level_keys)
        return Problem(None, f"unknown top-level key {shown}; expected {keys}", line)
    if where.mode == "step":
        if key == "steps":
            return Problem(where.path, "'steps' is only allowed on repeat", line)
        allowed = (*words.modifiers, "steps") if where.action == "repeat" else words.modifiers
        return Problem(where.path, f"unknown modifier {shown}; expected {', '.join(allowed)}", line)
    container = where.keys[-1] if where.keys else (where.path or "")
    allowed = words.keys_of.get(container, ())
    return _at(where, f"unknown key {shown}; expected {', '.join(allowed)}", line)


def _at(where: _Where, reason: str, line: int | None) -> Problem:
    """The problem, its reason after the keys that lead to it inside the step."""
    prefix = ".".join(where.keys)
    return Problem(where.path, f"{prefix}: {reason}" if prefix else reason, line)


def _action_problem(value: object, words: Vocabulary) -> tuple[str, object]:
    """Why a step has no single action, and the key to point at."""
    expected = f"expected one of {', '.join(words.actions)}"
    if not isinstance(value, dict):
        return (
            f"expected a mapping with one action ({', '.join(words.actions)}), got {_kind(value)}",
            None,
        )
    actions = [key for key in value if key in words.actions]
    if len(actions) > 1:
        listed = ", ".join(str(action) for action in actions)
        return f"several actions in one step: {listed}; a step has exactly one", actions[1]
    unknown = [key for key in value if key not in (*words.modifiers, "steps")]
    if unknown:
        return f"unknown action {_short(repr(unknown[0]))}; {expected}", unknown[0]
    return f"missing action; {expected}", None


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
        return Problem(f"vars.{value}", str(context["reason"]), line)
    reason = f"invalid variable name {_short(repr(value))}; use letters, digits and _"
    return Problem("vars", reason, line)


# --------------------------------------------------------------------------- values in words


def _kind(value: object) -> str:
    """How a value reads in an error message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        try:
            return _short(repr(value))
        except ValueError:  # an int too long to print
            return "a very large number"
    if isinstance(value, str):
        return f"the string {_short(repr(value))}"
    if isinstance(value, list | tuple):  # YAML lists of steps are read as tuples
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _has_length(value: object, length: int) -> bool:
    return isinstance(value, list | tuple) and len(value) >= length


def _short(text: str) -> str:
    if len(text) <= _TEXT_MAX:
        return text
    return text[: _TEXT_MAX - 1] + "\u2026"
