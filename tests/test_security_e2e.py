"""Secrets stay secret, files are the owner's, and only admins are heard."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from bot.logs import NEVER_BELOW_INFO, configure_logging
from tests.conftest import ADMIN_ID, CHAT_ID, StartBot
from tests.site import SESSION_SECRET

PROXY_PASSWORD = "S3cretProxyPassw0rd"

LOGIN_THEN_FAIL = """
steps:
  - goto: "{site}/login?p={profile}"
  - expect: "#welcome"
  - goto: "{site}/{page}?p={profile}"
"""


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything the bot logs at DEBUG, as `python -m bot` with LOG_LEVEL=DEBUG sets it up."""
    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    yield caplog
    for name in (*NEVER_BELOW_INFO, "aiogram.event"):
        logging.getLogger(name).setLevel(logging.NOTSET)


async def test_token_proxy_password_and_cookies_never_reach_logs_or_chat(
    start_bot: StartBot, debug_logs: pytest.LogCaptureFixture
) -> None:
    proxy = {"server": "http://127.0.0.1:9", "username": "u", "password": PROXY_PASSWORD}
    harness = await start_bot(
        profiles=[
            {"name": "good", "vars": {"page": "feed"}},
            {"name": "bad", "vars": {"page": "feed"}, "proxy": proxy},
        ],
        scenarios={"login": LOGIN_THEN_FAIL},
    )
    chat = harness.chat
    await chat.send("/warmup all login")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "Completed", timeout=60)
    failure = await chat.wait_for_message(lambda m: m.text.startswith("❌"), timeout=30)
    await chat.press(progress, "Details")
    for command in ("/profiles", "/status 1", "/tasks", "/warmup nobody login"):
        await chat.send(command)
        await chat.wait_for_reply()

    state = (harness.settings.states_dir / "good.json").read_text()
    assert f"{SESSION_SECRET}-good" in state, (
        "the cookie must be saved, or this test proves nothing"
    )
    assert "ERR_PROXY_CONNECTION_FAILED" in failure.text
    secrets = (harness.fake.token, PROXY_PASSWORD, SESSION_SECRET)
    logged = "\n".join(
        record.getMessage() + (record.exc_text or "")
        for record in debug_logs.records
        if not record.name.startswith("aiohttp")  # the test servers' own access logs
    )
    assert "polling for updates" in logged, "the logs must have been captured"
    assert any(record.levelno == logging.DEBUG for record in debug_logs.records)
    said = "\n".join(
        f"{message.html}{message.text}" for message in harness.fake.bot_messages(CHAT_ID)
    )
    for secret in secrets:
        assert secret not in logged
        assert secret not in said


async def test_data_files_are_readable_by_the_owner_only(start_bot: StartBot) -> None:
    harness = await start_bot(
        profiles=[{"name": "bad", "vars": {"page": "broken"}}],
        scenarios={"login": LOGIN_THEN_FAIL},
    )
    await harness.chat.send("/warmup bad")
    await harness.chat.wait_for_message(lambda m: m.photo is not None, timeout=60)
    settings = harness.settings
    database = Path(settings.database_url.removeprefix("sqlite://"))
    folders = [settings.data_dir, settings.states_dir, settings.artifacts_dir]
    files = [
        settings.states_dir / "bad.json",
        *settings.artifacts_dir.iterdir(),
        *database.parent.glob(f"{database.name}*"),
    ]
    assert len(files) >= 4, files
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


async def test_an_unauthorized_attempt_is_logged_without_what_was_typed(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.auth")
    harness = await start_bot()
    stranger = harness.chat_for(CHAT_ID + 9, user_id=ADMIN_ID + 9)
    await stranger.send("/warmup all secret-argument")
    await stranger.wait_for_reply()
    await stranger.send("just chatting about secret-argument")
    await stranger.wait_for_reply()
    lines = [record.getMessage() for record in caplog.records if record.name == "bot.auth"]
    assert lines == [
        f"refused user {ADMIN_ID + 9}: /warmup",
        f"refused user {ADMIN_ID + 9}: a message",
    ]
