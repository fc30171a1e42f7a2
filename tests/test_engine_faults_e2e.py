"""Faults under the engine: Chromium dies, a page hangs, the database is locked or busy."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import aiosqlite
import pytest

from models import RunStatus, WarmupRun
from tests.conftest import StartBot
from tests.processes import is_alive, main_browser_process

SLOW_READ = """
steps:
  - goto: "{site}/feed?p={profile}"
  - wait: 2
  - expect: "#feed"
"""

HANG = """
steps:
  - goto: "{site}/hang?p={profile}"
"""

SMOKE = """
steps:
  - goto: "{site}/feed?p={profile}"
  - scroll: 300
  - expect: "#feed"
"""


async def test_a_killed_chromium_is_relaunched_and_the_run_retried(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"read": SLOW_READ}, max_attempts=2)
    chat = harness.chat
    await chat.send("/warmup alice")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "wait 2", timeout=30)

    browser = main_browser_process()
    os.kill(browser.pid, signal.SIGKILL)

    finished = await chat.wait_until(progress, "Completed", timeout=60)
    assert "✅ alice" in finished.text
    assert harness.site.profiles_on("/feed") == ["alice", "alice"]
    assert [m for m in chat.bot_messages if m.photo is not None] == []
    assert harness.app.browser is not None and harness.app.browser.launches == 2
    assert not is_alive(browser)
    assert main_browser_process() != browser
    with harness.db():
        run = await WarmupRun.get(task_id=1)
        assert (run.status, run.attempts) == (RunStatus.succeeded, 2)


async def test_a_chromium_death_on_the_last_attempt_is_reported(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"read": SLOW_READ}, max_attempts=1)
    chat = harness.chat
    await chat.send("/warmup alice")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "wait 2", timeout=30)
    os.kill(main_browser_process().pid, signal.SIGKILL)

    failure = await chat.wait_for_message(lambda m: m.text.startswith("❌"), timeout=30)
    assert "alice" in failure.text and "closed" in failure.text
    await chat.wait_until(progress, "Failed", timeout=30)

    await chat.send("/warmup alice")
    second = await chat.wait_for_message("Warmup #2")
    await chat.wait_until(second, "Completed", timeout=60)


async def test_a_hanging_page_is_stopped_at_run_timeout(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"hang": HANG}, run_timeout=2)
    chat = harness.chat
    await chat.send("/warmup alice")
    progress = await chat.wait_for_reply()
    failure = await chat.wait_for_message(lambda m: m.text.startswith("❌"), timeout=30)
    assert "run timed out after 2 s" in failure.text
    assert "steps[0] (goto" in failure.text
    await chat.wait_until(progress, "Failed", timeout=30)
    assert harness.app.browser is not None and harness.app.browser.open_contexts == 0


async def test_status_writes_blocked_by_a_locked_database_are_retried(
    start_bot: StartBot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="models.writes")
    database = tmp_path / "warmup.sqlite3"
    harness = await start_bot(
        profiles=["alice"],
        scenarios={"read": SLOW_READ},
        database_url=f"sqlite://{database}?busy_timeout=100",
    )
    chat = harness.chat
    await chat.send("/warmup alice")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "wait 2", timeout=30)

    async with aiosqlite.connect(database) as other_process:
        await other_process.execute("BEGIN EXCLUSIVE")
        await asyncio.sleep(3.5)
        await other_process.rollback()

    await chat.wait_until(progress, "Completed", timeout=30)
    assert "database is locked" in caplog.text
    with harness.db():
        run = await WarmupRun.get(task_id=1)
        assert run.status == RunStatus.succeeded


async def test_twenty_profiles_at_once_with_commands_meanwhile_never_lock_the_database(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    names = [f"p{number:02}" for number in range(20)]
    harness = await start_bot(profiles=names, scenarios={"smoke": SMOKE}, max_concurrency=20)
    chat = harness.chat
    await chat.send("/warmup all")
    progress = await chat.wait_for_reply()
    for _ in range(10):
        await chat.send("/status")
        reply = await chat.wait_for_reply(timeout=30)
        assert reply.text.startswith(("Running", "Nothing is running")), reply.text
    finished = await chat.wait_until(progress, "Completed", timeout=120)
    assert "✅ done 20 · ❌ failed 0" in finished.text
    assert sorted(harness.site.profiles_on("/feed")) == names
    assert "database is locked" not in caplog.text
    assert "retrying" not in caplog.text


async def test_an_unexpected_error_in_one_profile_fails_only_that_profile(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice", "bob"], scenarios={"smoke": SMOKE})
    blocked = harness.settings.states_dir / "bob.json"
    blocked.mkdir(parents=True)  # saving bob's state now fails with an OSError
    chat = harness.chat
    await chat.send("/warmup all")
    progress = await chat.wait_for_reply()
    finished = await chat.wait_until(progress, "Completed", timeout=60)
    assert "✅ alice" in finished.text
    assert "❌ bob — internal error: IsADirectoryError" in finished.text
    failure = await chat.wait_for_message(lambda m: m.text.startswith("❌"))
    assert "bob" in failure.text
