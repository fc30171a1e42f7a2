"""The JSON Schema of a scenario file: shipped as `python -m bot schema` prints it, plain JSON
Schema an editor's YAML language server can use, and in agreement with the loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator

from tests.bot_process import REPO_ROOT
from tests.test_cli import explain, run_cli
from warmup.scenario import (
    ScenarioError,
    load_scenario,
    parse_scenario,
    scenario_json_schema,
    scenario_schema_text,
)

SHIPPED = REPO_ROOT / "scenarios" / "scenario.schema.json"
EXAMPLES = sorted([*REPO_ROOT.glob("scenarios/*.yaml"), *REPO_ROOT.glob("examples/*.yaml")])
REFRESH = "run `python -m bot schema > scenarios/scenario.schema.json`"
# What draft-07 and 2020-12 share (with $defs, which draft-07 tools resolve as a plain
# JSON pointer): redhat's yaml-language-server knows all of it.
PLAIN_KEYWORDS = {
    "$schema", "$defs", "$ref", "title", "description", "default", "type", "properties",
    "additionalProperties", "required", "minProperties", "maxProperties", "items",
    "minItems", "maxItems", "minLength", "minimum", "maximum", "exclusiveMinimum", "oneOf",
    "anyOf",
}  # fmt: skip


def validator() -> Draft202012Validator:
    return Draft202012Validator(scenario_json_schema())


def keywords(schema: Any) -> set[str]:
    """Every keyword the schema uses (property names and $defs names are not keywords)."""
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in ("properties", "$defs"):
                for inner in value.values():
                    found |= keywords(inner)
            else:
                found |= keywords(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= keywords(item)
    return found


def test_the_shipped_schema_is_the_generated_one() -> None:
    shipped = SHIPPED.read_text(encoding="utf-8")
    assert shipped == scenario_schema_text(), f"{SHIPPED.name} is out of date: {REFRESH}"


def test_python_m_bot_schema_prints_it_without_settings(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "schema")
    assert result.returncode == 0, explain(result)
    assert result.stdout == SHIPPED.read_text(encoding="utf-8"), f"{REFRESH}{explain(result)}"


def test_the_schema_is_plain_json_schema_with_help_for_editors() -> None:
    schema = scenario_json_schema()
    Draft202012Validator.check_schema(schema)
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "warmup-bot scenario"
    assert keywords(schema) <= PLAIN_KEYWORDS, keywords(schema) - PLAIN_KEYWORDS
    step = schema["$defs"]["WaitStep"]
    assert step["description"].startswith("Wait")
    assert all("description" in value for value in step["properties"].values())
    assert all("description" in value for value in schema["properties"].values())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_example_is_valid_for_the_schema_and_the_loader(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema="), "the editor modeline"
    modeline = text.splitlines()[0].split("$schema=", 1)[1]
    assert (path.parent / modeline).resolve() == SHIPPED
    errors = [error.message for error in validator().iter_errors(yaml.safe_load(text))]
    assert errors == []
    assert load_scenario(path).steps


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"steps": [{"clik": "a.item"}]}, "unknown action 'clik'"),
        ({"steps": [{"goto": "https://x", "click": "a"}]}, "several actions in one step"),
        ({"steps": [{"wait": "3"}]}, "wait: expected a number"),
        ({"steps": [{"wait": 1, "retry": 3}]}, "unknown modifier 'retry'"),
        ({"steps": [{"repeat": [1, 2, 3], "steps": [{"wait": 1}]}]}, "a range is [min, max]"),
        ({"steps": [{"expect": {"text": "a", "url": "b"}}]}, "give exactly one of"),
        ({"steps": []}, "expected a non-empty list of steps"),
        ({"step": [{"wait": 1}]}, "unknown top-level key 'step'"),
        ({"logged_in": {"selector": "#a", "url": "/b"}, "steps": [{"goto": "x"}]}, "exactly one"),
    ],
)
def test_broken_documents_are_refused_by_the_schema_and_the_loader(
    document: dict[str, Any], problem: str
) -> None:
    assert not validator().is_valid(document)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(document, source="broken.yaml", default_name="broken")
    assert problem in str(caught.value)


def test_the_schema_is_json_with_a_trailing_newline() -> None:
    text = scenario_schema_text()
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert json.loads(text) == scenario_json_schema()
