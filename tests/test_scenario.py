"""The scenario language: parsing, validation errors, files and substitution."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmup.scenario import (
    ACTIONS,
    LOGGED_IN_TIMEOUT_SECONDS,
    MODIFIERS,
    ClickStep,
    ExpectStep,
    GotoStep,
    LoggedInCheck,
    PressStep,
    Problem,
    RepeatStep,
    Scenario,
    ScenarioError,
    ScrollStep,
    Span,
    TypeStep,
    UnknownVariable,
    WaitStep,
    iter_steps,
    load_scenario,
    load_scenarios,
    parse_scenario,
    substitute,
)

REPO_SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
ACTION_LIST = "goto, wait, scroll, click, type, press, expect, repeat"


def parse(data: object) -> Scenario:
    return parse_scenario(data, source="browse.yaml", default_name="browse")


def parse_steps(*steps: object) -> Scenario:
    return parse({"steps": list(steps)})


def error_of(data: object) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse(data)
    return caught.value


def step_error(*steps: object) -> ScenarioError:
    return error_of({"steps": list(steps)})


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- actions


def test_every_action_is_parsed() -> None:
    scenario = parse(
        {
            "name": "browse",
            "description": "Read a feed",
            "vars": {"home": "https://example.org"},
            "steps": [
                {"goto": "{home}/feed"},
                {"wait": 2},
                {"scroll": -300},
                {"click": "a.item"},
                {"type": {"selector": "#q", "text": "news"}},
                {"press": "End"},
                {"expect": "#feed"},
                {"expect": {"text": "Hello"}},
                {"expect": {"url": "/feed"}},
                {"repeat": 3, "steps": [{"wait": 1}]},
            ],
        }
    )
    assert scenario.name == "browse"
    assert scenario.description == "Read a feed"
    assert dict(scenario.vars) == {"home": "https://example.org"}
    assert scenario.steps == (
        GotoStep(goto="{home}/feed"),
        WaitStep(wait=2.0),
        ScrollStep(scroll=-300),
        ClickStep(click="a.item"),
        TypeStep(type={"selector": "#q", "text": "news"}),
        PressStep(press="End"),
        ExpectStep(expect={"selector": "#feed"}),
        ExpectStep(expect={"text": "Hello"}),
        ExpectStep(expect={"url": "/feed"}),
        RepeatStep(repeat=3, steps=[{"wait": 1}]),
    )
    steps = scenario.steps
    assert (steps[1].seconds, steps[2].pixels) == (Span(2.0, 2.0), Span(-300, -300))
    assert (steps[4].selector, steps[4].text, steps[6].selector, steps[8].url) == (
        "#q",
        "news",
        "#feed",
        "/feed",
    )
    assert [step.path for step in iter_steps(scenario.steps)] == [
        *(f"steps[{index}]" for index in range(10)),
        "steps[9].repeat.steps[0]",
    ]


def test_labels_are_short_descriptions() -> None:
    scenario = parse_steps(
        {"goto": "https://x/feed"},
        {"wait": [2, 5]},
        {"wait": 0.5},
        {"scroll": [300, 900]},
        {"click": "a.item"},
        {"type": {"selector": "#q", "text": "secret words"}},
        {"press": "End"},
        {"expect": "#feed"},
        {"expect": {"text": "Hi"}},
        {"expect": {"url": "/feed"}},
        {"repeat": [3, 6], "steps": [{"wait": 1}]},
        {"repeat": 2, "steps": [{"wait": 1}]},
    )
    assert [step.label for step in scenario.steps] == [
        "goto https://x/feed",
        "wait 2\u20135 s",
        "wait 0.5 s",
        "scroll 300\u2013900 px",
        "click a.item",
        "type into #q",
        "press End",
        "expect #feed",
        "expect text 'Hi'",
        "expect url '/feed'",
        "repeat 3\u20136\u00d7",
        "repeat 2\u00d7",
    ]


def test_long_labels_are_cut() -> None:
    (step,) = parse_steps({"click": "div." + "x" * 200}).steps
    assert len(step.label) < 80
    assert step.label.endswith("\u2026")


# --------------------------------------------------------------------------- numbers and ranges


def test_number_and_range_forms() -> None:
    wait_fixed, wait_range, scroll_range, repeat_range = parse_steps(
        {"wait": 1.5},
        {"wait": [0, 2]},
        {"scroll": [-900, -300]},
        {"repeat": [3, 6], "steps": [{"wait": 0}]},
    ).steps
    assert isinstance(wait_fixed, WaitStep) and wait_fixed.seconds == Span(1.5, 1.5)
    assert isinstance(wait_range, WaitStep) and wait_range.seconds == Span(0.0, 2.0)
    assert isinstance(scroll_range, ScrollStep) and scroll_range.pixels == Span(-900, -300)
    assert isinstance(repeat_range, RepeatStep) and repeat_range.times == Span(3, 6)


def test_span_pick() -> None:
    rng = random.Random(3)
    picks = {Span(3, 6).pick(rng) for _ in range(200)}
    assert picks == {3, 4, 5, 6}
    assert all(isinstance(value, int) for value in picks)
    floats = [Span(2.0, 5.0).pick(rng) for _ in range(50)]
    assert all(2.0 <= value <= 5.0 for value in floats)
    assert any(value != int(value) for value in floats)
    assert Span(4, 4).pick(rng) == 4


def test_modifiers() -> None:
    (step,) = parse_steps(
        {"click": "a.item", "probability": 0.3, "optional": True, "timeout": 10}
    ).steps
    assert step == ClickStep(click="a.item", timeout=10.0, optional=True, probability=0.3)
    (plain,) = parse_steps({"click": "a.item"}).steps
    assert (plain.timeout, plain.optional, plain.probability) == (None, False, 1.0)


def test_probability_bounds_are_allowed() -> None:
    never, always = parse_steps({"wait": 0, "probability": 0}, {"wait": 0, "probability": 1}).steps
    assert (never.probability, always.probability) == (0.0, 1.0)


# --------------------------------------------------------------------------- variables


def test_vars_numbers_become_strings() -> None:
    scenario = parse(
        {"vars": {"home": "https://x", "count": 3, "ratio": 0.5}, "steps": [{"wait": 0}]}
    )
    assert dict(scenario.vars) == {"home": "https://x", "count": "3", "ratio": "0.5"}


def test_variables_used_reaches_nested_steps_and_profile() -> None:
    scenario = parse_steps(
        {"goto": "{home}/feed"},
        {
            "repeat": 2,
            "steps": [
                {"type": {"selector": "#{field}", "text": "hi {profile}"}},
                {"expect": {"url": "{path}"}},
            ],
        },
        {"click": "a[data-x='{{literal}}']"},
    )
    assert scenario.variables_used() == {"home", "field", "profile", "path"}


def test_substitute() -> None:
    variables = {"home": "https://x", "profile": "alice"}
    assert substitute("{home}/u/{profile}", variables) == "https://x/u/alice"
    assert substitute("{{home}} is {home}", variables) == "{home} is https://x"
    assert substitute("a}}b{{c", {}) == "a}b{c"
    assert substitute("no braces", {}) == "no braces"
    # Values are inserted as they are, never read as templates again.
    assert substitute("{a}", {"a": "{b}"}) == "{b}"


def test_substitute_unknown_variable() -> None:
    with pytest.raises(UnknownVariable) as caught:
        substitute("{home}/feed", {"profile": "alice"})
    assert caught.value.name == "home"
    assert str(caught.value) == "unknown variable {home}"
    assert isinstance(caught.value, KeyError)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{1x}/feed", "goto: invalid variable name {1x}"),
        ("{home/feed", "goto: unbalanced '{'"),
        ("home}/feed", "goto: unbalanced '}'"),
        ("{}", "goto: invalid variable name {}"),
    ],
)
def test_bad_placeholders_are_refused(text: str, reason: str) -> None:
    error = step_error({"goto": text})
    assert error.path == "steps[0]"
    assert error.reason.startswith(reason)


def test_reserved_profile_var_is_refused() -> None:
    error = error_of({"vars": {"profile": "x"}, "steps": [{"wait": 0}]})
    assert error.path == "vars.profile"
    assert "reserved" in error.reason


def test_bad_var_value_is_refused() -> None:
    error = error_of({"vars": {"home": ["a"]}, "steps": [{"wait": 0}]})
    assert (error.path, error.reason) == ("vars.home", "expected a string or a number, got a list")


# --------------------------------------------------------------------------- validation errors


def test_error_message_format() -> None:
    error = ScenarioError("browse.yaml", "unknown action 'clik'", path="steps[2]")
    assert str(error) == "browse.yaml: steps[2]: unknown action 'clik'"
    assert error.problems == (Problem("steps[2]", "unknown action 'clik'"),)
    error = ScenarioError("browse.yaml", "empty", line=4)
    assert str(error) == "browse.yaml, line 4: empty"
    assert error.summary() == "browse.yaml, line 4: empty"
    error = ScenarioError(
        "browse.yaml", problems=[Problem("steps[0]", "first", 3), Problem(None, "second")]
    )
    assert str(error) == "browse.yaml, line 3: steps[0]: first\nbrowse.yaml: second"
    assert (error.path, error.reason, error.line) == ("steps[0]", "first", 3)
    assert error.summary() == "browse.yaml, line 3: steps[0]: first (and 1 more problem)"
    assert error.lines("scenarios/browse.yaml")[1] == "scenarios/browse.yaml: second"


def test_every_problem_of_a_file_is_reported_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "browse.yaml",
        "steps:\n"
        "  - goto: https://x\n"
        "  - wait: -1\n"
        "    optionl: true\n"
        "  - repeat: 2\n"
        "    steps:\n"
        "      - clik: a.item\n"
        "vars: {home: [1]}\n",
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    error = caught.value
    assert str(error).splitlines() == [
        "browse.yaml, line 3: steps[1]: wait: expected a number from 0 to 3600, or [min, max],"
        " got -1",
        "browse.yaml, line 4: steps[1]: unknown modifier 'optionl'; expected timeout, optional,"
        " probability",
        f"browse.yaml, line 7: steps[2].repeat.steps[0]: unknown action 'clik'; "
        f"expected one of {ACTION_LIST}",
        "browse.yaml, line 8: vars.home: expected a string or a number, got a list",
    ]
    assert [problem.line for problem in error.problems] == [3, 4, 7, 8]
    assert (error.path, error.line) == ("steps[1]", 3)
    assert error.reason.startswith("wait: expected a number")
    assert error.count == 4
    assert error.summary().endswith("got -1 (and 3 more problems)")


def test_problems_past_twenty_are_counted_not_listed() -> None:
    error = step_error(*[{"wait": -1}] * 25)
    assert error.count == 25
    assert len(error.problems) == 21
    assert [problem.path for problem in error.problems[:20]] == [
        f"steps[{index}]" for index in range(20)
    ]
    assert (error.problems[-1].path, error.problems[-1].reason) == (None, "and 5 more problems")
    assert str(error).splitlines()[-1] == "browse.yaml: and 5 more problems"
    assert error.summary().endswith("(and 24 more problems)")


def test_a_step_with_several_mistakes_reports_each() -> None:
    error = step_error({"type": {"x": 1}, "timeout": "10", "probability": 2})
    assert [(problem.path, problem.reason) for problem in error.problems] == [
        ("steps[0]", "timeout: expected a number of seconds above 0 and at most 3600, got the"
         " string '10'"),
        ("steps[0]", "probability: expected a number from 0 to 1, got 2"),
        ("steps[0]", "type: missing 'selector'"),
        ("steps[0]", "type: missing 'text'"),
        ("steps[0]", "type: unknown key 'x'; expected selector, text"),
    ]  # fmt: skip


def test_unknown_action_in_a_nested_step() -> None:
    error = step_error(
        {"goto": "https://x"},
        {"wait": 1},
        {"repeat": 2, "steps": [{"clik": "a.item"}]},
    )
    assert error.path == "steps[2].repeat.steps[0]"
    assert error.reason == f"unknown action 'clik'; expected one of {ACTION_LIST}"
    assert str(error) == (
        "browse.yaml: steps[2].repeat.steps[0]: unknown action 'clik'; "
        f"expected one of {ACTION_LIST}"
    )


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        (
            {"goto": "https://x", "click": "a"},
            "several actions in one step: goto, click; a step has exactly one",
        ),
        ({"timeout": 5}, f"missing action; expected one of {ACTION_LIST}"),
        ({"wait": [5, 2]}, "wait: range [5, 2] has min above max"),
        ({"wait": -1}, "wait: expected a number from 0 to 3600, or [min, max], got -1"),
        ({"wait": True}, "wait: expected a number from 0 to 3600, or [min, max], got true"),
        ({"wait": [1, 2, 3]}, "wait: a range is [min, max], got 3 items"),
        (
            {"scroll": 1.5},
            "scroll: expected a whole number from -100000 to 100000, or [min, max], got 1.5",
        ),
        ({"wait": 1, "probability": 1.5}, "probability: expected a number from 0 to 1, got 1.5"),
        ({"wait": 1, "probability": True}, "probability: expected a number from 0 to 1, got true"),
        (
            {"wait": 1, "timeout": 0},
            "timeout: expected a number of seconds above 0 and at most 3600, got 0",
        ),
        (
            {"wait": 1, "optional": "yes please"},
            "optional: expected true or false, got the string 'yes please'",
        ),
        (
            {"wait": 1, "retry": 3},
            "unknown modifier 'retry'; expected timeout, optional, probability",
        ),
        ({"wait": 1, "steps": [{"wait": 1}]}, "'steps' is only allowed on repeat"),
        ({"repeat": 2}, "repeat needs 'steps' (a non-empty list of steps)"),
        (
            {"repeat": 1001, "steps": [{"wait": 1}]},
            "repeat: expected a whole number from 0 to 1000, or [min, max], got 1001",
        ),
        ({"click": ""}, "click: expected a non-empty string, got the string ''"),
        ({"press": 1}, "press: expected a non-empty string, got 1 (quote it: '1')"),
        ({"type": "#q"}, "type: expected {selector: \u2026, text: \u2026}, got the string '#q'"),
        ({"type": {"selector": "#q"}}, "type: missing 'text'"),
        (
            {"type": {"selector": "#q", "text": "a", "x": 1}},
            "type: unknown key 'x'; expected selector, text",
        ),
        (
            {"type": {"selector": "#q", "text": None}},
            "type.text: expected a non-empty string, got nothing",
        ),
        ({"expect": {"text": "a", "url": "b"}}, "expect: give exactly one of selector, text, url"),
        ({"expect": {"title": "a"}}, "expect: unknown key 'title'; expected selector, text, url"),
        ({"expect": 3}, "expect: expected a selector, {text: \u2026} or {url: \u2026}, got 3"),
        (
            "goto",
            f"expected a mapping with one action ({', '.join(ACTIONS)}), got the string 'goto'",
        ),
    ],
)
def test_step_errors(step: object, reason: str) -> None:
    error = step_error({"wait": 0}, step)
    assert error.path == "steps[1]"
    assert error.reason == reason


def test_empty_repeat_steps_have_their_path() -> None:
    error = step_error({"wait": 0}, {"repeat": 2, "steps": []})
    assert error.path == "steps[1].repeat.steps"
    assert error.reason == "expected a non-empty list of steps, got an empty list"


@pytest.mark.parametrize(
    ("data", "path", "reason"),
    [
        ({"steps": []}, "steps", "expected a non-empty list of steps, got an empty list"),
        ({"steps": {"goto": "x"}}, "steps", "expected a non-empty list of steps, got a mapping"),
        ({"name": "browse"}, None, "missing 'steps' (a non-empty list of steps)"),
        (
            {"name": "other", "steps": [{"wait": 1}]},
            "name",
            "'other' does not match the file name; write 'browse' or leave it out",
        ),
        ({"name": 3, "steps": [{"wait": 1}]}, "name", "expected a string, got 3"),
        (
            {"description": [], "steps": [{"wait": 1}]},
            "description",
            "expected a string, got a list",
        ),
        (
            {"step": [{"wait": 1}]},
            None,
            "unknown top-level key 'step'; expected name, description, vars, steps",
        ),
        ([{"wait": 1}], None, "expected a mapping with 'steps' at the top, got a list"),
        ("hello", None, "expected a mapping with 'steps' at the top, got the string 'hello'"),
    ],
)
def test_top_level_errors(data: object, path: str | None, reason: str) -> None:
    error = error_of(data)
    assert (path, reason) in [(problem.path, problem.reason) for problem in error.problems]


def nested(depth: int) -> dict[str, Any]:
    step: dict[str, Any] = {"wait": 0}
    for _ in range(depth):
        step = {"repeat": 1, "steps": [step]}
    return step


def test_nesting_up_to_five_is_allowed() -> None:
    assert parse_steps(nested(5)).steps


def test_too_deep_nesting_is_refused() -> None:
    error = step_error(nested(6))
    deepest = ".repeat.steps[0]" * 5
    assert error.path == "steps[0]" + deepest
    assert error.reason == "repeat nested too deeply: at most 5 levels"


def test_too_many_steps_are_refused() -> None:
    assert parse_steps(*[{"wait": 0}] * 500).steps
    error = step_error(*[{"wait": 0}] * 501)
    assert error.path == "steps[500]"
    assert error.reason == "too many steps: at most 500 in a file"


def test_non_string_keys_are_named_in_errors() -> None:
    error = step_error({1: "x"})
    assert error.reason == f"unknown action 1; expected one of {ACTION_LIST}"


# --------------------------------------------------------------------------- files


def test_load_scenario_reads_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "feed.yaml", "steps:\n  - goto: '{home}'\n  - wait: [1, 2]\n")
    scenario = load_scenario(path)
    assert scenario.name == "feed"
    assert scenario.description == ""
    assert len(scenario.steps) == 2


def test_file_errors_carry_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "browse.yaml",
        "steps:\n  - goto: https://x\n  - repeat: 2\n    steps:\n      - clik: a.item\n",
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.line == 5
    assert str(caught.value) == (
        f"browse.yaml, line 5: steps[1].repeat.steps[0]: unknown action 'clik'; "
        f"expected one of {ACTION_LIST}"
    )


def test_invalid_yaml_gives_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "browse.yaml", "steps:\n  - goto: x\n  - wait: [1, 2\n  - press: End\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.line == 4
    assert caught.value.path is None
    assert caught.value.reason.startswith("invalid YAML: ")


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "browse.yaml", "steps:\n  - goto: a\n    goto: b\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.line == 3
    assert caught.value.reason == "invalid YAML: found duplicate key 'goto'"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, "browse.yaml", text))
    assert caught.value.reason == "the file is empty; a scenario needs 'steps'"


def test_oversize_file_is_refused(tmp_path: Path) -> None:
    text = "steps:\n" + "  - wait: 0\n" * 30_000
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, "browse.yaml", text))
    assert caught.value.reason == "file too large: at most 256 KiB"


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "browse.yaml"
    path.write_bytes(b"steps:\n  - goto: caf\xe9\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.reason == "not UTF-8 text (byte 0xe9); save the file as UTF-8"
    assert caught.value.line == 2


def test_deeply_nested_yaml_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "browse.yaml", "steps: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.reason.startswith("invalid YAML")


def test_file_name_must_be_a_usable_name(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, "my scenario.yaml", "steps: [{wait: 0}]\n"))
    assert "file name" in caught.value.reason


def test_load_scenarios_splits_valid_and_invalid(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", "steps: [{wait: 0}]\n")
    write(tmp_path, "other.yml", "name: other\nsteps: [{press: End}]\n")
    write(tmp_path, "bad.yaml", "steps: [{clik: a}]\n")
    write(tmp_path, "twin.yaml", "steps: [{wait: 0}]\n")
    write(tmp_path, "twin.yml", "steps: [{wait: 0}]\n")
    write(tmp_path, "notes.txt", "not a scenario\n")
    write(tmp_path, ".hidden.yaml", "garbage: [\n")
    catalog = load_scenarios(tmp_path)
    assert sorted(catalog.valid) == ["good", "other"]
    assert sorted(catalog.invalid) == ["bad", "twin"]
    assert catalog.invalid["bad"].path == "steps[0]"
    assert catalog.invalid["bad"].source == "bad.yaml"
    assert "same scenario name" in catalog.invalid["twin"].reason


def test_load_scenarios_missing_directory(tmp_path: Path) -> None:
    catalog = load_scenarios(tmp_path / "nowhere")
    assert catalog.valid == {}
    assert catalog.invalid == {}


def test_repo_scenarios_all_parse() -> None:
    catalog = load_scenarios(REPO_SCENARIOS)
    assert catalog.invalid == {}
    assert "browse" in catalog.valid


def test_browse_example_shows_every_action_and_modifier() -> None:
    scenario = load_scenario(REPO_SCENARIOS / "browse.yaml")
    text = (REPO_SCENARIOS / "browse.yaml").read_text(encoding="utf-8")
    for word in (*ACTIONS, *MODIFIERS):
        assert f"{word}:" in text
    assert "home" in scenario.vars
    assert "home" in scenario.variables_used()


# --------------------------------------------------------------------------- fuzzing

_KEYS = st.sampled_from(
    [*ACTIONS, *MODIFIERS, "steps", "name", "vars", "description", "selector", "text", "url"]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["browse", "{home}", "{{x}}", "{", "a.item", "End"])
)
_DATA = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(_KEYS | st.text(max_size=6) | st.integers(), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_DATA)
def test_arbitrary_data_gives_a_scenario_or_a_scenario_error(data: object) -> None:
    try:
        result = parse(data)
    except ScenarioError as error:
        lines = str(error).splitlines()
        assert len(lines) == len(error.problems) >= 1
        assert all(line.startswith("browse.yaml: ") for line in lines)
    else:
        assert isinstance(result, Scenario)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["steps"]), _DATA, min_size=1))
def test_arbitrary_steps_give_a_scenario_or_a_scenario_error(data: dict[str, Any]) -> None:
    try:
        result = parse(data)
    except ScenarioError:
        return
    assert isinstance(result, Scenario)
    result.variables_used()


# --------------------------------------------------------------------------- logged_in


def test_logged_in_check_is_parsed() -> None:
    steps = [{"goto": "{home}/feed"}]
    by_selector = parse({"logged_in": {"selector": "#account"}, "steps": steps}).logged_in
    assert by_selector == LoggedInCheck(selector="#account")
    assert by_selector.timeout == LOGGED_IN_TIMEOUT_SECONDS == 10.0
    assert by_selector.path == "logged_in"
    assert by_selector.label == "expect #account"
    by_url = parse({"logged_in": {"url": "/dashboard", "timeout": 3}, "steps": steps}).logged_in
    assert by_url == LoggedInCheck(url="/dashboard", timeout=3.0)
    assert by_url.label == "expect url '/dashboard'"
    assert parse({"steps": steps}).logged_in is None


def test_logged_in_variables_are_used_variables() -> None:
    scenario = parse(
        {"logged_in": {"selector": "#user-{account}"}, "steps": [{"goto": "{home}/feed"}]}
    )
    assert scenario.variables_used() == {"home", "account"}


def test_logged_in_may_follow_a_nested_goto() -> None:
    scenario = parse(
        {
            "logged_in": {"url": "/feed"},
            "steps": [{"wait": 0}, {"repeat": 2, "steps": [{"goto": "https://x/feed"}]}],
        }
    )
    assert scenario.logged_in == LoggedInCheck(url="/feed")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("#account", "expected {selector: …} or {url: …}, got the string '#account'"),
        (None, "expected {selector: …} or {url: …}, got nothing"),
        ({}, "give exactly one of selector, url"),
        ({"selector": "#a", "url": "/b"}, "give exactly one of selector, url"),
        ({"timeout": 5}, "give exactly one of selector, url"),
        ({"text": "Hello"}, "unknown key 'text'; expected selector, url, timeout"),
        ({"selector": ""}, "selector: expected a non-empty string, got the string ''"),
        ({"url": 404}, "url: expected a non-empty string, got 404 (quote it: '404')"),
        ({"selector": "#{1x}"}, "selector: invalid variable name {1x}"),
        (
            {"selector": "#a", "timeout": 0},
            "timeout: expected a number of seconds above 0 and at most 3600, got 0",
        ),
        (
            {"url": "/a", "timeout": "10"},
            "timeout: expected a number of seconds above 0 and at most 3600, got the string '10'",
        ),
    ],
)
def test_logged_in_errors(value: object, reason: str) -> None:
    error = error_of({"logged_in": value, "steps": [{"goto": "https://x/feed"}]})
    assert error.path == "logged_in"
    assert error.reason.startswith(reason), error.reason


def test_logged_in_needs_a_goto_step() -> None:
    error = error_of({"logged_in": {"selector": "#account"}, "steps": [{"wait": 1}]})
    assert (error.path, error.reason) == (
        "logged_in",
        "the check runs after the first goto step, and this scenario has none",
    )


def test_logged_in_errors_carry_the_line(tmp_path: Path) -> None:
    text = "steps:\n  - goto: https://x/feed\nlogged_in:\n  selector: '#a'\n  wait: 3\n"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, "login.yaml", text))
    assert str(caught.value) == (
        "login.yaml, line 5: logged_in: unknown key 'wait'; expected selector, url, timeout"
    )


def test_logged_in_in_a_file(tmp_path: Path) -> None:
    text = 'logged_in: {url: "/dashboard"}\nsteps:\n  - goto: "{home}/dashboard"\n'
    scenario = load_scenario(write(tmp_path, "login.yaml", text))
    assert scenario.logged_in == LoggedInCheck(url="/dashboard")
