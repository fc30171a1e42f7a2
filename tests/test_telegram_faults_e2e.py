"""Telegram answering badly: flood limits, server errors, time-outs and a whole outage.

Progress and notifications are delayed, never lost or duplicated, and no browser run
waits for them.
"""

from __future__ import annotations

import asyncio
import time

from tests.conftest import StartBot
from tests.fake_telegram import FakeTelegram
from warmup.events import TaskFinished

BROKEN = """
steps:
  - goto: "{site}/broken?p={profile}"
"""

STEADY = """
steps:
  - goto: "{site}/feed?p={profile}"
  - wait: 1
  - expect: "#feed"
"""


def delivered(fake: FakeTelegram, method: str) -> int:
    return sum(1 for call in fake.calls if call.method == method and call.ok)


async def test_flood_limits_and_server_errors_delay_a_failure_notification_once(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["bad"], scenarios={"broken": BROKEN})
    fake = harness.fake
    fake.fail_next("sendPhoto", error_code=429, retry_after=1)
    fake.fail_next("sendPhoto", error_code=500)
    fake.fail_next("sendPhoto", error_code=502)

    await harness.chat.send("/warmup bad")
    progress = await harness.chat.wait_for_reply()
    failure = await harness.chat.wait_for_message(lambda m: m.photo is not None, timeout=30)
    assert "HTTP 500" in failure.text
    await harness.chat.wait_until(progress, "Failed", timeout=30)
    await harness.settled()
    refused = [c.error_code for c in fake.calls if c.method == "sendPhoto" and not c.ok]
    assert refused == [429, 500, 502]
    assert delivered(fake, "sendPhoto") == 1


async def test_a_timed_out_notification_is_sent_again_and_arrives_once(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["bad"], scenarios={"broken": BROKEN}, telegram_timeout=1)
    harness.fake.stall_next("sendPhoto", 3)

    await harness.chat.send("/warmup bad")
    await harness.chat.wait_for_reply()
    await harness.chat.wait_for_message(lambda m: m.photo is not None, timeout=30)
    await harness.settled()
    assert delivered(harness.fake, "sendPhoto") == 1
    assert len([m for m in harness.chat.bot_messages if m.photo is not None]) == 1


async def test_after_an_outage_the_progress_shows_the_latest_state_and_nothing_is_lost(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(
        profiles=["good", "bad"],
        scenarios={"steady": STEADY, "broken": BROKEN},
    )
    fake, chat = harness.fake, harness.chat
    finished_at: list[float] = []
    assert harness.app.engine is not None
    harness.app.engine.events.subscribe(
        lambda event: (
            finished_at.append(time.monotonic()) if isinstance(event, TaskFinished) else None
        )
    )
    await chat.send("/warmup good steady")
    steady = await chat.wait_for_reply()
    await chat.send("/warmup bad broken")
    broken = await chat.wait_for_reply()

    await fake.go_offline()
    offline_at = time.monotonic()
    for task_id in (1, 2):  # the runs must end while Telegram is unreachable
        await asyncio.wait_for(harness.app.engine.finished(task_id), timeout=60)
    assert len(finished_at) == 2
    assert all(moment > offline_at for moment in finished_at)
    edits_before = steady.edit_count + broken.edit_count
    await fake.go_online()

    await chat.wait_until(steady, "Completed", timeout=60)
    await chat.wait_until(broken, "Failed", timeout=60)
    failure = await chat.wait_for_message(lambda m: m.photo is not None, timeout=60)
    assert "bad" in failure.text
    await harness.settled()
    assert steady.edit_count + broken.edit_count - edits_before <= 2
    assert len([m for m in chat.bot_messages if m.photo is not None]) == 1

    await chat.send("/tasks")
    reply = await chat.wait_for_reply(timeout=30)
    assert "#2 broken · bad — Failed" in reply.text
