"""/warmup end to end: a command in the chat, a real Chromium on the local site, the replies."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta

from models import (
    COMMAND_LINE_CHAT,
    Profile,
    RunStatus,
    TaskStatus,
    WarmupRun,
    WarmupTask,
)
from tests.conftest import ADMIN_ID, CHAT_ID, SMOKE, StartBot
from warmup.events import RunFinished, RunStarted

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

PAGE_BY_VAR = """
vars: {page: feed}
steps:
  - goto: "{site}/{page}?p={profile}"
  - expect: "#feed"
"""

SLOW = """
steps:
  - goto: "{site}/feed?p={profile}"
  - wait: 30
"""

COUNTER = """
steps:
  - goto: "{site}/visit-counter?p={profile}"
  - expect: "#count"
"""


async def test_warmup_of_several_profiles_visits_the_site_and_ends_with_the_counts(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice", "bob", "carol"], scenarios={"smoke": SMOKE})
    chat = harness.chat

    await chat.send("/warmup all smoke")
    progress = await chat.wait_for_reply()
    assert "Warmup #1" in progress.text
    assert progress.buttons == ["Cancel"]

    finished = await chat.wait_until(progress, "Completed", timeout=60)
    assert "✅ done 3 · ❌ failed 0" in finished.text
    assert "3/3" in finished.text
    for name in ("alice", "bob", "carol"):
        assert f"✅ {name}" in finished.text
    assert finished.buttons == ["Restart all", "Details"]
    assert finished.edit_count >= 1
    assert sorted(harness.site.profiles_on("/feed")) == ["alice", "bob", "carol"]
    assert sorted(harness.site.profiles_on("/article/1")) == ["alice", "bob", "carol"]
    assert harness.app.browser is not None and harness.app.browser.open_contexts == 0
    with harness.db():
        task = await WarmupTask.get(id=1)
        assert task.status == TaskStatus.completed
        runs = await WarmupRun.filter(task_id=1)
        assert [run.status for run in runs] == [RunStatus.succeeded] * 3
        assert all(run.attempts == 1 and run.finished_at for run in runs)


async def test_scenario_may_be_left_out_when_there_is_only_one(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    await harness.chat.send("/warmup alice")
    progress = await harness.chat.wait_for_reply()
    await harness.chat.wait_until(progress, "Completed", timeout=60)
    assert harness.site.profiles_on("/feed") == ["alice"]


async def test_broken_page_sends_a_failure_with_screenshot_and_retry_button(
    start_bot: StartBot,
) -> None:
    alert_chat = 7007
    harness = await start_bot(
        profiles=["good", {"name": "bad", "vars": {"page": "broken"}}],
        scenarios={"pages": PAGE_BY_VAR},
        alert_chat_id=alert_chat,
    )
    harness.fake.add_chat(alert_chat)
    chat = harness.chat

    await chat.send("/warmup all pages")
    progress = await chat.wait_for_reply()
    failure = await chat.wait_for_message(lambda m: m.photo is not None)
    assert failure.photo is not None and failure.photo.startswith(PNG_SIGNATURE)
    assert "Warmup #1" in failure.text
    assert "bad" in failure.text
    assert "steps[0]" in failure.text
    assert "HTTP 500" in failure.text
    assert failure.buttons == ["Retry", "Trace"]

    alert = await harness.chat_for(alert_chat).wait_for_message(lambda m: m.photo is not None)
    assert "HTTP 500" in alert.text

    finished = await chat.wait_until(progress, "Completed", timeout=60)
    assert "✅ done 1 · ❌ failed 1" in finished.text
    assert finished.buttons == ["Restart failed", "Restart all", "Details"]
    with harness.db():
        run = await WarmupRun.get(task_id=1, profile__name="bad")
        assert run.status == RunStatus.failed
        assert run.failed_step is not None and run.failed_step.startswith("steps[0]")
        assert run.screenshot_path is not None


async def test_restart_failed_plays_only_the_failed_profiles(start_bot: StartBot) -> None:
    harness = await start_bot(
        profiles=["good", {"name": "bad", "vars": {"page": "broken"}}],
        scenarios={"pages": PAGE_BY_VAR},
    )
    chat = harness.chat
    await chat.send("/warmup all pages")
    progress = await chat.wait_for_reply()
    finished = await chat.wait_until(progress, "Completed", timeout=60)
    visits_before = len(harness.site.visits)

    answer = await chat.press(finished, "Restart failed")
    assert answer == "Started task #2."
    second = await chat.wait_for_message(lambda m: "Warmup #2" in m.text)
    await chat.wait_until(second, lambda m: "Completed" in m.text or "Failed" in m.text, 60)

    replayed = [visit.profile for visit in harness.site.visits[visits_before:]]
    assert replayed == ["bad"]
    with harness.db():
        runs = await WarmupRun.filter(task_id=2).prefetch_related("profile")
        assert [run.profile.name for run in runs] == ["bad"]


async def test_restart_all_and_retry_replay_the_right_profiles(start_bot: StartBot) -> None:
    harness = await start_bot(
        profiles=["good", {"name": "bad", "vars": {"page": "broken"}}],
        scenarios={"pages": PAGE_BY_VAR},
    )
    chat = harness.chat
    await chat.send("/warmup all pages")
    progress = await chat.wait_for_reply()
    failure = await chat.wait_for_message(lambda m: m.photo is not None)
    finished = await chat.wait_until(progress, "Completed", timeout=60)

    assert await chat.press(finished, "Restart all") == "Started task #2."
    second = await chat.wait_for_message(lambda m: "Warmup #2" in m.text)
    await chat.wait_until(second, "Completed", timeout=60)

    assert await chat.press(failure, "Retry") == "Started task #3."
    third = await chat.wait_for_message(lambda m: "Warmup #3" in m.text)
    await chat.wait_until(third, "Failed", timeout=60)
    with harness.db():
        second_runs = await WarmupRun.filter(task_id=2).prefetch_related("profile")
        third_runs = await WarmupRun.filter(task_id=3).prefetch_related("profile")
    assert sorted(run.profile.name for run in second_runs) == ["bad", "good"]
    assert [run.profile.name for run in third_runs] == ["bad"]


async def test_storage_state_survives_from_one_run_to_the_next(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"counter": COUNTER})
    chat = harness.chat
    for number in (1, 2):
        await chat.send("/warmup alice counter")
        progress = await chat.wait_for_reply()
        await chat.wait_until(progress, "Completed", timeout=60)
        assert f"Warmup #{number}" in progress.text

    first, second = [v for v in harness.site.visits if v.path == "/visit-counter"]
    assert "visits" not in first.cookies
    assert second.cookies.get("visits") == "1"
    state_file = harness.settings.states_dir / "alice.json"
    assert state_file.stat().st_mode & 0o777 == 0o600


async def test_cancel_stops_a_running_task_and_leaves_no_context_open(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice", "bob"], scenarios={"slow": SLOW})
    chat = harness.chat
    await chat.send("/warmup all slow")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "wait 30", timeout=30)
    assert harness.app.browser is not None and harness.app.browser.open_contexts == 2

    assert await chat.press(progress, "Cancel") == "Cancelled."
    assert harness.app.browser.open_contexts == 0
    cancelled = await chat.wait_until(progress, "Cancelled", timeout=10)
    assert "⏹ cancelled 2" in cancelled.text
    assert "Cancel" not in cancelled.buttons
    with harness.db():
        task = await WarmupTask.get(id=1)
        assert task.status == TaskStatus.cancelled
        statuses = await WarmupRun.filter(task_id=1).values_list("status", flat=True)
        assert statuses == [RunStatus.cancelled, RunStatus.cancelled]


async def test_cancel_command_stops_a_task(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"slow": SLOW})
    chat = harness.chat
    await chat.send("/warmup alice")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "wait 30", timeout=30)
    await chat.send("/cancel 1")
    assert (await chat.wait_for_reply()).text == "Task #1 cancelled."
    await chat.send("/cancel #1")
    assert "already ended (cancelled)" in (await chat.wait_for_reply()).text


async def test_a_profile_never_runs_twice_at_the_same_moment(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE}, max_concurrency=4)
    timeline: list[tuple[str, int]] = []
    assert harness.app.engine is not None
    harness.app.engine.events.subscribe(
        lambda event: (
            timeline.append((type(event).__name__, event.task_id))
            if isinstance(event, RunStarted | RunFinished)
            else None
        )
    )
    chat = harness.chat
    await chat.send("/warmup alice")
    await chat.send("/warmup alice")
    first = await chat.wait_for_message("Warmup #1")
    second = await chat.wait_for_message("Warmup #2")
    await chat.wait_until(first, "Completed", timeout=60)
    await chat.wait_until(second, "Completed", timeout=60)
    assert [name for name, _ in timeline] == [
        "RunStarted",
        "RunFinished",
        "RunStarted",
        "RunFinished",
    ]


async def test_a_flood_limit_on_progress_edits_is_waited_out(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    harness.fake.fail_next("editMessageText", error_code=429, retry_after=1, times=2)
    await harness.chat.send("/warmup alice")
    progress = await harness.chat.wait_for_reply()
    finished = await harness.chat.wait_until(progress, "Completed", timeout=60)
    assert "✅ done 1" in finished.text
    refused = [c for c in harness.fake.calls if c.method == "editMessageText" and not c.ok]
    assert len(refused) == 2


async def test_a_stop_mid_task_leaves_it_interrupted_and_resume_finishes_it(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"slow": SLOW})
    await harness.chat.send("/warmup alice")
    progress = await harness.chat.wait_for_reply()
    await harness.chat.wait_until(progress, "wait 30", timeout=30)
    await harness.app.stop()
    stopped = await harness.chat.wait_until(progress, "Interrupted", timeout=30)
    assert "Resume" in stopped.buttons

    restarted = await start_bot(profiles=["alice"], scenarios={"slow": SMOKE})
    assert await restarted.chat.press(stopped, "Resume") == "Resuming 1 profile."
    resumed = await restarted.chat.wait_for_message(
        lambda m: "Warmup #1" in m.text and m.message_id > stopped.message_id
    )
    await restarted.chat.wait_until(resumed, "Completed", timeout=60)
    assert harness.site.profiles_on("/feed") == ["alice", "alice"]
    with restarted.db():
        run = await WarmupRun.get(task_id=1)
        assert run.status == RunStatus.succeeded
        task = await WarmupTask.get(id=1)
        assert task.started_at is not None and run.started_at is not None
        assert task.started_at < run.started_at, "a resume keeps the task's first start"


async def test_someone_not_in_admin_ids_is_refused_and_nothing_runs(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    stranger = harness.chat_for(CHAT_ID + 1, user_id=ADMIN_ID + 1)
    await stranger.send("/warmup all smoke")
    reply = await stranger.wait_for_reply()
    assert "private" in reply.text  # refused before any handler: nothing can start after it
    assert harness.site.visits == []
    with harness.db():
        assert await WarmupTask.all().count() == 0

    await harness.chat.send("/warmup alice")
    progress = await harness.chat.wait_for_reply()
    intruder = harness.chat_for(CHAT_ID, user_id=ADMIN_ID + 1)
    answer = await intruder.press(progress, "Cancel")
    assert answer is not None and "private" in answer
    await harness.chat.wait_until(progress, "Completed", timeout=60)


async def test_a_failing_run_is_tried_max_attempts_times_and_reported_once(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(
        profiles=[{"name": "bad", "vars": {"page": "broken"}}],
        scenarios={"pages": PAGE_BY_VAR},
        max_attempts=3,
    )
    chat = harness.chat
    await chat.send("/warmup bad")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "Failed", timeout=60)
    await harness.settled()
    assert harness.site.profiles_on("/broken") == ["bad", "bad", "bad"]
    failures = [m for m in chat.bot_messages if m.photo is not None]
    assert len(failures) == 1
    with harness.db():
        run = await WarmupRun.get(task_id=1)
        assert (run.status, run.attempts) == (RunStatus.failed, 3)


async def test_a_run_past_run_timeout_is_stopped_and_failed_with_that_reason(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"slow": SLOW}, run_timeout=2)
    chat = harness.chat
    await chat.send("/warmup alice")
    progress = await chat.wait_for_reply()
    failure = await chat.wait_for_message(lambda m: m.photo is not None, timeout=30)
    assert "run timed out after 2 s" in failure.text
    assert "steps[1] (wait 30" in failure.text
    await chat.wait_until(progress, "Failed", timeout=30)
    assert harness.app.browser is not None and harness.app.browser.open_contexts == 0


async def test_the_trace_button_sends_the_failed_runs_playwright_trace(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(
        profiles=[{"name": "bad", "vars": {"page": "broken"}}], scenarios={"pages": PAGE_BY_VAR}
    )
    chat = harness.chat
    await chat.send("/warmup bad")
    failure = await chat.wait_for_message(lambda m: m.photo is not None, timeout=60)

    assert await chat.press(failure, "Trace") is None
    trace = await chat.wait_for_message(lambda m: m.document is not None)
    assert trace.document_name == "task1-bad-1.zip"
    assert "playwright show-trace task1-bad-1.zip" in trace.text
    with zipfile.ZipFile(io.BytesIO(trace.document or b"")) as archive:
        names = archive.namelist()
    assert any(name.endswith(".trace") for name in names), names

    (harness.settings.artifacts_dir / "task1-bad-1.zip").unlink()
    answer = await chat.press(failure, "Trace")
    assert answer is not None and "gone" in answer


async def test_a_command_line_task_left_running_is_marked_but_no_chat_is_told(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    harness.fake.add_chat(CHAT_ID)
    with harness.db():
        task = await WarmupTask.create(
            chat_id=COMMAND_LINE_CHAT, target="alice", scenario="smoke", status="running"
        )
        # Older than a lease's time to live: a `try` that had not taken its lease yet
        # would be this young, and recovery leaves such a task alone.
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        await WarmupTask.filter(id=task.id).update(created_at=an_hour_ago)
        chat_task = await WarmupTask.create(
            chat_id=CHAT_ID, target="alice", scenario="smoke", status="running"
        )
        alice = await Profile.get(name="alice")
        await WarmupRun.create(task=chat_task, profile=alice, status=RunStatus.running)
    await harness.app.stop()

    restarted = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE}, auto_resume=True)
    resumed = await restarted.chat.wait_for_message(lambda m: m.text.startswith("Warmup #2"))
    await restarted.chat.wait_until(resumed, "Completed", timeout=60)
    # The final state is shown as soon as the task ends, maybe before the outbox has
    # sent its notices: wait until everything bound for Telegram has gone.
    await restarted.settled()
    with restarted.db():
        task = await WarmupTask.get(chat_id=COMMAND_LINE_CHAT)
        assert task.status == TaskStatus.interrupted
    sent_to = {call.params.get("chat_id") for call in restarted.fake.calls}
    assert COMMAND_LINE_CHAT not in sent_to


async def test_by_default_a_run_is_traced_on_its_first_retry_only(start_bot: StartBot) -> None:
    harness = await start_bot(
        profiles=[{"name": "bad", "vars": {"page": "broken"}}],
        scenarios={"pages": PAGE_BY_VAR},
        trace="on-first-retry",
        max_attempts=2,
    )
    chat = harness.chat
    await chat.send("/warmup bad")
    failure = await chat.wait_for_message(lambda m: m.photo is not None, timeout=60)
    assert failure.buttons == ["Retry", "Trace"]
    artifacts = sorted(path.name for path in harness.settings.artifacts_dir.iterdir())
    assert artifacts == ["task1-bad-1.png", "task1-bad-2.png", "task1-bad-2.zip"]

    await chat.press(failure, "Retry")
    retried = await chat.wait_for_message(
        lambda m: m.photo is not None and "Warmup #2" in m.text, timeout=60
    )
    assert retried.buttons == ["Retry", "Trace"]


async def test_with_trace_off_no_attempt_is_traced(start_bot: StartBot) -> None:
    harness = await start_bot(
        profiles=[{"name": "bad", "vars": {"page": "broken"}}],
        scenarios={"pages": PAGE_BY_VAR},
        trace="off",
        max_attempts=2,
    )
    await harness.chat.send("/warmup bad")
    failure = await harness.chat.wait_for_message(lambda m: m.photo is not None, timeout=60)
    assert failure.buttons == ["Retry"]
    assert not list(harness.settings.artifacts_dir.glob("*.zip"))
