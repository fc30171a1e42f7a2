"""The scenario language: parse and validate YAML scenarios into frozen dataclasses.

A scenario file is refused whole at its first problem, with the file name, the
step's path (``steps[2].repeat.steps[0]``), the reason and, when known, the
line. Nothing here touches a browser; :mod:`warmup.player` plays the result.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml

from warmup.yaml_keys import key_lines, load_fast_first, on_libyaml

ACTIONS = ("goto", "wait", "scroll", "click", "type", "press", "expect", "repeat")
MODIFIERS = ("timeout", "optional", "probability")
TOP_LEVEL_KEYS = ("name", "description", "vars", "steps")
RESERVED_VARIABLES = frozenset({"profile"})

MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 5
MAX_STEPS = 500
MAX_REPEAT = 1000
MAX_WAIT_SECONDS = 3600
MAX_TIMEOUT_SECONDS = 3600
MAX_SCROLL_PIXELS = 100_000
LOGGED_IN_KEY = "logged_in"
LOGGED_IN_KINDS = ("selector", "url")
LOGGED_IN_TIMEOUT_SECONDS = 10.0
SCENARIO_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

_DASH = "\u2013"  # en dash: "wait 2<dash>5 s"
_TIMES = "\u00d7"  # multiplication sign: "repeat 3<dash>6<times>"
_LABEL_TEXT_MAX = 60
# "{{" and "}}" are literal braces; "{name}" is a placeholder; any other brace is an error.
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


# --------------------------------------------------------------------------- errors


class ScenarioError(Exception):
    """A scenario file that cannot be used, with where and why."""

    def __init__(
        self, source: str, reason: str, *, path: str | None = None, line: int | None = None
    ) -> None:
        self.source = source
        self.path = path
        self.reason = reason
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}, line {self.line}"
        if self.path:
            return f"{where}: {self.path}: {self.reason}"
        return f"{where}: {self.reason}"


class UnknownVariable(KeyError):
    """A ``{name}`` placeholder with no value to put in its place."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown variable {{{self.name}}}"


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Span:
    """A number, or a ``[low, high]`` range to pick from at random.

    Spans of ints (``repeat``, ``scroll``) pick with ``randint``; spans of floats
    (``wait``) pick with ``uniform``. A plain number has ``low == high``.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"Span low {self.low} is above high {self.high}")

    def pick(self, rng: random.Random) -> float:
        if self.low == self.high:
            return self.low
        if isinstance(self.low, int) and isinstance(self.high, int):
            return rng.randint(self.low, self.high)
        return rng.uniform(self.low, self.high)

    def __str__(self) -> str:
        if self.low == self.high:
            return f"{self.low:g}"
        return f"{self.low:g}{_DASH}{self.high:g}"


def _short(text: str) -> str:
    if len(text) <= _LABEL_TEXT_MAX:
        return text
    return text[: _LABEL_TEXT_MAX - 1] + "\u2026"


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True, kw_only=True)
class StepBase:
    """What every step has: where it is in the file and its modifiers."""

    path: str
    timeout: float | None = None
    optional: bool = False
    probability: float = 1.0

    def templates(self) -> tuple[str, ...]:
        """The step's own strings that may hold ``{var}`` placeholders."""
        return ()


@dataclass(frozen=True)
class GotoStep(StepBase):
    url: str

    @property
    def label(self) -> str:
        return f"goto {_short(self.url)}"

    def templates(self) -> tuple[str, ...]:
        return (self.url,)


@dataclass(frozen=True)
class WaitStep(StepBase):
    seconds: Span

    @property
    def label(self) -> str:
        return f"wait {self.seconds} s"


@dataclass(frozen=True)
class ScrollStep(StepBase):
    pixels: Span

    @property
    def label(self) -> str:
        return f"scroll {self.pixels} px"


@dataclass(frozen=True)
class ClickStep(StepBase):
    selector: str

    @property
    def label(self) -> str:
        return f"click {_short(self.selector)}"

    def templates(self) -> tuple[str, ...]:
        return (self.selector,)


@dataclass(frozen=True)
class TypeStep(StepBase):
    selector: str
    text: str

    @property
    def label(self) -> str:
        return f"type into {_short(self.selector)}"

    def templates(self) -> tuple[str, ...]:
        return (self.selector, self.text)


