"""Both YAML files are parsed by libyaml, and say the same as PyYAML's own parser when refused.

libyaml words its problems differently ("could not find expected ':'" where PyYAML says
"mapping values are not allowed here"): a refused file is parsed again by the pure-Python
loader, so the messages stay the ones people know. Lines of valid files come from libyaml's
marks, which count lines the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import warmup.profiles
import warmup.scenario
from warmup.profiles import ProfilesError, load_profiles
from warmup.scenario import ScenarioError, load_scenario

BROKEN_PROFILES = [
    b"profiles: [\n  - name: a\n bad",
    b"profiles: [{name: a}\n",
    b"profiles:\n  - name: a\n    tags: x: y\n",
    b"profiles:\n  - name: 'a\n",
    b"profiles:\n- name: a\n - name: b\n",
    b"profiles: []\nprofiles: [{name: a}]",
    b"profiles:\n  - name: a\n    name: b\n",
    b"profiles: [{name: a, tags: ['\x07']}]",
    b"profiles: [*nowhere]",
    b"profiles: &x [*x]",
    b"profiles: " + b"[" * 5000,
    b"profiles:\n" + b"".join(b"  " * depth + b"a:\n" for depth in range(1200)),
    b"profiles: [{name: a, tags: [2001-13-45]}]",
    b'profiles: [{name: a, tags: ["\\ud800"]}]',
    b"!!python/object:os.system {}",
    b"--- a\n--- b\n",
    b"profiles: [{name: a, tags: [!!int '']}]",
]

BROKEN_SCENARIOS = [
    "steps: [\n  - goto: x\n bad",
    "steps:\n  - goto: x\n  - wait: 2\n  - wait: -1\n",
    "steps:\n  - goto: x\n    goto: y\n",
    "steps:\n  - goto: x\n  -  click: a: b\n",
    "vars: {a: 1}\nsteps:\n  - repeat: {times: 2, steps: [{scroll: 1.5}]}\n",
    "steps:\r\n  - goto: x\r\n  - nothing: 1\r\n",
    "steps:\n  - goto: x\n  - wait: !!float ''\n",
    "description: 'a\nsteps: []\n",
]


def profiles_message(path: Path) -> str:
    with pytest.raises(ProfilesError) as raised:
        load_profiles(path)
    return str(raised.value)


def scenario_message(path: Path) -> str:
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    return str(raised.value)


@pytest.mark.parametrize("content", BROKEN_PROFILES)
def test_a_refused_profiles_file_reads_the_same_as_with_pure_python_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes
) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_bytes(content)
    with_libyaml = profiles_message(path)
    monkeypatch.setattr(warmup.profiles, "_FastUniqueKeyLoader", None)
    assert profiles_message(path) == with_libyaml


@pytest.mark.parametrize("text", BROKEN_SCENARIOS)
def test_a_refused_scenario_reads_the_same_as_with_pure_python_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    path = tmp_path / "browse.yaml"
    path.write_bytes(text.encode())
    with_libyaml = scenario_message(path)
    monkeypatch.setattr(warmup.scenario, "_FastLineLoader", None)
    assert scenario_message(path) == with_libyaml


@pytest.mark.parametrize("tagged", ["!!int ''", "!!float _", "!!bool maybe", "!!timestamp x"])
def test_a_value_that_does_not_fit_its_tag_is_refused_like_any_bad_yaml(
    tmp_path: Path, tagged: str
) -> None:
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(f"profiles: [{{name: a, tags: [{tagged}]}}]")
    assert profiles_message(profiles) == (
        "profiles.yaml: invalid YAML: a value does not fit its tag (like !!int)"
    )
    scenario = tmp_path / "browse.yaml"
    scenario.write_text(f"steps:\n  - wait: {tagged}\n")
    assert scenario_message(scenario) == (
        "browse.yaml: invalid YAML: a value does not fit its tag (like !!int)"
    )


def test_valid_files_are_parsed_by_libyaml_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert yaml.__with_libyaml__, "PyYAML without libyaml: every file parses 4x slower"
    loaders: list[type[Any]] = []
    real_load = yaml.load

    def spy(stream: Any, Loader: type[Any]) -> Any:
        loaders.append(Loader)
        return real_load(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "load", spy)
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text("profiles:\n  - name: alice\n    tags: [eu]\n")
    scenario = tmp_path / "browse.yaml"
    scenario.write_text("steps:\n  - goto: https://example.org\n  - wait: [1, 2]\n")

    assert list(load_profiles(profiles)) == ["alice"]
    assert load_scenario(scenario).name == "browse"
    assert len(loaders) == 2, "parsed twice"
    assert all(issubclass(loader, yaml.CSafeLoader) for loader in loaders)
