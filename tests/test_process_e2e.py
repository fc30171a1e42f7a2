"""The bot as a real process, stopped for real: SIGKILL mid-task, then SIGTERM and SIGINT.

In-process tests stop the application by calling its methods; only a real process shows what
signals do, what the database holds after a crash, and whether Chromium outlives the bot.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.bot_process import BotLauncher, BotProcess
from tests.chat_client import BotMessage, ChatClient
from tests.conftest import write_config
from tests.fake_telegram import FakeTelegram
from tests.processes import kill_all, wait_gone
from tests.site import LocalSite

# `fast` opens the feed; `slow` opens /hang, which answers only once the site's `hang` is set.
PAGE = """
steps:
  - goto: "{site}/{page}?p={profile}"
  - expect: "h1"
"""
PROFILES: list[str | dict[str, Any]] = [
    {"name": "fast", "vars": {"page": "feed"}},
    {"name": "slow", "vars": {"page": "hang"}},
]

COUNTER_THEN_WAIT = """
steps:
  - goto: "{site}/visit-counter?p={profile}"
  - expect: "#count"
  - wait: 30
"""

# How long what the killed bot started gets to end by itself before the test kills it.
ORPHAN_GRACE = 5.0
EXIT_GRACE = 2.0


async def kill_mid_task(
    bots: BotLauncher, chat: ChatClient, site: LocalSite, tmp_path: Path
) -> BotProcess:
    """Start a task of `fast` and `slow`, SIGKILL the bot once fast is done and slow hangs.

    The killed bot's Chromium (and Playwright driver) must die with it, within a grace;
    whatever survived is killed before the test fails, so that no test leaks a browser.
    """
    write_config(tmp_path, site, PROFILES, {"page": PAGE})
    bot = await bots.start()
    await chat.send("/warmup all page")
    progress = await chat.wait_for_reply(timeout=30)
    await chat.wait_until(
        progress, lambda m: "✅ fast" in m.text and "▶️ slow" in m.text, timeout=60
    )
    await chat.fake.wait_for(lambda: site.profiles_on("/hang"), 30, description="slow at /hang")
    bot.sample()
    chromium = bot.chromium
    others = [process for process in bot.seen.values() if not process.is_chromium]
    assert chromium, f"no Chromium process found below the bot{bot.explain()}"

    bot.send_signal(signal.SIGKILL)
    assert await bot.wait_exit(10) == -signal.SIGKILL
    for what, processes in (("Chromium", chromium), ("other", others)):
        survivors, waited = await wait_gone(processes, ORPHAN_GRACE)
        kill_all(survivors)
        assert not survivors, (
            f"SIGKILL of the bot: {len(survivors)} of {len(processes)} {what} processes "
            f"still alive {waited:.1f} s later:\n  "
            + "\n  ".join(process.describe() for process in survivors)
        )
        print(
            f"SIGKILL of the bot: its {len(processes)} {what} processes were gone in {waited:.2f} s"
        )
    assert site.profiles_on("/feed") == ["fast"]
    return bot


async def wait_for_new_progress(chat: ChatClient, task_id: int, after: int) -> BotMessage:
    return await chat.wait_for_message(
        lambda m: m.text.startswith(f"Warmup #{task_id} ·"), timeout=30, after=after
    )


async def stop_cleanly(bot: BotProcess, stop_signal: signal.Signals = signal.SIGTERM) -> None:
    """Signal the bot; it must exit with 0 and leave no process of its own behind.

    The processes get a short grace after the exit: a renderer may notice that its browser
    closed a moment after the browser itself has gone.
    """
    bot.send_signal(stop_signal)
    assert await bot.wait_exit(15) == 0, bot.explain()
    survivors, _ = await wait_gone(bot.seen.values(), EXIT_GRACE)
    assert not survivors, "outlived the bot:\n  " + "\n  ".join(
        process.describe() for process in survivors
    )


async def test_a_sigkill_mid_task_is_reported_at_restart_and_resume_finishes_it(
    bots: BotLauncher, chat: ChatClient, site: LocalSite, tmp_path: Path
) -> None:
    await kill_mid_task(bots, chat, site, tmp_path)
    site.hang.set()  # from now on /hang answers: slow can finish when resumed
    before_restart = chat.bot_messages[-1].message_id

    restarted = await bots.start()
    notice = await chat.wait_for_message(
        "Warmup #1 was interrupted when the bot stopped", timeout=30, after=before_restart
    )
    assert notice.buttons == ["Resume"], restarted.explain()
    first_progress = chat.bot_messages[0]
    await chat.wait_until(first_progress, "Interrupted", timeout=10)
    assert "⏸ slow" in first_progress.text and "Resume" in first_progress.buttons
    assert await chat.press(notice, "Resume") == "Resuming 1 profile."
    resumed = await wait_for_new_progress(chat, 1, after=notice.message_id)
    finished = await chat.wait_until(resumed, "Completed", timeout=60)
    assert "✅ fast" in finished.text and "✅ slow" in finished.text, restarted.explain()

    await chat.send("/status 1")
    status = (await chat.wait_for_reply(timeout=30)).text
    assert "fast: succeeded, attempts 1" in status, status
    assert "slow: succeeded" in status, status
    assert site.profiles_on("/feed") == ["fast"]
    assert site.profiles_on("/hang") == ["slow", "slow"]
    await stop_cleanly(restarted)


async def test_auto_resume_resumes_a_task_left_by_a_sigkill_without_a_press(
    bots: BotLauncher, chat: ChatClient, site: LocalSite, tmp_path: Path
) -> None:
    await kill_mid_task(bots, chat, site, tmp_path)
    site.hang.set()
    before_restart = chat.bot_messages[-1].message_id

    restarted = await bots.start(AUTO_RESUME="true")
    notice = await chat.wait_for_message("resuming it", timeout=30, after=before_restart)
    assert "Warmup #1 was interrupted when the bot stopped" in notice.text
    assert "Resume" not in notice.buttons
    resumed = await wait_for_new_progress(chat, 1, after=before_restart)
    finished = await chat.wait_until(resumed, "Completed", timeout=60)
    assert "✅ fast" in finished.text and "✅ slow" in finished.text, restarted.explain()
    assert site.profiles_on("/feed") == ["fast"]
    assert site.profiles_on("/hang") == ["slow", "slow"]
    assert not chat.fake.callback_queries, "nothing was pressed"
    await stop_cleanly(restarted)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_the_bot_gracefully_saving_state_and_closing_chromium(
    stop_signal: signal.Signals,
    bots: BotLauncher,
    chat: ChatClient,
    site: LocalSite,
    tmp_path: Path,
) -> None:
    write_config(tmp_path, site, ["alice"], {"counter": COUNTER_THEN_WAIT})
    bot = await bots.start()
    await chat.send("/warmup alice")
    progress = await chat.wait_for_reply(timeout=30)
    await chat.wait_until(progress, "wait 30", timeout=60)
    assert site.profiles_on("/visit-counter") == ["alice"]
    bot.sample()
    assert bot.chromium, f"no Chromium process found below the bot{bot.explain()}"

    await stop_cleanly(bot, stop_signal)

    stopped = await chat.wait_until(progress, "Interrupted", timeout=5)
    assert "Resume" in stopped.buttons, bot.explain()
    state_file = tmp_path / "data" / "states" / "alice.json"
    assert state_file.is_file(), f"no storage state saved on stop{bot.explain()}"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    cookies = {cookie["name"]: cookie["value"] for cookie in state.get("cookies", [])}
    assert cookies.get("visits") == "1", state


FAIL_AFTER_A_WHILE = """
steps:
  - goto: "{site}/feed?p={profile}"
  - wait: 2
  - expect: "#never"
    timeout: 1