@dataclass(frozen=True)
class PressStep(StepBase):
    key: str

    @property
    def label(self) -> str:
        return f"press {_short(self.key)}"

    def templates(self) -> tuple[str, ...]:
        return (self.key,)


@dataclass(frozen=True)
class ExpectStep(StepBase):
    """Wait for a visible selector, a visible text, or a URL containing a substring."""

    selector: str | None = None
    text: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        given = [value for value in (self.selector, self.text, self.url) if value is not None]
        if len(given) != 1:
            raise ValueError("ExpectStep takes exactly one of selector, text, url")

    @property
    def label(self) -> str:
        if self.selector is not None:
            return f"expect {_short(self.selector)}"
        if self.text is not None:
            return f"expect text {_short(self.text)!r}"
        return f"expect url {_short(self.url or '')!r}"

    def templates(self) -> tuple[str, ...]:
        return tuple(value for value in (self.selector, self.text, self.url) if value is not None)


@dataclass(frozen=True)
class RepeatStep(StepBase):
    times: Span
    steps: tuple[Step, ...]

    @property
    def label(self) -> str:
        return f"repeat {self.times}{_TIMES}"


Step = GotoStep | WaitStep | ScrollStep | ClickStep | TypeStep | PressStep | ExpectStep | RepeatStep


@dataclass(frozen=True)
class LoggedInCheck:
    """The scenario's ``logged_in`` check: how a page of the site shows a live session.

    Exactly one of ``selector`` (must become visible) and ``url`` (the page's URL must
    contain it), both within ``timeout`` seconds. The player runs it once, right after
    the run's first goto step completes; failing it means the session has expired.
    """

    selector: str | None = None
    url: str | None = None
    timeout: float = LOGGED_IN_TIMEOUT_SECONDS
    path: str = LOGGED_IN_KEY

    def __post_init__(self) -> None:
        if (self.selector is None) == (self.url is None):
            raise ValueError("LoggedInCheck takes exactly one of selector, url")

    @property
    def label(self) -> str:
        if self.selector is not None:
            return f"expect {_short(self.selector)}"
        return f"expect url {_short(self.url or '')!r}"

    def templates(self) -> tuple[str, ...]:
        return tuple(value for value in (self.selector, self.url) if value is not None)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    vars: Mapping[str, str]
    steps: tuple[Step, ...]
    logged_in: LoggedInCheck | None = None
    text: str = field(default="", compare=False, repr=False)
    """The YAML it was read from: a worker on another machine parses the same text."""

    def variables_used(self) -> set[str]:
        """Every ``{var}`` name used by any step, nested ones included, and by ``logged_in``."""
        names: set[str] = set()
        templates = [template for step in iter_steps(self.steps) for template in step.templates()]
        if self.logged_in is not None:
            templates.extend(self.logged_in.templates())
        for template in templates:
            names.update(template_variables(template))
        return names


def iter_steps(steps: tuple[Step, ...]) -> list[Step]:
    """All steps in file order, the steps inside a repeat after the repeat itself."""
    found: list[Step] = []
    for step in steps:
        found.append(step)
        if isinstance(step, RepeatStep):
            found.extend(iter_steps(step.steps))
    return found


# --------------------------------------------------------------------------- templates


def _template_parts(template: str) -> list[tuple[bool, str]]:
    """Split a template into ``(is_variable, text)`` parts; ValueError if malformed."""
    parts: list[tuple[bool, str]] = []
    position = 0
    for match in _TEMPLATE_TOKEN.finditer(template):
        if match.start() > position:
            parts.append((False, template[position : match.start()]))
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append((False, token[0]))
        elif token in ("{", "}"):
            raise ValueError(
                f"unbalanced {token!r} in {_short(template)!r}; write {token * 2!r} for a literal"
            )
        else:
            name = match.group(1)
            if not name.isidentifier():
                raise ValueError(
                    f"invalid variable name {{{name}}} in {_short(template)!r}; use letters,"
                    " digits and _ (or '{{' '}}' for literal braces)"
                )
            parts.append((True, name))
        position = match.end()
    if position < len(template):
        parts.append((False, template[position:]))
    return parts


def template_variables(template: str) -> set[str]:
    """The variable names a (valid) template uses."""
    return {text for is_variable, text in _template_parts(template) if is_variable}


