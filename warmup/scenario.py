"""The scenario language: one pydantic model that validates the YAML, is played, and
gives the JSON Schema editors use.

The models below are both the language and the runtime objects (frozen): their fields
are the YAML keys (`GotoStep.url` is read from `goto:`), their validators hold the rules
a JSON Schema cannot say (templates, nesting, the file name). A file with mistakes is
refused whole with every problem (up to MAX_PROBLEMS), each with the step's path
(``steps[2].repeat.steps[0]``), the reason in the project's words
(:mod:`warmup.scenario_problems`) and, when YAML gives it, the line. Nothing here touches
a browser; :mod:`warmup.player` plays the result.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar, Union, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    PrivateAttr,
    Tag,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from warmup.file_problems import (
    STRING,
    VARIABLES,
    YAML_TAG_MISMATCH,
    YAML_TOO_DEEP,
    duplicate_key,
    invalid_yaml,
    not_utf8,
    refusal,
    too_large,
    unreadable,
)
from warmup.file_problems import Problem as Problem  # the errors' parts, for callers
from warmup.i18n import LazyPlural, LazyText
from warmup.scenario_problems import AT_STEP, RANGE_TAG, TEXT, Vocabulary, problems_of
from warmup.scenario_problems import ScenarioError as ScenarioError
from warmup.yaml_keys import DuplicateKey, key_lines, load_fast_first, on_libyaml

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
LOGGED_IN_TIMEOUT_SECONDS = 10.0
SCENARIO_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
SCHEMA_TITLE = "warmup-bot scenario"

_DASH = "\u2013"  # en dash: "wait 2<dash>5 s"
_TIMES = "\u00d7"  # multiplication sign: "repeat 3<dash>6<times>"
_LABEL_TEXT_MAX = 60
# "{{" and "}}" are literal braces; "{name}" is a placeholder; any other brace is an error.
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NUMBER = "number"
"""The tag of a span's plain form (RANGE_TAG: its [min, max] form) in error locations."""


