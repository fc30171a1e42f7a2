"""The profiles file: what is accepted, and clear refusals for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from warmup.checks import check_configuration
from warmup.profiles import MAX_PROBLEMS, ProfilesError, load_profiles

NAME = "a name of letters, digits, _ and - (at most 32 characters)"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profiles.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_profile_becomes_context_options(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
profiles:
  - name: alice
    tags: [eu, fresh]
    vars: {home: "https://example.org", port: 8080}
    storage_state: seeds/alice.json
    proxy: {server: "http://127.0.0.1:3128", username: u, password: p}
    locale: en-US
    timezone: Europe/Berlin
    viewport: {width: 1280, height: 800}
""",
    )
    alice = load_profiles(path)["alice"]
    assert alice.tags == ("eu", "fresh")
    assert alice.vars == {"home": "https://example.org", "port": "8080"}
    assert alice.storage_state == tmp_path / "seeds/alice.json"
    assert alice.context_options() == {
        "locale": "en-US",
        "timezone_id": "Europe/Berlin",
        "viewport": {"width": 1280, "height": 800},
        "proxy": {"server": "http://127.0.0.1:3128", "username": "u", "password": "p"},
    }


def test_missing_or_empty_file_means_no_profiles(tmp_path: Path) -> None:
    assert load_profiles(tmp_path / "absent.yaml") == {}
    assert load_profiles(write(tmp_path, "")) == {}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "profiles: [{name: 'bad name'}]",
            f"profiles[0].name: expected {NAME}, got the string 'bad name'",
        ),
        ("profiles: [{name: 5}]", f"profiles[0].name: expected {NAME}, got 5"),
        ("profiles: [{tags: [a]}]", "profiles.yaml: profiles[0]: missing 'name'"),
        (
            "profiles: [{name: a, colour: red}]",
            "profiles[0]: unknown key 'colour'; expected name, tags, vars, storage_state, proxy,"
            " locale, timezone, viewport",
        ),
        ("profiles: [{name: a}, {name: a}]", "profiles[1]: duplicate name 'a'"),
        ("profiles: [{name: a, tags: 5}]", "profiles[0].tags: expected a list of strings, got 5"),
        (
            "profiles: [{name: a, tags: [x, []]}]",
            "profiles[0].tags[1]: expected a string, got a list",
        ),
        (
            "profiles: [{name: a, vars: {home: [1]}}]",
            "profiles[0].vars.home: expected a string or a number, got a list",
        ),
        (
            "profiles: [{name: a, vars: {1: x}}]",
            "profiles[0].vars: expected a string as the name, got 1",
        ),
        (
            "profiles: [{name: a, viewport: {width: 10, height: 800}}]",
            "profiles[0].viewport.width: expected a whole number from 200 to 8000, got 10",
        ),
        (
            "profiles: [{name: a, viewport: 1280x800}]",
            "profiles[0].viewport: expected a mapping with width, height, got the string"
            " '1280x800'",
        ),
        (
            "profiles: [{name: a, proxy: {host: x}}]",
            "profiles[0].proxy: unknown key 'host'; expected server, username, password",
        ),
        ("profiles: [{name: a, proxy: {}}]", "profiles[0].proxy: missing 'server'"),
        (
            "profiles: [alice]",
            "profiles[0]: expected a mapping with the profile's name and settings, got the string"
            " 'alice'",
        ),
        (
            "profiles: {name: a}",
            "profiles.yaml: profiles: expected a list of profiles, got a mapping",
        ),
        ("profile: []", "profiles.yaml: unknown top-level key 'profile'; expected profiles"),
        (
            "profiles: [\n  - name: a\n bad",
            "profiles.yaml, line 2: invalid YAML: expected the node",
        ),
        (
            "- just a list",
            "profiles.yaml: expected a mapping with 'profiles' at the top, got a list",
        ),
    ],
)
def test_invalid_files_are_refused_with_where_and_why(
    tmp_path: Path, text: str, reason: str
) -> None:
    with pytest.raises(ProfilesError) as raised:
        load_profiles(write(tmp_path, text))
    assert reason in str(raised.value)
    assert str(raised.value).startswith("profiles.yaml")


def test_every_problem_of_the_file_is_named_in_the_order_of_the_entries(tmp_path: Path) -> None:
    text = """
profiles:
  - name: alice
  - name: 'bad name'
  - {name: bob, colour: red}
  - name: alice
  - {name: carol, viewport: {width: 10, height: 800}}
  - name: bob
"""
    with pytest.raises(ProfilesError) as raised:
        load_profiles(write(tmp_path, text))
    lines = str(raised.value).splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "profiles[1].name",
        "profiles[2]",
        "profiles[3]",
        "profiles[4].viewport.width",
        "profiles[5]",
    ]
    assert "unknown key 'colour'" in lines[1]
    assert "duplicate name 'alice'" in lines[2]
    assert "duplicate name 'bob'" in lines[4]
    assert all(line.startswith("profiles.yaml: ") for line in lines)
    assert raised.value.problems == tuple(lines)


def test_a_file_with_many_problems_names_the_first_and_counts_the_rest(tmp_path: Path) -> None:
    entries = "".join(f"  - name: 'bad name {index}'\n" for index in range(MAX_PROBLEMS + 7))
    with pytest.raises(ProfilesError) as raised:
        load_profiles(write(tmp_path, f"profiles:\n{entries}"))
    lines = str(raised.value).splitlines()
    assert len(lines) == MAX_PROBLEMS + 1
    assert lines[0].startswith(f"profiles.yaml: profiles[0].name: expected {NAME}")
    assert lines[-1] == "profiles.yaml: and 7 more problems"
    assert len(raised.value.problems) == MAX_PROBLEMS + 7


def test_a_staged_copy_is_read_as_the_file_it_is_to_become(tmp_path: Path) -> None:
    staged = tmp_path / ".upload-1" / "new.yaml"
    staged.parent.mkdir()
    staged.write_text("profiles: [{name: a, storage_state: seeds/a.json}, {name: a}]")
    target = tmp_path / "profiles.yaml"
    with pytest.raises(ProfilesError, match=r"^profiles\.yaml: profiles\[1\]: duplicate name"):
        load_profiles(staged, as_file=target)
    staged.write_text("profiles: [{name: a, storage_state: seeds/a.json}]")
    assert load_profiles(staged, as_file=target)["a"].storage_state == tmp_path / "seeds/a.json"


def test_check_counts_each_problem_of_the_profiles_file(tmp_path: Path) -> None:
    path = write(tmp_path, "profiles: [{name: a}, {name: 'b c'}, {name: a}]")
    report = check_configuration(path, tmp_path / "scenarios")
    assert report.errors == [
        f"profiles.yaml: profiles[1].name: expected {NAME}, got the string 'b c'",
        "profiles.yaml: profiles[2]: duplicate name 'a'",
    ]
