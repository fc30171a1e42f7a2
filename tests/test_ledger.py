"""The ledger: every status change a compare-and-set, the outbox written with it, races
refused rather than overwriting the truth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from models import (
    COMMAND_LINE_CHAT,
    NoticeKind,
    OutboxMessage,
    Profile,
    ProfileLease,
    RunStatus,
    TaskStatus,
    WarmupRun,
    WarmupTask,
)
from models.database import open_database
from warmup.attempt import AttemptFailure
from warmup.clock import utcnow
from warmup.events import Event, EventBus, RunFinished, TaskFinished, TaskSubmitted
from warmup.ledger import RUN_MOVES, TASK_MOVES, Ledger, RunRef, TaskRef

CHAT = 5001
ALERT = -7007
PLAYER = "bot@test"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[None]:
    """On SQLite and on PostgreSQL: the compare-and-sets must hold on both."""
    async with open_database(database_url):
        yield


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Event]:
        return [event for event in self.events if isinstance(event, kind)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def ledger(recorder: Recorder) -> Ledger:
    events = EventBus()
    events.subscribe(recorder)
    return Ledger(events, player=PLAYER, alert_chat_ids=[ALERT])


async def new_task(
    ledger: Ledger, names: list[str], chat_id: int = CHAT
) -> tuple[TaskRef, list[RunRef]]:
    """A task of these profiles, started: (task, its runs)."""
    ids = [(await Profile.get_or_create(name=name))[0].id for name in names]
    task = await ledger.create_task(
        chat_id=chat_id,
        user_id=1,
        target=",".join(names),
        scenario="smoke",
        language="en",
        profile_ids=ids,
    )
    started = await ledger.start_task(task.id)
    assert started is not None
    ref, queued = started
    return ref, [run.ref for run in queued]


async def status_of(task: TaskRef) -> tuple[TaskStatus, list[RunStatus]]:
    row = await WarmupTask.get(id=task.task_id)
    runs = await WarmupRun.filter(task_id=task.task_id).order_by("id")
    return row.status, [run.status for run in runs]


def test_the_moves_are_written_once_and_ended_statuses_have_none() -> None:
    for ended in (TaskStatus.completed, TaskStatus.failed, TaskStatus.cancelled):
        assert TASK_MOVES[ended] == frozenset()
    for ended in (RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled):
        assert RUN_MOVES[ended] == frozenset()
    assert set(TASK_MOVES) == set(TaskStatus) and set(RUN_MOVES) == set(RunStatus)
    assert TaskStatus.pending in TASK_MOVES[TaskStatus.interrupted], "Resume"
    assert RunStatus.queued in RUN_MOVES[RunStatus.interrupted], "Resume"


async def test_a_task_runs_to_completed_and_says_so_once(
    database: None, ledger: Ledger, recorder: Recorder
) -> None:
    task, (alice, bob) = await new_task(ledger, ["alice", "bob"])
    assert recorder.of(TaskSubmitted) == [TaskSubmitted(task.task_id, CHAT)]
    for run in (alice, bob):
        assert await ledger.begin_attempt(run, 1)
        assert await ledger.succeed_run(run, 1)
    assert await ledger.finish_task(task) == TaskStatus.completed
    assert await status_of(task) == (TaskStatus.completed, [RunStatus.succeeded] * 2)
    assert recorder.of(TaskFinished) == [TaskFinished(task.task_id, TaskStatus.completed)]


async def test_cancel_of_a_task_that_just_completed_is_refused_and_changes_nothing(
    database: None, ledger: Ledger, recorder: Recorder
) -> None:
    task, (run,) = await new_task(ledger, ["alice"])
    await ledger.begin_attempt(run, 1)
    await ledger.succeed_run(run, 1)
    await ledger.finish_task(task)

    assert await ledger.cancel_task(task.task_id) is False
    assert await status_of(task) == (TaskStatus.completed, [RunStatus.succeeded])
    assert [event.status for event in recorder.of(TaskFinished)] == [TaskStatus.completed]


async def test_a_cancel_wins_over_the_engine_that_comes_after_it(
    database: None, ledger: Ledger
) -> None:
    task, (playing, waiting) = await new_task(ledger, ["alice", "bob"])
    await ledger.begin_attempt(playing, 1)

    assert await ledger.cancel_task(task.task_id)
    assert await status_of(task) == (TaskStatus.cancelled, [RunStatus.cancelled] * 2)
    # The engine finds every later write refused: the truth stays "cancelled".
    assert await ledger.succeed_run(playing, 1) is False
    assert await ledger.begin_attempt(waiting, 1) is False
    assert await ledger.finish_task(task) is None
    assert await status_of(task) == (TaskStatus.cancelled, [RunStatus.cancelled] * 2)


async def test_a_task_cancelled_before_the_engine_came_to_it_never_starts(
    database: None, ledger: Ledger
) -> None:
    profile, _ = await Profile.get_or_create(name="alice")
    task = await ledger.create_task(
        chat_id=CHAT,
        user_id=1,
        target="alice",
        scenario="smoke",
        language="en",
        profile_ids=[profile.id],
    )
    assert await ledger.cancel_task(task.id)
    assert await ledger.start_task(task.id) is None
    assert await status_of(TaskRef.of(task)) == (TaskStatus.cancelled, [RunStatus.cancelled])


async def test_resume_pressed_twice_at_once_reopens_the_task_once(
    database: None, ledger: Ledger, recorder: Recorder
) -> None:
    task, (done, cut) = await new_task(ledger, ["alice", "bob"])
    await ledger.begin_attempt(done, 1)
    await ledger.succeed_run(done, 1)
    await ledger.begin_attempt(cut, 1)
    assert await ledger.stop_task(task, TaskStatus.interrupted)

    first, second = await asyncio.gather(
        ledger.reopen_task(task.task_id), ledger.reopen_task(task.task_id)
    )
    assert sorted([first, second], key=str) == [1, None]
    assert await status_of(task) == (TaskStatus.pending, [RunStatus.succeeded, RunStatus.queued])
    assert [event.resumed for event in recorder.of(TaskSubmitted)] == [False, True]


async def test_a_run_is_claimed_once_however_many_of_its_messages_arrive(
    database: None, ledger: Ledger
) -> None:
    task, (run,) = await new_task(ledger, ["alice"])
    other = Ledger(EventBus(), player="w2")
    claims = await asyncio.gather(
        ledger.claim_run(run), other.claim_run(run), ledger.claim_run(run), other.claim_run(run)
    )
    assert sorted(claims) == [False, False, False, True]
    winner = PLAYER if claims[0] or claims[2] else "w2"
    assert (await WarmupRun.get(id=run.run_id)).played_by == winner
    assert not await ledger.claim_run(run), "a message of a run claimed here is dropped too"

    # Interrupted and resumed, the run is nobody's again: any worker may claim it.
    assert await ledger.stop_task(task, TaskStatus.interrupted)
    assert await ledger.reopen_task(task.task_id) == 1
    started = await ledger.start_task(task.task_id)
    assert started is not None
    assert (await WarmupRun.get(id=run.run_id)).played_by is None
    assert await other.claim_run(run)


async def test_a_final_failure_queues_its_notice_in_the_same_change(
    database: None, ledger: Ledger
) -> None:
    _, (run,) = await new_task(ledger, ["alice"])
    failure = AttemptFailure("steps[0] (goto x)", "HTTP 500", Path("shot.png"), Path("t.zip"))
    await ledger.begin_attempt(run, 1)
    assert await ledger.fail_attempt(run, 1, failure, final=False)
    assert await OutboxMessage.all().count() == 0, "an attempt with another to come tells nobody"
    assert await ledger.begin_attempt(run, 2)
    assert await ledger.fail_attempt(run, 2, failure, final=True)

    notices = await OutboxMessage.all().order_by("id")
    assert [(notice.chat_id, notice.kind) for notice in notices] == [
        (CHAT, NoticeKind.run_failed),
        (ALERT, NoticeKind.run_failed),
    ]
    assert notices[0].payload == {
        "run_id": run.run_id,
        "profile": "alice",
        "step": "steps[0] (goto x)",
        "error": "HTTP 500",
        "screenshot": "shot.png",
        "trace": True,
        "session_expired": False,
    }
    stored = await WarmupRun.get(id=run.run_id)
    assert (stored.status, stored.attempts, stored.error) == (RunStatus.failed, 2, "HTTP 500")
    assert await ledger.fail_attempt(run, 2, failure, final=True) is False, "told once"
    assert await OutboxMessage.all().count() == 2


async def test_a_command_line_failure_tells_no_chat(database: None, ledger: Ledger) -> None:
    _, (run,) = await new_task(ledger, ["alice"], chat_id=COMMAND_LINE_CHAT)
    await ledger.begin_attempt(run, 1)
    await ledger.fail_attempt(run, 1, AttemptFailure(None, "boom"), final=True)
    assert await OutboxMessage.all().count() == 0


async def test_an_expired_session_marks_the_profile_and_a_success_clears_it(
    database: None, ledger: Ledger
) -> None:
    _, (run,) = await new_task(ledger, ["alice"])
    await ledger.begin_attempt(run, 1)
    expired = AttemptFailure("logged_in", "session expired: no #account", session_expired=True)
    await ledger.fail_attempt(run, 1, expired, final=True)
    assert (await Profile.get(name="alice")).session_expired is True

    _, (again,) = await new_task(ledger, ["alice"])
    await ledger.begin_attempt(again, 1)
    await ledger.succeed_run(again, 1)
    assert (await Profile.get(name="alice")).session_expired is False


async def test_stopping_a_task_stops_only_what_had_not_ended(
    database: None, ledger: Ledger, recorder: Recorder
) -> None:
    task, (done, playing, _waiting) = await new_task(ledger, ["a", "b", "c"])
    await ledger.begin_attempt(done, 1)
    await ledger.succeed_run(done, 1)
    await ledger.begin_attempt(playing, 1)

    assert await ledger.stop_task(task, TaskStatus.interrupted)
    assert await status_of(task) == (
        TaskStatus.interrupted,
        [RunStatus.succeeded, RunStatus.interrupted, RunStatus.interrupted],
    )
    stopped = {event.profile for event in recorder.of(RunFinished)} - {"a"}
    assert stopped == {"b", "c"}
    assert await ledger.stop_task(task, TaskStatus.interrupted) is False


async def test_recovery_interrupts_what_a_dead_process_left_and_tells_the_chat(
    database: None, ledger: Ledger
) -> None:
    owner = "bot@test"
    left, (run,) = await new_task(ledger, ["alice"])
    await ledger.begin_attempt(run, 1)
    now = utcnow()
    await ProfileLease.create(
        profile_id=run.profile_id,
        owner=owner,
        run_id=run.run_id,
        acquired_at=now,
        expires_at=now + timedelta(seconds=30),
    )

    interrupted = await ledger.recover(owner, lease_ttl=30, notify=True)
    assert [task.id for task in interrupted] == [left.task_id]
    assert await status_of(left) == (TaskStatus.interrupted, [RunStatus.interrupted])
    assert await ProfileLease.all().count() == 0, "the dead bot's own lease is released"
    notice = await OutboxMessage.get(task_id=left.task_id)
    assert (notice.chat_id, notice.kind, notice.payload) == (
        CHAT,
        NoticeKind.task_interrupted,
        {"auto_resume": False},
    )
    assert await ledger.recover(owner, lease_ttl=30, notify=True) == []


async def test_recovery_leaves_alone_a_task_another_live_process_plays(
    database: None, ledger: Ledger
) -> None:
    playing, (run,) = await new_task(ledger, ["alice"], chat_id=COMMAND_LINE_CHAT)
    await ledger.begin_attempt(run, 1)
    await WarmupTask.filter(id=playing.task_id).update(created_at=utcnow() - timedelta(hours=1))
    now = utcnow()
    await ProfileLease.create(
        profile_id=run.profile_id,
        owner="try@elsewhere:42",
        run_id=run.run_id,
        acquired_at=now,
        expires_at=now + timedelta(seconds=30),
    )
    starting, _ = await new_task(ledger, ["bob"], chat_id=COMMAND_LINE_CHAT)

    assert await ledger.recover("bot@test", lease_ttl=30, notify=True) == []
    assert await status_of(playing) == (TaskStatus.running, [RunStatus.running])
    assert (await status_of(starting))[0] == TaskStatus.running, "too young to judge"
    assert await OutboxMessage.all().count() == 0

    await ProfileLease.filter(run_id=run.run_id).update(expires_at=now - timedelta(seconds=1))
    recovered = await ledger.recover("bot@test", lease_ttl=30, notify=True)
    assert [task.id for task in recovered] == [playing.task_id]
    assert await OutboxMessage.all().count() == 0, "the command line has no chat to tell"