class UnknownVariable(KeyError):
    """A ``{name}`` placeholder with no value to put in its place."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown variable {{{self.name}}}"


def _short(text: str) -> str:
    if len(text) <= _LABEL_TEXT_MAX:
        return text
    return text[: _LABEL_TEXT_MAX - 1] + "\u2026"


# --------------------------------------------------------------------------- templates


class BadTemplate(ValueError):
    """A template with a lone brace or a placeholder that is not a name."""

    def __init__(self, reason: LazyText) -> None:
        super().__init__(reason)
        self.reason = reason


def _template_parts(template: str) -> list[tuple[bool, str]]:
    """Split a template into ``(is_variable, text)`` parts; BadTemplate if malformed."""
    parts: list[tuple[bool, str]] = []
    position = 0
    for match in _TEMPLATE_TOKEN.finditer(template):
        if match.start() > position:
            parts.append((False, template[position : match.start()]))
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append((False, token[0]))
        elif token in ("{", "}"):
            raise BadTemplate(
                LazyText(
                    "unbalanced {token} in {template}; write {twice} for a literal",
                    token=repr(token),
                    template=repr(_short(template)),
                    twice=repr(token * 2),
                )
            )
        else:
            name = match.group(1)
            if not name.isidentifier():
                raise BadTemplate(
                    LazyText(
                        "invalid variable name {name} in {template}; use letters, digits and _"
                        " (or {braces} for literal braces)",
                        name=f"{{{name}}}",
                        template=repr(_short(template)),
                        braces="'{{' '}}'",
                    )
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


def _checked_template(value: str) -> str:
    try:
        _template_parts(value)
    except BadTemplate as error:
        raise refusal("template", error.reason) from None
    return value


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


def _number_or_range(value: object) -> str:
    return RANGE_TAG if isinstance(value, list) else _NUMBER


@dataclass(frozen=True)
class SpanOf:
    """How a field reads its Span: a number from `low` to `high` (whole numbers only when
    `whole`), or a ``[min, max]`` list of two of them. Written as ``Annotated[Span,
    SpanOf(...)]``: pydantic checks both forms and the JSON Schema shows both."""

    low: int
    high: int
    whole: bool

    @property
    def expected(self) -> LazyText:
        if self.whole:
            return LazyText(
                "a whole number from {low} to {high}, or [min, max]", low=self.low, high=self.high
            )
        return LazyText(
            "a number from {low} to {high}, or [min, max]", low=self.low, high=self.high
        )

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        number = Annotated[int if self.whole else float, Field(ge=self.low, le=self.high)]
        pair = Annotated[list[number], Field(min_length=2, max_length=2)]
        either = Annotated[
            Annotated[number, Tag(_NUMBER)] | Annotated[pair, Tag(RANGE_TAG)],
            Discriminator(_number_or_range),
        ]
        return core_schema.no_info_after_validator_function(
            self._span, handler.generate_schema(either)
        )

    def _span(self, value: float | list[float]) -> Span:
        low, high = (value, value) if not isinstance(value, list) else value
        if low > high:
            reason = LazyText(
                "range [{low}, {high}] has min above max", low=f"{low:g}", high=f"{high:g}"
            )
            raise refusal("range_order", reason)
        if self.whole:
            return Span(low, high)
        return Span(float(low), float(high))


WAIT_SPAN = SpanOf(0, MAX_WAIT_SECONDS, whole=False)
SCROLL_SPAN = SpanOf(-MAX_SCROLL_PIXELS, MAX_SCROLL_PIXELS, whole=True)
REPEAT_SPAN = SpanOf(0, MAX_REPEAT, whole=True)


# --------------------------------------------------------------------------- the models

T = TypeVar("T")


if TYPE_CHECKING:
    Omittable = Annotated[T | None, "may be left out"]
else:
    Omittable = Annotated[T, "may be left out"]
"""A key that may be left out (its default is None) but not written empty: pydantic checks
the value as a T, so `timeout:` with nothing after it is refused, while code sees T | None
(and the JSON Schema says T)."""

Template = Annotated[str, Field(min_length=1), AfterValidator(_checked_template)]
"""A non-empty string that may hold ``{var}`` placeholders (``{{``, ``}}``: literal braces)."""

Seconds = Annotated[float, Field(gt=0, le=MAX_TIMEOUT_SECONDS)]


@dataclass
class _Reading:
    """What the validation of one file keeps track of (pydantic's validation context)."""

    name: str
    steps: int = 0
    depth: int = 0


def _reading(info: ValidationInfo) -> _Reading | None:
    return info.context if isinstance(info.context, _Reading) else None


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,
    )


class StepBase(_Model):
    """What every step has: its modifiers, and where it is in the file."""

    # The path is set once the whole file is read, in a slot: a pydantic private attribute
    # would cost a few microseconds per step to set up, more than validating the step. (A
    # copy, with model_copy, has no path.)
    __slots__ = ("_path",)

    timeout: Omittable[Seconds] = None
    """Seconds this step may take (default: the bot's step timeout)."""
    optional: bool = False
    """true: a failure of this step is logged and the run goes on."""
    probability: Annotated[float, Field(ge=0, le=1)] = 1.0
    """The chance to do this step (0 to 1); otherwise it is skipped."""

    @property
    def path(self) -> str:
        """Where the step is in its file: ``steps[2].repeat.steps[0]`` ("" until placed)."""
        return getattr(self, "_path", "")

    def templates(self) -> tuple[str, ...]:
        """The step's own strings that may hold ``{var}`` placeholders."""
        return ()

    @model_validator(mode="before")
    @classmethod
    def _count(cls, data: Any, info: ValidationInfo) -> Any:
        reading = _reading(info)
        if reading is not None:
            reading.steps += 1
            if reading.steps == MAX_STEPS + 1:
                reason = LazyText("too many steps: at most {most} in a file", most=MAX_STEPS)
                raise refusal("too_many_steps", reason)
        return data


MODIFIERS = tuple(StepBase.model_fields)


class GotoStep(StepBase):
    """Open a page; an HTTP error (400 and above) fails the step."""

    url: Template = Field(alias="goto")
    """The address to open, e.g. "{home}/feed"."""

    @property
    def label(self) -> str:
        return f"goto {_short(self.url)}"

    def templates(self) -> tuple[str, ...]:
        return (self.url,)


