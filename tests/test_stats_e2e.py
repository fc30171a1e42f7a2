"""/stats: the whole fleet's recent runs as a chart with the numbers in its caption."""

from __future__ import annotations

import statistics
from datetime import timedelta

from bot.render import format_duration
from models import RunStatus, WarmupRun
from tests.chat_client import ChatClient
from tests.conftest import ADMIN_ID, SMOKE, StartBot

FAILS = """
steps:
  - goto: "{site}/feed?p={profile}"
  - expect: "#missing"
    timeout: 2
"""
PNG = b"\x89PNG\r\n\x1a\n"


async def test_stats_sends_a_chart_of_every_chats_runs_with_the_databases_numbers(
    start_bot: StartBot,
) -> None:
    colleague = ADMIN_ID + 1
    harness = await start_bot(
        profiles=["alice", "bob"],
        scenarios={"smoke": SMOKE, "fails": FAILS},
        admin_ids=frozenset({ADMIN_ID, colleague}),
    )
    await harness.chat.send("/warmup all smoke")
    await harness.chat.wait_for_reply(timeout=30)
    # Another chat's run counts too: the fleet is shared.
    russian = ChatClient(harness.fake, chat_id=colleague, user_id=colleague, language_code="ru")
    await russian.send("/warmup bob fails")
    await russian.wait_for_reply(timeout=30)
    await harness.settled(timeout=60)

    await harness.chat.send("/stats")
    reply = await harness.chat.wait_for_reply(timeout=30)
    assert reply.photo is not None, reply.text
    assert reply.photo.startswith(PNG)
    photo = reply.stored.photo
    assert photo is not None and (photo.width, photo.height) == (1280, 800)

    with harness.db():
        runs = await WarmupRun.all().values_list("status", "started_at", "finished_at")
        failed_step = await WarmupRun.get(status=RunStatus.failed).values_list(
            "failed_step", flat=True
        )
    assert sorted(status for status, _, _ in runs) == ["failed", "succeeded", "succeeded"]
    median = statistics.median(
        (finished - started).total_seconds() for _, started, finished in runs
    )
    caption = reply.text
    assert "The fleet, the last 14 days" in caption
    assert "3 runs: 2 succeeded, 1 failed\n" in caption
    assert "Success rate: 66.7%" in caption
    # The database's median is to a tenth of a second.
    assert any(
        f"Median run time: {format_duration(timedelta(seconds=seconds))}\n" in caption
        for seconds in (median - 0.05, median + 0.05)
    ), caption
    assert failed_step == "steps[1] (expect #missing)"
    assert f"Steps that fail most:\n• {failed_step}: 1" in caption

    await russian.send("/stats 7")
    answer = await russian.wait_for_reply(timeout=30)
    assert answer.photo is not None and answer.photo.startswith(PNG)
    assert "Парк за последние 7 дней" in answer.text
    assert "3 запуска: успешно 2," in answer.text and "ошибкой 1" in answer.text
    assert "Доля успешных: 66,7%" in answer.text


async def test_stats_refuses_bad_days_and_answers_in_text_when_no_run_ended(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    for bad in ("0", "abc", "366", "-1", "7 days"):
        await harness.chat.send(f"/stats {bad}")
        reply = await harness.chat.wait_for_reply(timeout=10)
        assert "give a number of days from 1 to 365, like 7" in reply.text, bad
        assert "Usage: /stats [days]" in reply.text
    await harness.chat.send("/stats")
    reply = await harness.chat.wait_for_reply(timeout=10)
    assert reply.photo is None
    assert reply.text == "No run ended in the last 14 days (UTC)."
    await harness.chat.send("/stats 1")
    reply = await harness.chat.wait_for_reply(timeout=10)
    assert reply.text == "No run ended in the last 1 day (UTC)."
