"""The task lifecycle at its edges, end to end: floods, restarts with work due, cancels and
Resumes that race, a stuck renderer, sessions kept in IndexedDB, replies under a flood.

Each test causes its fault for real through the chat, the fake Telegram and a real
Chromium, and checks what the operator sees and what the database holds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest

from models import (
    Profile,
    RunStatus,
    Schedule,
    TaskStatus,
    WarmupRun,
    WarmupTask,
)
from tests.conftest import CHAT_ID, SMOKE, Harness, StartBot
from tests.site import IDB_TOKEN
from warmup.events import Event, TaskFinished

STEADY = """
steps:
  - goto: "{site}/feed?p={profile}"
  - wait: 1.5
  - expect: "#feed"
"""
SLOW = """
steps:
  - goto: "{site}/feed?p={profile}"
  - wait: 30
"""
STUCK = """
steps:
  - goto: "{site}/stuck?p={profile}"
  - wait: 1
  - click: "#stuck"
"""
BROKEN = """
steps:
  - goto: "{site}/broken?p={profile}"
"""
IDB_LOGIN = """
steps:
  - goto: "{site}/idb-login?p={profile}"
  - expect: "#welcome"
"""
IDB_ACCOUNT = """
logged_in: {selector: "#account", timeout: 5}
steps:
  - goto: "{site}/idb-account?p={profile}"