class WaitStep(StepBase):
    """Wait a number of seconds, or a random number within [min, max]."""

    seconds: Annotated[Span, WAIT_SPAN] = Field(alias="wait")
    """Seconds: a number, or [min, max] chosen at random each time."""

    @property
    def label(self) -> str:
        return f"wait {self.seconds} s"


class ScrollStep(StepBase):
    """Scroll the page down (negative: up) by a number of pixels."""

    pixels: Annotated[Span, SCROLL_SPAN] = Field(alias="scroll")
    """Pixels: a whole number, or [min, max] chosen at random each time."""

    @property
    def label(self) -> str:
        return f"scroll {self.pixels} px"


class ClickStep(StepBase):
    """Click the first element matching a CSS selector."""

    selector: Template = Field(alias="click")
    """A CSS selector, e.g. "a.item"."""

    @property
    def label(self) -> str:
        return f"click {_short(self.selector)}"

    def templates(self) -> tuple[str, ...]:
        return (self.selector,)


class TypeTarget(_Model):
    """Where to type, and what."""

    selector: Template
    """The CSS selector of the field."""
    text: Template
    """The text, typed key by key."""


class TypeStep(StepBase):
    """Type a text key by key into a field: {selector: "#q", text: "news"}."""

    target: TypeTarget = Field(alias="type")
    """{selector: …, text: …}"""

    @property
    def selector(self) -> str:
        return self.target.selector

    @property
    def text(self) -> str:
        return self.target.text

    @property
    def label(self) -> str:
        return f"type into {_short(self.selector)}"

    def templates(self) -> tuple[str, ...]:
        return (self.selector, self.text)


class PressStep(StepBase):
    """Press a key: Enter, End, PageDown, ArrowDown…"""

    key: Template = Field(alias="press")
    """A key name, as Playwright names them: Enter, End, PageDown, ArrowDown…"""

    @property
    def label(self) -> str:
        return f"press {_short(self.key)}"

    def templates(self) -> tuple[str, ...]:
        return (self.key,)


class ExpectTarget(_Model):
    """Exactly one of: a selector that must become visible, a text that must become visible,
    a part of the address."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    selector: Omittable[Template] = None
    """A CSS selector that must become visible."""
    text: Omittable[Template] = None
    """A text that must become visible on the page."""
    url: Omittable[Template] = None
    """A text the page's address must contain."""

    @model_validator(mode="after")
    def _exactly_one(self) -> ExpectTarget:
        if sum(value is not None for value in (self.selector, self.text, self.url)) != 1:
            raise refusal("exactly_one", LazyText("give exactly one of selector, text, url"))
        return self


def _selector_form(value: object) -> object:
    """`expect: "#feed"` is short for `expect: {selector: "#feed"}`."""
    return {"selector": value} if isinstance(value, str) else value


class ExpectStep(StepBase):
    """Wait for a visible selector, a visible text, or an address containing a text."""

    target: Annotated[
        ExpectTarget,
        BeforeValidator(_selector_form, json_schema_input_type=Template | ExpectTarget),
    ] = Field(alias="expect")
    """A CSS selector that must become visible, or {text: …} or {url: …}."""

    @property
    def selector(self) -> str | None:
        return self.target.selector

    @property
    def text(self) -> str | None:
        return self.target.text

    @property
    def url(self) -> str | None:
        return self.target.url

    @property
    def label(self) -> str:
        if self.selector is not None:
            return f"expect {_short(self.selector)}"
        if self.text is not None:
            return f"expect text {_short(self.text)!r}"
        return f"expect url {_short(self.url or '')!r}"

    def templates(self) -> tuple[str, ...]:
        return tuple(value for value in (self.selector, self.text, self.url) if value is not None)


