"""The profiles file: what is accepted, and clear refusals for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from warmup.profiles import ProfilesError, load_profiles


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
        ("profiles: [{name: 'bad name'}]", "profiles[0].name: String should match pattern"),
        ("profiles: [{name: a, colour: red}]", "profiles[0].colour: Extra inputs"),
        ("profiles: [{name: a}, {name: a}]", "profiles[1]: duplicate name 'a'"),
        ("profiles: [{name: a, tags: 5}]", "profiles[0].tags"),
        ("profiles: [{name: a, viewport: {width: 10, height: 800}}]", "viewport.width"),
        ("profiles: {name: a}", "profiles: Input should be a valid list"),
        ("profiles: [\n  - name: a\n bad", "profiles.yaml, line"),
        ("- just a list", "profiles.yaml: Input should be"),
    ],
)
def test_invalid_files_are_refused_with_where_and_why(
    tmp_path: Path, text: str, reason: str
) -> None:
    with pytest.raises(ProfilesError) as raised:
        load_profiles(write(tmp_path, text))
    assert reason in str(raised.value)
    assert str(raised.value).startswith("profiles.yaml")
