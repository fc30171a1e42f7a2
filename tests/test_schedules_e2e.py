"""Schedules end to end: /schedule and /schedules in the chat, their buttons, and schedules
that fire through the running bot (the stored next run is set to now, then the scheduler
is woken, so nothing waits for a real cron minute)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from models import OutboxMessage, RunStatus, Schedule, TaskStatus, WarmupRun, WarmupTask
from tests.chat_client import BotMessage
from tests.conftest import CHAT_ID, SMOKE, Harness, StartBot, write_config
from warmup.scheduler import Scheduler

SLOW = """
steps:
  - goto: "{site}/feed?p={profile}"
  - wait: 30
"""


def scheduler_of(harness: Harness) -> Scheduler:
    assert harness.app.dispatcher is not None
    scheduler = harness.app.dispatcher["scheduler"]
    assert isinstance(scheduler, Scheduler)
    return scheduler


async def fire_now(harness: Harness, schedule_id: int) -> None:
    """Make the schedule due now and wake the scheduler, as if its cron time had come."""
    with harness.db():
        await Schedule.filter(id=schedule_id).update(next_run_at=datetime.now(UTC))
    scheduler_of(harness).wake()


async def after_a_pass(harness: Harness) -> None:
    """Until the scheduler has looked at what is due now (and started or skipped it)."""
    scheduler = scheduler_of(harness)
    scheduler.wake()
    async with asyncio.timeout(10):
        await scheduler.passed()


async def progress_of(harness: Harness, task_id: int) -> BotMessage:
    return await harness.chat.wait_for_message(f"Warmup #{task_id}", timeout=10)


async def task_count(harness: Harness) -> int:
    with harness.db():
        return await WarmupTask.all().count()


async def test_a_schedule_is_created_listed_paused_resumed_fired_and_deleted(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    chat = harness.chat
    await chat.send("/schedule alice smoke */30 * * * * between 09:00-21:00 jitter 5m")
    created = await chat.wait_for_reply()
    assert "Schedule #1" in created.text
    assert "cron */30 * * * * (UTC)" in created.text
    assert "window 09:00-21:00 UTC · jitter 5m" in created.text
    assert "next run 20" in created.text and "UTC · last run never" in created.text
    assert created.buttons == ["Pause", "Delete"]
    with harness.db():
        schedule = await Schedule.get(id=1)
    assert (schedule.chat_id, schedule.target, schedule.scenario) == (CHAT_ID, "alice", "smoke")
    assert schedule.next_run_at is not None and schedule.next_run_at > datetime.now(UTC)

    await chat.send("/schedules")
    listed = await chat.wait_for_reply()
    assert "Schedule #1" in listed.text and "smoke · alice" in listed.text
    assert listed.buttons == ["Pause #1", "Delete #1"]

    assert await chat.press(listed, "Pause #1") == "Schedule #1 paused."
    await chat.wait_until(listed, "⏸ paused")
    assert listed.buttons == ["Resume #1", "Delete #1"]
    await fire_now(harness, 1)
    await after_a_pass(harness)
    assert await task_count(harness) == 0, "a paused schedule does not fire"

    assert await chat.press(listed, "Resume #1") == "Schedule #1 resumed."
    await chat.wait_until(listed, "next run 20")
    assert listed.buttons == ["Pause #1", "Delete #1"]
    await fire_now(harness, 1)
    progress = await progress_of(harness, 1)
    await chat.wait_until(progress, "Completed", timeout=60)
    assert harness.site.profiles_on("/feed") == ["alice"]
    with harness.db():
        task = await WarmupTask.get(id=1)
        assert task.schedule_id == 1 and task.chat_id == CHAT_ID and task.target == "alice"
        fired = await Schedule.get(id=1)
    assert fired.last_run_at is not None and fired.next_run_at is not None
    assert fired.next_run_at > fired.last_run_at, "the next run is the next cron time"

    await chat.send("/schedules")
    relisted = await chat.wait_for_reply()
    assert "last run 20" in relisted.text
    assert await chat.press(relisted, "Delete #1") == "Schedule #1 deleted."
    await chat.wait_until(relisted, "No schedules in this chat")
    assert relisted.buttons == []
    assert await chat.press_data(relisted, "s:r:1:1") == "This button is no longer valid."
    with harness.db():
        assert await Schedule.all().count() == 0
        assert (await WarmupTask.get(id=1)).schedule_id is None, "its tasks stay"


async def test_a_schedule_does_not_start_a_profile_that_is_running(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice", "bob"], scenarios={"smoke": SMOKE, "slow": SLOW})
    chat = harness.chat
    await chat.send("/warmup alice slow")
    long_task = await chat.wait_for_reply()
    await chat.wait_until(long_task, "wait 30", timeout=30)

    await chat.send("/schedule alice,bob smoke 0 12 * * *")
    await chat.wait_for_reply()
    await chat.send("/schedule alice smoke 0 12 * * *")
    await chat.wait_for_reply()

    await fire_now(harness, 1)
    progress = await progress_of(harness, 2)
    await chat.wait_until(progress, "Completed", timeout=60)
    assert harness.site.profiles_on("/feed") == ["alice", "bob"], "alice only by /warmup"
    with harness.db():
        runs = await WarmupRun.filter(task_id=2).prefetch_related("profile")
        assert [run.profile.name for run in runs] == ["bob"]

    await fire_now(harness, 2)
    await after_a_pass(harness)
    assert await task_count(harness) == 2, "every profile busy: the occurrence is skipped"
    with harness.db():
        skipped = await Schedule.get(id=2)
        assert skipped.last_run_at is None and skipped.next_run_at is not None
        assert (await WarmupRun.get(task_id=1)).status == RunStatus.running

    await chat.send("/cancel 1")
    await chat.wait_for_reply()


async def test_schedules_survive_a_restart_and_still_fire(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    await harness.chat.send("/schedule alice smoke 0 12 * * * jitter 30s")
    await harness.chat.wait_for_reply()
    with harness.db():
        before = await Schedule.get(id=1)
    await harness.app.stop()

    restarted = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    chat = restarted.chat
    await chat.send("/schedules")
    listed = await chat.wait_for_reply()
    assert "Schedule #1" in listed.text and "jitter 30s" in listed.text
    with restarted.db():
        after = await Schedule.get(id=1)
    assert after.next_run_at == before.next_run_at, "a time still ahead is kept"

    await fire_now(restarted, 1)
    progress = await progress_of(restarted, 1)
    await chat.wait_until(progress, "Completed", timeout=60)
    assert restarted.site.profiles_on("/feed") == ["alice"]
    with restarted.db():
        assert (await WarmupTask.get(id=1)).status == TaskStatus.completed


async def test_buttons_of_another_chat_or_forged_do_nothing(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    await harness.chat.send("/schedule alice smoke 0 12 * * *")
    own = await harness.chat.wait_for_reply()

    other = harness.chat_for(CHAT_ID + 5)
    await other.send("/schedules")
    empty = await other.wait_for_reply()
    assert "No schedules in this chat" in empty.text
    forged = ("s:p:1:", "s:d:1:1", "s:r:1:", "s:d:999:", "s:x:1:", "s:d:01:", "s:d:-1:")
    for data in (*forged, "s:p:1:0", "s:p:1:x", "s:d:1"):
        assert await other.press_data(empty, data) == "This button is no longer valid.", data
    assert await harness.chat.press_data(own, "s:d:2:") == "This button is no longer valid."
    with harness.db():
        schedule = await Schedule.get(id=1)
    assert not schedule.paused


async def test_bad_schedule_commands_say_what_was_wrong(start_bot: StartBot) -> None:
    harness = await start_bot(
        profiles=[{"name": "alice", "tags": ["eu"]}], scenarios={"smoke": SMOKE, "other": SMOKE}
    )
    chat = harness.chat
    expectations = {
        "/schedule": "give a target, a scenario and a cron expression",
        "/schedule zed smoke * * * * *": "unknown profile: zed; known: alice",
        "/schedule tag:asia smoke * * * * *": "no profile has the tag 'asia'",
        "/schedule alice nosuch * * * * *": "unknown scenario 'nosuch'; available: other, smoke",
        "/schedule alice smoke 61 * * * *": "'61 * * * *' is not a valid cron expression",
        "/schedule alice smoke * * * *": "a cron expression has 5 fields",
        "/schedule alice smoke * * * * * between 25:00-26:00": "25:00 is not a time of day",
        "/schedule alice smoke * * * * * jitter 5x": "'5x' is not a jitter",
        "/schedule alice smoke 0 3 * * * between 09:00-21:00": "never falls inside the window",
        "/schedule alice smoke <b>x</b> * * * *": "'<b>x</b> * * * *' is not a valid cron",
    }
    for command, reason in expectations.items():
        await chat.send(command)
        reply = await chat.wait_for_reply()
        assert reason in reply.text, (command, reply.text)
        assert "Usage: /schedule <target> <scenario> <cron>" in reply.text
    with harness.db():
        assert await Schedule.all().count() == 0


async def test_an_occurrence_that_cannot_start_is_told_once_and_the_schedule_stays(
    start_bot: StartBot, tmp_path: Path
) -> None:
    harness = await start_bot(profiles=["alice", "bob"], scenarios={"smoke": SMOKE})
    chat = harness.chat
    await chat.send("/schedule bob smoke 0 12 * * *")
    await chat.wait_for_reply()
    write_config(tmp_path, harness.site, ["alice"], {"smoke": SMOKE})
    await chat.send("/reload")
    await chat.wait_for_reply()

    await fire_now(harness, 1)
    notice = await chat.wait_for_message("could not start")
    assert "Schedule #1 (smoke · bob) could not start: unknown profile: bob" in notice.text
    await after_a_pass(harness)
    with harness.db():
        assert await OutboxMessage.all().count() == 0, "no other notice is waiting to go"
    assert sum("could not start" in message.text for message in chat.bot_messages) == 1
    with harness.db():
        schedule = await Schedule.get(id=1)
    assert schedule.next_run_at is not None and schedule.next_run_at > datetime.now(UTC)
    assert await task_count(harness) == 0