"""


def outbox_and_statuses(database: Path) -> tuple[int, list[str], list[str]]:
    """Read straight from the killed bot's SQLite file: (outbox rows, run statuses, task
    statuses)."""
    with sqlite3.connect(database) as connection:
        notices = connection.execute("SELECT count(*) FROM outbox_message").fetchone()[0]
        runs = [row[0] for row in connection.execute("SELECT status FROM warmup_run")]
        tasks = [row[0] for row in connection.execute("SELECT status FROM warmup_task")]
    return notices, runs, tasks


async def until_in_file(condition: Callable[[], bool], timeout: float) -> None:
    """Look again and again (in a thread) at a file another process writes: nothing
    signals its changes to this one."""
    async with asyncio.timeout(timeout):
        while True:
            if await asyncio.to_thread(condition):
                return
            await asyncio.sleep(0.2)


async def test_notices_queued_while_telegram_is_down_survive_a_kill_and_arrive_once(
    bots: BotLauncher, chat: ChatClient, site: LocalSite, tmp_path: Path, fake: FakeTelegram
) -> None:
    write_config(tmp_path, site, ["first", "second"], {"late": FAIL_AFTER_A_WHILE})
    bot = await bots.start()
    await chat.send("/warmup all late")
    progress = await chat.wait_for_reply(timeout=30)
    await chat.wait_until(progress, lambda m: m.text.count("wait 2") == 2, timeout=60)
    await fake.go_offline()
    database = tmp_path / "warmup.sqlite3"
    # The task ends a moment after its last run: killed in between, it would be interrupted.
    ended = (2, ["failed", "failed"], ["failed"])
    await until_in_file(lambda: outbox_and_statuses(database) == ended, 60)
    bot.send_signal(signal.SIGKILL)
    assert await bot.wait_exit(10) == -signal.SIGKILL
    kill_all(bot.seen.values())
    await fake.go_online()
    assert not [m for m in chat.bot_messages if m.photo is not None], "nothing went out"

    restarted = await bots.start()
    for profile in ("first", "second"):
        await chat.wait_for_message(
            lambda m, profile=profile: (
                m.photo is not None and f"profile {profile} failed" in m.text
            ),
            timeout=30,
        )
    await chat.wait_until(progress, "Failed", timeout=30)
    await until_in_file(lambda: outbox_and_statuses(database)[0] == 0, 30)
    photos = [m for m in chat.bot_messages if m.photo is not None]
    assert len(photos) == 2, "each notice exactly once"
    await stop_cleanly(restarted)


async def test_try_is_refused_while_the_bot_plays_the_profile(
    bots: BotLauncher, chat: ChatClient, site: LocalSite, tmp_path: Path
) -> None:
    write_config(tmp_path, site, ["alice"], {"counter": COUNTER_THEN_WAIT})
    bot = await bots.start()
    await chat.send("/warmup alice")
    progress = await chat.wait_for_reply(timeout=30)
    await chat.wait_until(progress, "wait 30", timeout=60)

    trial = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "try",
        "counter",
        "--profile",
        "alice",
        cwd=tmp_path,
        env=bots.environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(trial.communicate(), timeout=90)
    assert trial.returncode == 2, (stdout, stderr)
    assert "profile 'alice' is playing or waiting to play in another task" in stderr.decode()
    assert site.profiles_on("/visit-counter") == ["alice"], "try played nothing"
    assert "▶️ alice" in progress.text, "the bot's run goes on"
    await chat.send("/cancel 1")
    await chat.wait_for_reply(timeout=30)
    await stop_cleanly(bot)