"""


def finish_times(harness: Harness) -> dict[int, float]:
    """task id → the monotonic time the engine announced its end (the fake's clock too)."""
    times: dict[int, float] = {}

    def record(event: Event) -> None:
        if isinstance(event, TaskFinished):
            times[event.task_id] = time.monotonic()

    assert harness.app.engine is not None
    harness.app.engine.events.subscribe(record)
    return times


async def test_after_a_flood_the_final_state_shows_within_the_interval_and_what_telegram_asked(
    start_bot: StartBot,
) -> None:
    interval, retry_after = 1.0, 2
    harness = await start_bot(
        profiles=["alice"], scenarios={"steady": STEADY}, progress_interval=interval
    )
    fake = harness.fake
    finished = finish_times(harness)
    fake.fail_next("editMessageText", error_code=429, retry_after=retry_after, times=3)
    fake.fail_next("editMessageText", error_code=500, times=2)

    await harness.chat.send("/warmup alice")
    progress = await harness.chat.wait_for_reply()
    await harness.chat.wait_until(progress, "Completed", timeout=60)

    edits = [call for call in fake.calls if call.method == "editMessageText"]
    refused = [call for call in edits if not call.ok]
    assert [call.error_code for call in refused] == [429, 429, 429, 500, 500]
    shown = next(call for call in edits if call.ok and "Completed" in call.params["text"])
    flood_over = max(refused[-1].time, finished[1])
    assert shown.time - flood_over <= interval + retry_after + 1.0, (
        f"the final state came {shown.time - flood_over:.1f} s after the flood and the task "
        "had both ended"
    )
    for earlier, later in itertools.pairwise(refused):
        if earlier.error_code == 429:
            assert later.time - earlier.time >= retry_after - 0.1, "a 429 is waited out whole"


@pytest.mark.parametrize("auto_resume", [False, True], ids=["ask", "AUTO_RESUME"])
async def test_a_restart_with_a_schedule_due_interrupts_only_what_the_stop_left(
    start_bot: StartBot, auto_resume: bool
) -> None:
    harness = await start_bot(profiles=["alice", "bob"], scenarios={"smoke": SMOKE})
    chat = harness.chat
    await chat.send("/schedule bob smoke 0 12 * * *")
    await chat.wait_for_reply()
    with harness.db():
        # What a killed bot leaves: a task of alice still "running".
        left = await WarmupTask.create(
            chat_id=CHAT_ID, target="alice", scenario="smoke", status=TaskStatus.running
        )
        alice = await Profile.get(name="alice")
        await WarmupRun.create(task=left, profile=alice, status=RunStatus.running, attempts=1)
        await Schedule.filter(id=1).update(next_run_at=datetime.now(UTC) - timedelta(minutes=5))
    await harness.app.stop()

    restarted = await start_bot(
        profiles=["alice", "bob"], scenarios={"smoke": SMOKE}, auto_resume=auto_resume
    )
    scheduled = await restarted.chat.wait_for_message(lambda m: m.text.startswith("Warmup #2"))
    await restarted.chat.wait_until(scheduled, "Completed", timeout=60)
    with restarted.db():
        occurrence = await WarmupTask.get(id=2)
        assert (occurrence.schedule_id, occurrence.status) == (1, TaskStatus.completed)
    notice = await restarted.chat.wait_for_message("Warmup #1 was interrupted")
    if auto_resume:
        assert "resuming it (AUTO_RESUME)" in notice.text
        resumed = await restarted.chat.wait_for_message(lambda m: m.text.startswith("Warmup #1"))
        await restarted.chat.wait_until(resumed, "Completed", timeout=60)
    else:
        assert notice.buttons == ["Resume"]
        with restarted.db():
            assert (await WarmupTask.get(id=1)).status == TaskStatus.interrupted
    await restarted.chat.send("/tasks")
    assert "#2 smoke · bob" in (await restarted.chat.wait_for_reply()).text, "still answering"


async def test_a_cancel_at_once_after_the_warmup_stops_it_for_good(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice", "bob"], scenarios={"slow": SLOW})
    chat = harness.chat
    await chat.send("/warmup all")
    progress = await chat.wait_for_reply()
    await chat.send("/cancel 1")
    assert (await chat.wait_for_reply()).text == "Task #1 cancelled."
    cancelled = await chat.wait_until(progress, "⏹ cancelled 2", timeout=30)
    assert cancelled.buttons == ["Restart all", "Details"]
    with harness.db():
        assert (await WarmupTask.get(id=1)).status == TaskStatus.cancelled
        statuses = await WarmupRun.filter(task_id=1).values_list("status", flat=True)
    assert statuses == [RunStatus.cancelled, RunStatus.cancelled]
    assert harness.app.browser is not None and harness.app.browser.open_contexts == 0


async def test_a_cancel_of_a_task_that_has_just_completed_leaves_it_completed(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    finished = finish_times(harness)
    chat = harness.chat
    await chat.send("/warmup alice")
    progress = await chat.wait_for_reply()
    await harness.fake.wait_for(lambda: 1 in finished, 60, description="task 1 to end")
    await chat.send("/cancel 1")
    reply = await chat.wait_for_reply()
    assert reply.text == "Task #1 has already ended (completed)."
    await chat.wait_until(progress, "Completed")
    with harness.db():
        assert (await WarmupTask.get(id=1)).status == TaskStatus.completed


async def test_resume_pressed_twice_at_once_resumes_once_and_plays_each_profile_once(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice", "bob"], scenarios={"slow": SLOW})
    await harness.chat.send("/warmup all")
    progress = await harness.chat.wait_for_reply()
    await harness.chat.wait_until(progress, lambda m: m.text.count("wait 30") == 2, timeout=30)
    await harness.app.stop()
    stopped = await harness.chat.wait_until(progress, "Interrupted", timeout=30)

    restarted = await start_bot(profiles=["alice", "bob"], scenarios={"slow": SMOKE})
    visits_before = len(restarted.site.visits)
    answers = await asyncio.gather(
        restarted.chat.press(stopped, "Resume"), restarted.chat.press(stopped, "Resume")
    )
    assert answers.count("Resuming 2 profiles.") == 1, answers
    (refused,) = [answer for answer in answers if answer != "Resuming 2 profiles."]
    assert refused is not None and refused.startswith("task #1 is ")
    assert refused.endswith(", not interrupted")
    resumed = await restarted.chat.wait_for_message(
        lambda m: m.text.startswith("Warmup #1") and m.message_id > stopped.message_id
    )
    await restarted.chat.wait_until(resumed, "Completed", timeout=60)
    replayed = [visit.profile for visit in restarted.site.visits[visits_before:]]
    assert sorted(name for name in replayed if name) == ["alice", "alice", "bob", "bob"]
    assert sorted(restarted.site.profiles_on("/feed")[2:]) == ["alice", "bob"]
    with restarted.db():
        assert await WarmupTask.all().count() == 1
    progress_messages = [m for m in restarted.chat.bot_messages if m.text.startswith("Warmup #1 ·")]
    assert len(progress_messages) == 2, "the first, and one for the one Resume"


async def test_a_stuck_renderer_frees_its_slot_at_run_timeout_and_the_next_profile_plays(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(
        profiles=["stuck", "next"],
        scenarios={"stuck": STUCK, "smoke": SMOKE},
        max_concurrency=1,
        run_timeout=4,
    )
    chat = harness.chat
    await chat.send("/warmup stuck stuck")
    first = await chat.wait_for_reply()
    await chat.send("/warmup next smoke")
    second = await chat.wait_for_message(lambda m: m.text.startswith("Warmup #2"))

    failure = await chat.wait_for_message(lambda m: "profile stuck failed" in m.text, timeout=60)
    assert "run timed out after 4 s" in failure.text
    await chat.wait_until(first, "Failed", timeout=30)
    await chat.wait_until(second, "Completed", timeout=60)
    assert harness.site.profiles_on("/feed") == ["next"]
    assert harness.app.browser is not None and harness.app.browser.open_contexts == 0


async def test_a_login_kept_in_indexeddb_survives_from_one_run_to_the_next(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(
        profiles=["alice"], scenarios={"login": IDB_LOGIN, "account": IDB_ACCOUNT}
    )
    chat = harness.chat
    await chat.send("/warmup alice login")
    login = await chat.wait_for_reply()
    await chat.wait_until(login, "Completed", timeout=60)
    state = (harness.settings.states_dir / "alice.json").read_text(encoding="utf-8")
    assert f"{IDB_TOKEN}-alice" in state

    await chat.send("/warmup alice account")
    account = await chat.wait_for_message(lambda m: m.text.startswith("Warmup #2"))
    await chat.wait_until(account, "Completed", timeout=60)
    with harness.db():
        assert (await Profile.get(name="alice")).session_expired is False


async def test_a_session_check_that_fails_keeps_the_stored_session(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"account": IDB_ACCOUNT})
    state_file = harness.settings.states_dir / "alice.json"
    state_file.parent.mkdir(parents=True, exist_ok=True)
    kept = (
        '{"cookies": [], "origins": [{"origin": "https://elsewhere.example", "localStorage": []}]}'
    )
    state_file.write_text(kept, encoding="utf-8")
    await harness.chat.send("/warmup alice")
    # The notice, not the progress message (which says "session expired" on its line too).
    failure = await harness.chat.wait_for_message("/import alice", timeout=60)
    assert "session expired" in failure.text.lower()
    assert state_file.read_text(encoding="utf-8") == kept


async def test_a_reply_that_meets_a_flood_limit_arrives_when_telegram_allows(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    harness.fake.fail_next("sendMessage", error_code=429, retry_after=2)
    await harness.chat.send("/tasks")
    reply = await harness.chat.wait_for_reply(timeout=30)
    assert "No tasks yet" in reply.text
    refused = [c for c in harness.fake.calls if c.method == "sendMessage" and not c.ok]
    assert [call.error_code for call in refused] == [429]

    harness.fake.fail_next("sendMessage", error_code=429, retry_after=1, times=2)
    await harness.chat.send("/nonsense")
    assert "Unknown command" in (await harness.chat.wait_for_reply(timeout=30)).text


async def test_many_failures_under_telegrams_real_limits_come_folded_and_nothing_is_refused(
    start_bot: StartBot,
) -> None:
    names = [f"bad{number:02}" for number in range(12)]
    harness = await start_bot(
        profiles=names,
        scenarios={"broken": BROKEN},
        max_concurrency=12,
        telegram_private_chat_rate=1,
    )
    harness.fake.enforce_flood_limits()
    chat = harness.chat
    await chat.send("/warmup all")
    progress = await chat.wait_for_reply(timeout=30)
    await chat.wait_until(progress, "Failed", timeout=90)

    def told() -> set[str]:
        notices = [m for m in chat.bot_messages if "failed" in m.text and m != progress]
        return {name for m in notices for name in names if name in m.text}

    await harness.fake.wait_for(lambda: told() == set(names), 60, description="every failure")
    await harness.settled()
    folded = [m for m in chat.bot_messages if "more profiles failed" in m.text]
    assert folded, "twelve photos at one a second would take twelve seconds: they are folded"
    assert harness.fake.flood_refusals == 0
    assert harness.fake.max_calls_in_window(0.9, chat_id=CHAT_ID) == 1
