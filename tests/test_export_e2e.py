"""/export: the runs of the chat's tasks as a CSV document, typed into the chat."""

from __future__ import annotations

import csv
import io

from models import WarmupRun
from tests.conftest import CHAT_ID, SMOKE, StartBot
from warmup.export import COLUMNS

FAILS = """
steps:
  - goto: "{site}/feed?p={profile}"
  - expect: "#missing"
    timeout: 2
"""


async def test_export_sends_every_run_of_the_chat_as_csv_matching_the_database(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(
        profiles=["alice", "bob"], scenarios={"smoke": SMOKE, "fails": FAILS}, max_attempts=1
    )
    await harness.chat.send("/warmup all smoke")
    await harness.chat.wait_for_reply(timeout=30)
    await harness.chat.send("/warmup bob fails")
    await harness.chat.wait_for_reply(timeout=30)
    await harness.settled(timeout=60)
    # Another chat's task is not this chat's to export.
    other = harness.chat_for(CHAT_ID + 1)
    await other.send("/warmup alice smoke")
    await other.wait_for_reply(timeout=30)
    await harness.settled(timeout=60)

    await harness.chat.send("/export 7")
    reply = await harness.chat.wait_for_reply(timeout=30)
    assert reply.document is not None, reply.text
    assert reply.document_name is not None and reply.document_name.endswith("-7d.csv")
    assert "3 runs of the last 7 days" in reply.text
    rows = list(csv.DictReader(io.StringIO(reply.document.decode("utf-8"))))
    assert tuple(rows[0]) == COLUMNS

    with harness.db():
        runs = (
            await WarmupRun.filter(task__chat_id=CHAT_ID)
            .order_by("id")
            .prefetch_related("task", "profile")
        )
    assert len(rows) == len(runs) == 3
    for row, run in zip(rows, runs, strict=True):
        assert row["task"] == str(run.task.id)
        assert row["profile"] == run.profile.name
        assert row["scenario"] == run.task.scenario
        assert row["status"] == run.status.value
        assert row["attempts"] == str(run.attempts)
        assert row["failed_step"] == (run.failed_step or "")
        assert row["error"] == (run.error or "")
        assert run.started_at and run.finished_at
        assert float(row["seconds"]) == round((run.finished_at - run.started_at).total_seconds(), 1)
    failed = [row for row in rows if row["status"] == "failed"]
    assert [(row["profile"], row["scenario"]) for row in failed] == [("bob", "fails")]
    assert "#missing" in failed[0]["error"]
    assert not list((harness.settings.data_dir / "exports").iterdir()), "no file left behind"


async def test_export_refuses_bad_days_and_says_when_there_is_nothing(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    for bad in ("0", "seven", "-3", "99999", "7 days"):
        await harness.chat.send(f"/export {bad}")
        reply = await harness.chat.wait_for_reply(timeout=10)
        assert "number of days from 1 to 3650" in reply.text, bad
        assert "Usage: /export [days]" in reply.text
    await harness.chat.send("/export")
    reply = await harness.chat.wait_for_reply(timeout=10)
    assert reply.document is None
    assert "No runs in the last 30 days" in reply.text