def substitute(template: str, variables: Mapping[str, str]) -> str:
    """Replace each ``{var}``; ``{{`` and ``}}`` stand for literal braces.

    Values are inserted as they are (they are not templates themselves).
    Raises UnknownVariable for a name missing from ``variables``.
    """
    pieces: list[str] = []
    for is_variable, text in _template_parts(template):
        if not is_variable:
            pieces.append(text)
        elif text in variables:
            pieces.append(str(variables[text]))
        else:
            raise UnknownVariable(text)
    return "".join(pieces)


# --------------------------------------------------------------------------- YAML with lines


class _YamlDict(dict):  # type: ignore[type-arg]
    """A mapping loaded from YAML that remembers its line and its keys' lines."""

    line: int | None = None
    key_lines: dict[Any, int] | None = None


class _YamlList(list):  # type: ignore[type-arg]
    line: int | None = None


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that keeps line numbers and refuses duplicate keys."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> Any:
    data = _YamlDict()
    data.line = node.start_mark.line + 1
    yield data
    lines = key_lines(loader, node)
    data.update(loader.construct_mapping(node))
    data.key_lines = lines


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> Any:
    data = _YamlList()
    data.line = node.start_mark.line + 1
    yield data
    data.extend(loader.construct_sequence(node))


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


_FastLineLoader = on_libyaml(_LineLoader)


def _line_of(container: object, key: object = None) -> int | None:
    key_lines = getattr(container, "key_lines", None)
    if key is not None and key_lines:
        try:
            if key in key_lines:
                return key_lines[key]
        except TypeError:
            pass
    return getattr(container, "line", None)


# --------------------------------------------------------------------------- parsing