class RepeatStep(StepBase):
    """Play the steps below a number of times, or a random number within [min, max]."""

    times: Annotated[Span, REPEAT_SPAN] = Field(alias="repeat")
    """How many times: a whole number, or [min, max] chosen at random."""
    steps: Steps
    """The steps to repeat (a non-empty list)."""

    @property
    def label(self) -> str:
        return f"repeat {self.times}{_TIMES}"

    @field_validator("steps", mode="wrap")
    @classmethod
    def _nest(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        reading = _reading(info)
        if reading is None:
            return handler(value)
        if reading.depth + 1 > MAX_DEPTH:
            reason = LazyPlural(
                "repeat nested too deeply: at most {count} level",
                "repeat nested too deeply: at most {count} levels",
                MAX_DEPTH,
            )
            raise refusal("too_deep", reason, at=AT_STEP)
        reading.depth += 1
        try:
            return handler(value)
        finally:
            reading.depth -= 1


Step = GotoStep | WaitStep | ScrollStep | ClickStep | TypeStep | PressStep | ExpectStep | RepeatStep
STEP_TYPES: tuple[type[StepBase], ...] = get_args(Step)


def _action_key(step_type: type[StepBase]) -> str:
    """The YAML key of a step type's action: its first field after the modifiers."""
    own = list(step_type.model_fields.values())[len(StepBase.model_fields)]
    assert own.alias is not None
    return own.alias


ACTIONS = tuple(_action_key(step_type) for step_type in STEP_TYPES)
_ACTION_KEYS = frozenset(ACTIONS)


def _action_of(value: object) -> str | None:
    """The step type to validate a step with: its one action key; None when it has none
    or several (the error then names what it found)."""
    if not isinstance(value, dict):
        return None
    found = _ACTION_KEYS.intersection(value)
    return next(iter(found)) if len(found) == 1 else None


_TaggedStep = Annotated[
    Union[tuple(Annotated[kind, Tag(_action_key(kind))] for kind in STEP_TYPES)],  # noqa: UP007
    Discriminator(_action_of),
]
"""A step, validated as the step type its action names (pydantic's tag: the action)."""


def _as_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


Steps = Annotated[tuple[_TaggedStep, ...], Field(min_length=1), BeforeValidator(_as_tuple)]
"""A YAML list of steps, kept as a tuple."""
RepeatStep.model_rebuild()


class LoggedInCheck(_Model):
    """How a page of the site shows a live session: exactly one of a selector that must
    become visible and a text the address must contain. Checked once, right after the
    run's first goto step; failing it means the profile's session has expired."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["selector"]}, {"required": ["url"]}]}
    )

    selector: Omittable[Template] = None
    """A CSS selector that only a logged-in page shows."""
    url: Omittable[Template] = None
    """A text the address of a logged-in page contains."""
    timeout: Seconds = LOGGED_IN_TIMEOUT_SECONDS
    """Seconds to wait for it."""

    path: ClassVar[str] = LOGGED_IN_KEY

    @model_validator(mode="after")
    def _exactly_one(self) -> LoggedInCheck:
        if (self.selector is None) == (self.url is None):
            raise refusal("exactly_one", LazyText("give exactly one of selector, url"))
        return self

    @property
    def label(self) -> str:
        if self.selector is not None:
            return f"expect {_short(self.selector)}"
        return f"expect url {_short(self.url or '')!r}"

    def templates(self) -> tuple[str, ...]:
        return tuple(value for value in (self.selector, self.url) if value is not None)


def _variable_name(name: str) -> str:
    if not name.isidentifier():
        raise refusal("variable_name", LazyText("not an identifier"))
    if name in RESERVED_VARIABLES:
        reason = LazyText("{name} is reserved: it is always the profile's name", name=repr(name))
        raise refusal("reserved", reason)
    return name


def _as_text(value: str | int | float) -> str:
    try:
        return str(value)
    except ValueError:  # an int too long to print
        raise refusal("too_large", LazyText("number too large")) from None


def _none_is_empty(value: object) -> object:
    return {} if value is None else value


VariableName = Annotated[str, AfterValidator(_variable_name)]
VariableValue = Annotated[str | int | float, AfterValidator(_as_text)]
Variables = Mapping[VariableName, VariableValue]


class Scenario(_Model):
    """A warmup-bot scenario: the steps a browser plays for one profile. The file name is
    the scenario's name. Every step is a mapping with exactly one action (goto, wait, scroll,
    click, type, press, expect, repeat) and the optional modifiers timeout, optional and
    probability. Strings may use {var} from vars and from the profile's vars, and {profile}
    for the profile's name; write {{ and }} for literal braces."""

    model_config = ConfigDict(title=SCHEMA_TITLE)

    name: str = ""
    """The scenario's name: it must be the file name without .yaml, so it may be left out."""
    description: str = ""
    """What the scenario does, shown by /scenarios."""
    vars: Annotated[
        Variables,
        BeforeValidator(_none_is_empty, json_schema_input_type=Variables | None),
        AfterValidator(MappingProxyType),
    ] = Field(default_factory=lambda: MappingProxyType({}))
    """Defaults for {var} placeholders (a profile's own vars win): names of letters, digits
    and _, values strings or numbers. {profile} is always the profile's name."""
    steps: Steps
    """The steps, played in order (a non-empty list)."""
    logged_in: Omittable[LoggedInCheck] = None
    """{selector: …} or {url: …}: how a page shows a live session, checked after the first
    goto step."""

    _text: str = PrivateAttr(default="")

    @property
    def text(self) -> str:
        """The YAML it was read from: a worker on another machine parses the same text."""
        return self._text

    @model_validator(mode="before")
    @classmethod
    def _named_after_file(cls, data: Any, info: ValidationInfo) -> Any:
        reading = _reading(info)
        if reading is not None and isinstance(data, dict) and "name" not in data:
            return {**data, "name": reading.name}
        return data

    @field_validator("name")
    @classmethod
    def _file_name(cls, name: str, info: ValidationInfo) -> str:
        reading = _reading(info)
        if reading is not None and name != reading.name:
            reason = LazyText(
                "{name} does not match the file name; write {file_name} or leave it out",
                name=repr(_short(name)),
                file_name=repr(reading.name),
            )
            raise refusal("name", reason)
        return name

    @field_validator("logged_in")
    @classmethod
    def _after_a_goto(cls, check: LoggedInCheck | None, info: ValidationInfo) -> Any:
        steps = info.data.get("steps")  # absent when the steps were refused
        if check is None or steps is None:
            return check
        if not any(isinstance(step, GotoStep) for step in iter_steps(steps)):
            reason = LazyText(
                "the check runs after the first goto step, and this scenario has none"
            )
            raise refusal("no_goto", reason)
        return check

    @model_validator(mode="after")
    def _place_steps(self) -> Scenario:
        _place(self.steps, "steps")
        return self

    def variables_used(self) -> set[str]:
        """Every ``{var}`` name used by any step, nested ones included, and by ``logged_in``."""
        names: set[str] = set()
        templates = [template for step in iter_steps(self.steps) for template in step.templates()]
        if self.logged_in is not None:
            templates.extend(self.logged_in.templates())
        for template in templates:
            names.update(template_variables(template))
        return names


