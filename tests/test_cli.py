"""`python -m bot check` and `python -m bot try`, run as an operator runs them: a subprocess
with a clean environment, in a folder of its own, without Telegram and without internet."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.bot_process import REPO_ROOT, SETTINGS_VARIABLES

PROFILES = """
profiles:
  - name: alice
    vars: {home: "https://a.example"}
  - name: bob
    vars: {home: "https://b.example", query: cats}
"""
QUICK = """
steps:
  - goto: "{demo_site}/"
  - expect: {text: "Welcome"}
"""


def run_cli(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot …` in `root`, with settings from nowhere but the ones given here."""
    environment = {
        name: value for name, value in os.environ.items() if name.upper() not in SETTINGS_VARIABLES
    }
    environment.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "DATA_DIR": "data",
            "DATABASE_URL": "sqlite://data/warmup.sqlite3",
            "PROFILES_FILE": "profiles.yaml",
            "SCENARIOS_DIR": "scenarios",
            "MAX_ATTEMPTS": "1",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=90,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- check


def test_check_passes_good_files_with_a_summary(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "profiles.yaml": PROFILES,
            "scenarios/browse.yaml": (REPO_ROOT / "scenarios" / "browse.yaml").read_text(),
            "scenarios/quick.yaml": 'steps:\n  - goto: "{home}/{profile}"\n',
        },
    )
    result = run_cli(tmp_path, "check")
    assert result.returncode == 0, explain(result)
    assert result.stdout.strip() == (
        "settings ok; 2 profiles in profiles.yaml; 2 scenarios in scenarios/ (browse, quick)"
    ), explain(result)
    assert not (tmp_path / "data").exists(), "check touches no database"


def test_check_passes_the_shipped_example(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "check",
        PROFILES_FILE=str(REPO_ROOT / "profiles.example.yaml"),
        SCENARIOS_DIR=str(REPO_ROOT / "scenarios"),
    )
    assert result.returncode == 0, explain(result)
    assert result.stdout.startswith("settings ok; 2 profiles in profiles.example.yaml"), explain(
        result
    )


def test_check_prints_every_problem_with_file_line_and_step(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "profiles.yaml": 'profiles:\n  - name: alice\n    vars: {home: "x"\n',
            "scenarios/typo.yaml": (
                "steps:\n"
                '  - goto: "https://example.org"\n'
                "  - repeat: 2\n"
                "    steps:\n"
                '      - clik: "a.item"\n'
            ),
            "scenarios/indent.yaml": 'steps:\n  - goto: "https://example.org"\n   - wait: 2\n',
            "scenarios/range.yaml": "steps:\n  - wait: 1\n  - scroll: [900, 300]\n",
            "scenarios/fine.yaml": "steps:\n  - wait: 1\n",
        },
    )
    result = run_cli(tmp_path, "check")
    assert result.returncode == 1, explain(result)
    lines = result.stdout.splitlines()
    assert lines[-1] == "4 problems found", explain(result)
    expected = [
        "error: profiles.yaml, line 4: ",
        "error: scenarios/indent.yaml, line 3: invalid YAML: ",
        "error: scenarios/range.yaml, line 3: steps[1]: scroll: range [900, 300] has min above max",
        "error: scenarios/typo.yaml, line 5: steps[1].repeat.steps[0]: unknown action 'clik'",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in lines), f"{start!r}{explain(result)}"


def test_check_lists_every_problem_of_a_scenario_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "scenarios/three.yaml": (
                "steps:\n"
                "  - goto: https://example.org\n"
                "  - wait: -1\n"
                "  - clik: a.item\n"
                "  - scroll: 1.5\n"
            ),
            "scenarios/many.yaml": "steps:\n" + "  - wait: -1\n" * 23,
        },
    )
    result = run_cli(tmp_path, "check")
    assert result.returncode == 1, explain(result)
    lines = result.stdout.splitlines()
    assert [line for line in lines if "three.yaml" in line] == [
        "error: scenarios/three.yaml, line 3: steps[1]: wait: expected a number from 0 to 3600,"
        " or [min, max], got -1",
        "error: scenarios/three.yaml, line 4: steps[2]: unknown action 'clik'; expected one of"
        " goto, wait, scroll, click, type, press, expect, repeat",
        "error: scenarios/three.yaml, line 5: steps[3]: scroll: expected a whole number from"
        " -100000 to 100000, or [min, max], got 1.5",
    ], explain(result)
    many = [line for line in lines if "many.yaml" in line]
    assert len(many) == 21, explain(result)
    assert many[0] == (
        "error: scenarios/many.yaml, line 2: steps[0]: wait: expected a number from 0 to 3600,"
        " or [min, max], got -1"
    )
    assert many[-1] == "error: scenarios/many.yaml: and 3 more problems", explain(result)
    assert lines[-1] == "26 problems found", explain(result)