def _kind(value: object) -> str:
    """How a value reads in an error message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _short(repr(value))
    if isinstance(value, str):
        return f"the string {_short(repr(value))}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _key_list(keys: list[object]) -> str:
    return ", ".join(str(key) for key in keys)


class _Parser:
    """One file's parse: carries the source name and the running step count."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.step_count = 0

    def fail(
        self, path: str | None, reason: str, container: object, key: object = None
    ) -> NoReturn:
        raise ScenarioError(self.source, reason, path=path, line=_line_of(container, key))

    # ---- top level

    def scenario(self, data: object, default_name: str) -> Scenario:
        if not isinstance(data, dict):
            self.fail(None, f"expected a mapping with 'steps' at the top, got {_kind(data)}", data)
        for key in data:
            # logged_in is optional and left out of the listed keys, which name the usual ones.
            if key not in TOP_LEVEL_KEYS and key != LOGGED_IN_KEY:
                self.fail(
                    None,
                    f"unknown top-level key {key!r}; expected {_key_list(list(TOP_LEVEL_KEYS))}",
                    data,
                    key,
                )
        name = self.name(data, default_name)
        description = data.get("description", "")
        if not isinstance(description, str):
            self.fail(
                "description", f"expected a string, got {_kind(description)}", data, "description"
            )
        variables = self.variables(data.get("vars", {}), data)
        if "steps" not in data:
            self.fail(None, "missing 'steps' (a non-empty list of steps)", data)
        steps = self.steps(data["steps"], "steps", data, depth=0)
        logged_in = None
        if LOGGED_IN_KEY in data:
            logged_in = self.logged_in(data[LOGGED_IN_KEY], data, steps)
        return Scenario(name, description, MappingProxyType(variables), steps, logged_in)

    def name(self, data: dict[Any, Any], default_name: str) -> str:
        if "name" not in data:
            return default_name
        name = data["name"]
        if not isinstance(name, str):
            self.fail("name", f"expected a string, got {_kind(name)}", data, "name")
        if name != default_name:
            self.fail(
                "name",
                f"{name!r} does not match the file name; write {default_name!r} or leave it out",
                data,
                "name",
            )
        return name

    def variables(self, raw: object, data: dict[Any, Any]) -> dict[str, str]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail(
                "vars", f"expected a mapping of names to values, got {_kind(raw)}", data, "vars"
            )
        variables: dict[str, str] = {}
        for key, value in raw.items():
            if not isinstance(key, str) or not key.isidentifier():
                self.fail(
                    "vars",
                    f"invalid variable name {key!r}; use letters, digits and _",
                    raw,
                    key,
                )
            path = f"vars.{key}"
            if key in RESERVED_VARIABLES:
                self.fail(path, f"{key!r} is reserved: it is always the profile's name", raw, key)
            if isinstance(value, str):
                variables[key] = value
            elif _is_number(value):
                try:
                    variables[key] = str(value)
                except ValueError:  # an int too long to print
                    self.fail(path, "number too large", raw, key)
            else:
                self.fail(path, f"expected a string or a number, got {_kind(value)}", raw, key)
        return variables

    def logged_in(
        self, value: object, data: dict[Any, Any], steps: tuple[Step, ...]
    ) -> LoggedInCheck:
        """``{selector: …}`` or ``{url: …}``, with an optional ``timeout``."""
        path = LOGGED_IN_KEY
        if not isinstance(value, dict):
            self.fail(
                path,
                f"expected {{selector: …}} or {{url: …}}, got {_kind(value)}",
                data,
                LOGGED_IN_KEY,
            )
        allowed = (*LOGGED_IN_KINDS, "timeout")
        for key in value:
            if key not in allowed:
                self.fail(
                    path, f"unknown key {key!r}; expected {_key_list(list(allowed))}", value, key
                )
        kinds = [key for key in value if key in LOGGED_IN_KINDS]
        if len(kinds) != 1:
            self.fail(path, "give exactly one of selector, url", data, LOGGED_IN_KEY)
        (kind,) = kinds
        checked = self.text(value[kind], path, kind, value)
        timeout = self.modifiers(value, path).get("timeout", LOGGED_IN_TIMEOUT_SECONDS)
        if not any(isinstance(step, GotoStep) for step in iter_steps(steps)):
            self.fail(
                path,
                "the check runs after the first goto step, and this scenario has none",
                data,
                LOGGED_IN_KEY,
            )
        return LoggedInCheck(**{kind: checked}, timeout=timeout)

    # ---- steps

    def steps(self, raw: object, path: str, container: object, *, depth: int) -> tuple[Step, ...]:
        if not isinstance(raw, list) or not raw:
            got = "an empty list" if raw == [] else _kind(raw)
            self.fail(path, f"expected a non-empty list of steps, got {got}", container, "steps")
        return tuple(
            self.step(item, f"{path}[{index}]", raw, depth) for index, item in enumerate(raw)
        )

    def step(self, raw: object, path: str, container: object, depth: int) -> Step:
        self.step_count += 1
        if self.step_count > MAX_STEPS:
            self.fail(path, f"too many steps: at most {MAX_STEPS} in a file", raw)
        if not isinstance(raw, dict):
            self.fail(
                path,
                f"expected a mapping with one action ({', '.join(ACTIONS)}), got {_kind(raw)}",
                container,
            )
        action = self.action(raw, path)
        allowed = (*MODIFIERS, "steps") if action == "repeat" else MODIFIERS
        for key in raw:
            if key == "steps" and action != "repeat":
                self.fail(path, "'steps' is only allowed on repeat", raw, key)
            if key != action and key not in allowed:
                self.fail(
                    path, f"unknown modifier {key!r}; expected {_key_list(list(allowed))}", raw, key
                )
        common: dict[str, Any] = {"path": path, **self.modifiers(raw, path)}
        value = raw[action]
        match action:
            case "goto":
                return GotoStep(self.text(value, path, "goto", raw), **common)
            case "click":
                return ClickStep(self.text(value, path, "click", raw), **common)
            case "press":
                return PressStep(self.text(value, path, "press", raw), **common)
            case "wait":
                return WaitStep(self.span(value, path, raw, "wait"), **common)
            case "scroll":
                return ScrollStep(self.span(value, path, raw, "scroll"), **common)
            case "type":
                return self.type_step(value, raw, common)
            case "expect":
                return self.expect_step(value, raw, common)
            case _:
                return self.repeat_step(value, raw, common, depth)

    def action(self, raw: dict[Any, Any], path: str) -> str:
        actions = [key for key in raw if key in ACTIONS]
        expected = f"expected one of {', '.join(ACTIONS)}"
        if len(actions) > 1:
            self.fail(
                path,
                f"several actions in one step: {_key_list(actions)}; a step has exactly one",
                raw,
                actions[1],
            )
        if actions:
            return str(actions[0])
        unknown = [key for key in raw if key not in (*MODIFIERS, "steps")]
        if unknown:
            self.fail(path, f"unknown action {unknown[0]!r}; {expected}", raw, unknown[0])
        self.fail(path, f"missing action; {expected}", raw)

    def modifiers(self, raw: dict[Any, Any], path: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if "timeout" in raw:
            value = raw["timeout"]
            if not _is_number(value) or not 0 < value <= MAX_TIMEOUT_SECONDS:
                self.fail(
                    path,
                    f"timeout: expected a number of seconds above 0 and at most"
                    f" {MAX_TIMEOUT_SECONDS}, got {_kind(value)}",
                    raw,
                    "timeout",
                )
            found["timeout"] = float(value)
        if "optional" in raw:
            value = raw["optional"]
            if not isinstance(value, bool):
                self.fail(
                    path, f"optional: expected true or false, got {_kind(value)}", raw, "optional"
                )
            found["optional"] = value
        if "probability" in raw:
            value = raw["probability"]
            if not _is_number(value) or not 0 <= value <= 1:
                self.fail(
                    path,
                    f"probability: expected a number from 0 to 1, got {_kind(value)}",
                    raw,
                    "probability",
                )
            found["probability"] = float(value)
        return found

    # ---- action values

    def text(self, value: object, path: str, what: str, container: object) -> str:
        """A non-empty string that may hold ``{var}`` placeholders."""
        key = what.rsplit(".", 1)[-1]
        if not isinstance(value, str) or not value:
            hint = f" (quote it: '{value}')" if _is_number(value) else ""
            self.fail(
                path,
                f"{what}: expected a non-empty string, got {_kind(value)}{hint}",
                container,
                key,
            )
        try:
            _template_parts(value)
        except ValueError as exc:
            self.fail(path, f"{what}: {exc}", container, key)
        return value

    def span(self, value: object, path: str, container: object, what: str) -> Span:
        """A number or a ``[min, max]`` list; ints only for repeat and scroll."""
        whole = what != "wait"
        low_limit, high_limit = {
            "wait": (0, MAX_WAIT_SECONDS),
            "scroll": (-MAX_SCROLL_PIXELS, MAX_SCROLL_PIXELS),
            "repeat": (0, MAX_REPEAT),
        }[what]
        number = "a whole number" if whole else "a number"
        expected = f"expected {number} from {low_limit} to {high_limit}, or [min, max]"
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) != 2:
            self.fail(
                path, f"{what}: a range is [min, max], got {len(value)} items", container, what
            )
        for item in items:
            ok = _is_number(item) and (isinstance(item, int) or not whole)
            if not ok or not low_limit <= item <= high_limit:
                self.fail(path, f"{what}: {expected}, got {_kind(item)}", container, what)
        low, high = items[0], items[-1]
        if low > high:
            self.fail(path, f"{what}: range [{low}, {high}] has min above max", container, what)
        if whole:
            return Span(low, high)
        return Span(float(low), float(high))

    def type_step(self, value: object, raw: dict[Any, Any], common: dict[str, Any]) -> TypeStep:
        path = common["path"]
        if not isinstance(value, dict):
            self.fail(
                path, f"type: expected {{selector: …, text: …}}, got {_kind(value)}", raw, "type"
            )
        for key in value:
            if key not in ("selector", "text"):
                self.fail(path, f"type: unknown key {key!r}; expected selector, text", value, key)
        for key in ("selector", "text"):
            if key not in value:
                self.fail(path, f"type: missing {key!r}", value)
        selector = self.text(value["selector"], path, "type.selector", value)
        text = self.text(value["text"], path, "type.text", value)
        return TypeStep(selector, text, **common)

    def expect_step(self, value: object, raw: dict[Any, Any], common: dict[str, Any]) -> ExpectStep:
        path = common["path"]
        if isinstance(value, str):
            return ExpectStep(selector=self.text(value, path, "expect", raw), **common)
        if not isinstance(value, dict):
            self.fail(
                path,
                f"expect: expected a selector, {{text: …}} or {{url: …}}, got {_kind(value)}",
                raw,
                "expect",
            )
        kinds = ("selector", "text", "url")
        for key in value:
            if key not in kinds:
                self.fail(
                    path,
                    f"expect: unknown key {key!r}; expected {_key_list(list(kinds))}",
                    value,
                    key,
                )
        if len(value) != 1:
            self.fail(path, "expect: give exactly one of selector, text, url", raw, "expect")
        ((kind, text),) = value.items()
        checked = self.text(text, path, f"expect.{kind}", value)
        return ExpectStep(**{kind: checked}, **common)

    def repeat_step(
        self, value: object, raw: dict[Any, Any], common: dict[str, Any], depth: int
    ) -> RepeatStep:
        path = common["path"]
        if depth + 1 > MAX_DEPTH:
            self.fail(path, f"repeat nested too deeply: at most {MAX_DEPTH} levels", raw, "repeat")
        times = self.span(value, path, raw, "repeat")
        if "steps" not in raw:
            self.fail(path, "repeat needs 'steps' (a non-empty list of steps)", raw, "repeat")
        steps = self.steps(raw["steps"], f"{path}.repeat.steps", raw, depth=depth + 1)
        return RepeatStep(times, steps, **common)


