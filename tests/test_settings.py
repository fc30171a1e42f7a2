"""Settings: defaults, parsing, and one clear line for a bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_follow_the_spec() -> None:
    settings = load_settings(_env_file=None)
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.admin_ids == frozenset()
    assert settings.database_url == "sqlite://data/warmup.sqlite3"
    assert (settings.max_concurrency, settings.run_timeout, settings.max_attempts) == (4, 600, 2)
    assert settings.headless is True
    assert settings.browser_executable == "auto"


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "1, 2,3")
    monkeypatch.setenv("ALERT_CHAT_ID", "-1001")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081/")
    settings = load_settings(_env_file=None)
    assert settings.admin_ids == frozenset({1, 2, 3})
    assert settings.alert_chat_id == -1001
    assert settings.telegram_api_url == "http://127.0.0.1:8081"


def test_performance_settings_take_their_values(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings(_env_file=None)
    assert (defaults.trace, defaults.browser_recycle_after, defaults.browser_nice) == (
        "on-first-retry",
        200,
        10,
    )
    monkeypatch.setenv("MAX_CONCURRENCY", " Auto ")
    monkeypatch.setenv("TRACE", "retain-on-failure")
    monkeypatch.setenv("BROWSER_MEMORY_LIMIT_MB", "1500")
    settings = load_settings(_env_file=None)
    assert settings.max_concurrency == "auto"
    assert settings.trace == "retain-on-failure"
    assert settings.browser_memory_limit_mb == 1500
    monkeypatch.setenv("MAX_CONCURRENCY", "256")
    assert load_settings(_env_file=None).max_concurrency == 256


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAX_CONCURRENCY", "0"),
        ("MAX_CONCURRENCY", "many"),
        ("MAX_CONCURRENCY", "257"),
        ("TRACE", "always"),
        ("BROWSER_NICE", "20"),
        ("BROWSER_RECYCLE_AFTER", "-1"),
        ("RUN_TIMEOUT", "-1"),
        ("ADMIN_IDS", "1,x"),
        ("TELEGRAM_API_URL", "ftp://x"),
        ("HEADLESS", "perhaps"),
    ],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    assert str(raised.value).startswith(f"{variable}: ")
    assert "\n" not in str(raised.value)


def run_bot(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in {"BOT_TOKEN"}}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_a_token_the_bot_exits_at_once_saying_what_to_do(tmp_path: Path) -> None:
    result = run_bot({}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "warmup-bot: BOT_TOKEN is not set: create a bot with @BotFather and put its token "
        "in .env (see .env.example)"
    ]


def test_a_bad_setting_stops_the_start_with_one_line(tmp_path: Path) -> None:
    result = run_bot({"BOT_TOKEN": "1:x", "MAX_ATTEMPTS": "zero"}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "warmup-bot: MAX_ATTEMPTS: Input should be a valid integer, unable to parse string as an "
        "integer"
    ]