def test_check_reports_missing_variables_and_bad_seed_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "profiles.yaml": PROFILES
            + "    storage_state: seeds/bob.json\n"
            + "  - name: carol\n"
            + "    vars: {home: x, query: y}\n"
            + "    storage_state: seeds/none.json\n",
            "seeds/bob.json": '{"cookies": "not a list"}',
            "scenarios/search.yaml": 'steps:\n  - goto: "{home}/?q={query}"\n',
        },
    )
    result = run_cli(tmp_path, "check")
    assert result.returncode == 1, explain(result)
    assert result.stdout.splitlines() == [
        "error: profiles.yaml: profile 'bob': storage_state seeds/bob.json: "
        "not a storage state: cookies is not a list",
        "error: profiles.yaml: profile 'carol': storage_state seeds/none.json: no such file",
        "error: scenarios/search.yaml: scenario 'search' uses {query}, which profile 'alice' "
        "does not define: add it to the profile's or the scenario's vars",
        "3 problems found",
    ], explain(result)


def test_check_without_profiles_file_warns_and_passes(tmp_path: Path) -> None:
    write(tmp_path, {"scenarios/quick.yaml": QUICK})
    result = run_cli(tmp_path, "check")
    assert result.returncode == 0, explain(result)
    assert result.stdout.splitlines()[0].startswith("warning: profiles.yaml: no such file")


def test_check_names_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "check", MAX_CONCURRENCY="zero")
    assert result.returncode == 1, explain(result)
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: MAX_CONCURRENCY: "), explain(result)


# --------------------------------------------------------------------------- try


def test_try_demo_plays_the_demo_site_and_keeps_the_state(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "try", "demo", "--profile", "demo")
    assert result.returncode == 0, explain(result)
    out = result.stdout
    assert "profile 'demo' is not in profiles.yaml: playing it as an ad-hoc profile" in out
    assert "1. steps[0] · goto {demo_site}/" in out, explain(result)
    assert "steps[3].repeat.steps[0] · scroll" in out, explain(result)
    assert "result: succeeded, " in out, explain(result)

    # The demo site counts visits in a cookie: it was visited, and the state was kept.
    state = json.loads((tmp_path / "data" / "states" / "demo.json").read_text())
    cookies = {cookie["name"]: cookie for cookie in state["cookies"]}
    assert int(cookies["visits"]["value"]) >= 1 and cookies["visits"]["domain"] == "127.0.0.1"
    assert "storage state: data/states/demo.json" in out

    with sqlite3.connect(tmp_path / "data" / "warmup.sqlite3") as database:
        task = database.execute("SELECT chat_id, scenario, status FROM warmup_task").fetchall()
        run = database.execute("SELECT status FROM warmup_run").fetchall()
    assert task == [(0, "demo", "completed")] and run == [("succeeded",)]


def test_try_a_failing_scenario_shows_the_step_error_and_screenshot(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><title>Broken</title><p>No content here.</p>")
    write(
        tmp_path,
        {
            "scenarios/broken.yaml": (
                f'steps:\n  - goto: "{page.as_uri()}"\n  - expect: "#content"\n    timeout: 1\n'
            )
        },
    )
    result = run_cli(tmp_path, "try", "broken", "--profile", "alice")
    assert result.returncode == 1, explain(result)
    lines = result.stdout.splitlines()
    assert "result: failed at steps[1] (expect #content) after " in result.stdout, explain(result)
    assert "error: timed out after 1 s waiting for '#content' to be visible" in lines
    [screenshot] = [line.removeprefix("screenshot: ") for line in lines if "screenshot:" in line]
    assert (tmp_path / screenshot).is_file(), explain(result)


def test_try_with_trace_writes_a_playwright_trace(tmp_path: Path) -> None:
    write(tmp_path, {"scenarios/quick.yaml": QUICK})
    result = run_cli(tmp_path, "try", "quick", "--profile", "alice", "--trace", "out.zip")
    assert result.returncode == 0, explain(result)
    assert "trace: out.zip" in result.stdout, explain(result)
    with zipfile.ZipFile(tmp_path / "out.zip") as trace:
        names = trace.namelist()
    assert "trace.trace" in names and "trace.network" in names, names


def test_try_refuses_an_unknown_scenario_or_a_bad_profile_name(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "try", "nope", "--profile", "alice")
    assert result.returncode == 2, explain(result)
    assert result.stderr.strip() == (
        "warmup-bot: unknown scenario 'nope': not in scenarios/ nor "
        f"{REPO_ROOT / 'examples'}/; available: demo"
    ), explain(result)

    result = run_cli(tmp_path, "try", "demo", "--profile", "no such name")
    assert result.returncode == 2, explain(result)
    assert "'no such name' cannot be a profile name" in result.stderr, explain(result)