def parse_scenario(data: object, *, source: str, default_name: str) -> Scenario:
    """Validate loaded YAML data; raise ScenarioError at the first problem."""
    return _Parser(source).scenario(data, default_name)


# --------------------------------------------------------------------------- files


def load_scenario(path: Path) -> Scenario:
    """Read, parse and validate one scenario file; its name is the file stem."""
    source = path.name
    if not SCENARIO_NAME.fullmatch(path.stem):
        raise ScenarioError(
            source,
            "the file name is the scenario's name: use letters, digits, _ and - (at most 64)",
        )
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(source, f"cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(source, f"file too large: at most {MAX_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start]
        line = raw[: exc.start].count(b"\n") + 1
        reason = f"not UTF-8 text (byte 0x{bad:02x}); save the file as UTF-8"
        raise ScenarioError(source, reason, line=line) from None
    return scenario_from_text(text, source=source, name=path.stem)


def scenario_from_text(text: str, *, source: str, name: str) -> Scenario:
    """Parse and validate a scenario's YAML; `source` names it in errors."""
    try:
        data = load_fast_first(text, _LineLoader, _FastLineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "syntax error"
        if exc.context and problem.startswith("but "):  # "expected X" + "but found Y"
            problem = f"{exc.context}, {problem}"
        raise ScenarioError(source, f"invalid YAML: {problem}", line=line) from None
    except (yaml.YAMLError, ValueError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScenarioError(source, f"invalid YAML: {first_line}") from None
    except (LookupError, AttributeError):
        # PyYAML's own constructors fail this way on an explicit tag with an empty or wrong
        # value, like `!!int ''`, `!!bool maybe` or `!!timestamp x`
        reason = "invalid YAML: a value does not fit its tag (like !!int)"
        raise ScenarioError(source, reason) from None
    except RecursionError:
        raise ScenarioError(source, "invalid YAML: nested too deeply") from None
    if data is None:
        raise ScenarioError(source, "the file is empty; a scenario needs 'steps'")
    return replace(parse_scenario(data, source=source, default_name=name), text=text)


@dataclass
class ScenarioCatalog:
    """Every scenario file of a directory, by name: the usable ones and the refused ones."""

    valid: dict[str, Scenario] = field(default_factory=dict)
    invalid: dict[str, ScenarioError] = field(default_factory=dict)


def load_scenarios(directory: Path) -> ScenarioCatalog:
    """Load every ``*.yaml`` and ``*.yml`` file; hidden files are skipped.

    Two files with the same stem (``a.yaml`` and ``a.yml``) are both refused:
    the name would be ambiguous.
    """
    catalog = ScenarioCatalog()
    if not directory.is_dir():
        return catalog
    files = sorted(
        path
        for path in directory.iterdir()
        if path.suffix in (".yaml", ".yml") and not path.name.startswith(".") and path.is_file()
    )
    seen: dict[str, Path] = {}
    for path in files:
        name = path.stem
        if name in seen:
            catalog.valid.pop(name, None)
            catalog.invalid[name] = ScenarioError(
                path.name, f"{seen[name].name} has the same scenario name; keep one of them"
            )
            continue
        seen[name] = path
        try:
            catalog.valid[name] = load_scenario(path)
        except ScenarioError as exc:
            catalog.invalid[name] = exc
    return catalog