def _place(steps: tuple[Step, ...], prefix: str) -> None:
    """Give each step its path."""
    for index, step in enumerate(steps):
        path = f"{prefix}[{index}]"
        object.__setattr__(step, "_path", path)
        if isinstance(step, RepeatStep):
            _place(step.steps, f"{path}.repeat.steps")


def iter_steps(steps: tuple[Step, ...]) -> list[Step]:
    """All steps in file order, the steps inside a repeat after the repeat itself."""
    found: list[Step] = []
    for step in steps:
        found.append(step)
        if isinstance(step, RepeatStep):
            found.extend(iter_steps(step.steps))
    return found


# --------------------------------------------------------------------------- JSON Schema


class _SchemaGenerator(GenerateJsonSchema):
    """Plain JSON Schema for editors (a YAML language server): the dialect named, no titles
    made up from field names, and no empty defaults (`name` defaults to the file name)."""

    def generate(self, schema: CoreSchema, mode: Any = "validation") -> JsonSchemaValue:
        return {"$schema": self.schema_dialect, **_one_line(super().generate(schema, mode))}

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if json_schema.get("default", 0) in (None, "", {}):
            del json_schema["default"]
        return json_schema


def _one_line(schema: Any) -> Any:
    """The schema with each description on one line (docstrings are wrapped)."""
    if isinstance(schema, dict):
        return {
            key: " ".join(value.split())
            if key == "description" and isinstance(value, str)
            else _one_line(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_one_line(item) for item in schema]
    return schema


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file."""
    return Scenario.model_json_schema(schema_generator=_SchemaGenerator)


def scenario_schema_text() -> str:
    """The JSON Schema as `python -m bot schema` prints it and scenarios/ ships it."""
    return json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- YAML with lines


class _YamlDict(dict):  # type: ignore[type-arg]
    """A mapping loaded from YAML that remembers its line and its keys' lines."""

    line: int | None = None
    key_lines: dict[Any, int] | None = None


class _YamlList(list):  # type: ignore[type-arg]
    """A list loaded from YAML that remembers its line and its items' lines."""

    line: int | None = None
    item_lines: list[int] | None = None


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
    data.item_lines = [item.start_mark.line + 1 for item in node.value]


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


_FastLineLoader = on_libyaml(_LineLoader)


# --------------------------------------------------------------------------- parsing

_VOCABULARY = Vocabulary(
    actions=ACTIONS,
    modifiers=MODIFIERS,
    top_level_keys=TOP_LEVEL_KEYS,
    keys_of={
        "type": tuple(TypeTarget.model_fields),
        "expect": tuple(ExpectTarget.model_fields),
        LOGGED_IN_KEY: tuple(LoggedInCheck.model_fields),
    },
    expected={
        "name": STRING,
        "description": STRING,
        "vars": VARIABLES,
        "steps": LazyText("a non-empty list of steps"),
        **dict.fromkeys(("goto", "click", "press", "selector", "text", "url"), TEXT),
        "wait": WAIT_SPAN.expected,
        "scroll": SCROLL_SPAN.expected,
        "repeat": REPEAT_SPAN.expected,
        "timeout": LazyText(
            "a number of seconds above 0 and at most {most}", most=MAX_TIMEOUT_SECONDS
        ),
        "optional": LazyText("true or false"),
        "probability": LazyText("a number from 0 to 1"),
        "type": "{selector: \u2026, text: \u2026}",
        "expect": LazyText("a selector, {text: \u2026} or {url: \u2026}"),
        LOGGED_IN_KEY: LazyText("{selector: \u2026} or {url: \u2026}"),
    },
)


def parse_scenario(data: object, *, source: str, default_name: str) -> Scenario:
    """Validate loaded YAML data; raise ScenarioError with every problem found."""
    try:
        return Scenario.model_validate(data, context=_Reading(default_name))
    except ValidationError as error:
        problems = problems_of(error, data, _VOCABULARY)
        raise ScenarioError(source, problems=problems) from None


# --------------------------------------------------------------------------- files


def load_scenario(path: Path) -> Scenario:
    """Read, parse and validate one scenario file; its name is the file stem."""
    source = path.name
    if not SCENARIO_NAME.fullmatch(path.stem):
        reason = LazyText(
            "the file name is the scenario's name: use letters, digits, _ and - (at most 64)"
        )
        raise ScenarioError(source, reason)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(source, problems=[unreadable(exc)]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(source, problems=[too_large(MAX_FILE_BYTES)])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(source, problems=[not_utf8(raw, exc)]) from None
    return scenario_from_text(text, source=source, name=path.stem)


def scenario_from_text(text: str, *, source: str, name: str) -> Scenario:
    """Parse and validate a scenario's YAML; `source` names it in errors."""
    try:
        data = load_fast_first(text, _LineLoader, _FastLineLoader)
    except DuplicateKey as exc:
        raise ScenarioError(source, problems=[duplicate_key(exc)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "syntax error"
        if exc.context and problem.startswith("but "):  # "expected X" + "but found Y"
            problem = f"{exc.context}, {problem}"
        raise ScenarioError(source, problems=[invalid_yaml(problem, line)]) from None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScenarioError(source, problems=[invalid_yaml(first_line)]) from None
    except (LookupError, AttributeError):  # see YAML_TAG_MISMATCH
        raise ScenarioError(source, YAML_TAG_MISMATCH) from None
    except RecursionError:
        raise ScenarioError(source, YAML_TOO_DEEP) from None
    if data is None:
        raise ScenarioError(source, LazyText("the file is empty; a scenario needs 'steps'"))
    scenario = parse_scenario(data, source=source, default_name=name)
    scenario._text = text
    return scenario


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
            reason = LazyText(
                "{file} has the same scenario name; keep one of them", file=seen[name].name
            )
            catalog.invalid[name] = ScenarioError(path.name, reason)
            continue
        seen[name] = path
        try:
            catalog.valid[name] = load_scenario(path)
        except ScenarioError as exc:
            catalog.invalid[name] = exc
    return catalog
