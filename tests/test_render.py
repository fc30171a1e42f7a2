"""Progress rendering: pure functions of a task snapshot."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from bot.render import (
    MAX_PROFILE_LINES,
    format_duration,
    problem_lines,
    progress_bar,
    render_failure,
    render_progress,
)
from models import RunStatus, TaskStatus
from warmup.views import RunView, TaskView

START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def run(profile: str, status: RunStatus, **fields: object) -> RunView:
    values: dict[str, object] = {
        "run_id": 1,
        "profile": profile,
        "status": status,
        "attempts": 1,
        "step": None,
        "failed_step": None,
        "error": None,
        "started_at": START,
        "finished_at": None,
    }
    values.update(fields)
    return RunView(**values)  # type: ignore[arg-type]


def task(
    runs: list[RunView], status: TaskStatus = TaskStatus.running, **fields: object
) -> TaskView:
    values: dict[str, object] = {
        "task_id": 7,
        "chat_id": 1,
        "target": "all",
        "scenario": "smoke",
        "language": "en",
        "status": status,
        "created_at": START,
        "started_at": START,
        "finished_at": None,
        "counts": Counter(run.status for run in runs),
        "runs": tuple(runs),
    }
    values.update(fields)
    return TaskView(**values)  # type: ignore[arg-type]


def test_running_task_shows_counts_bar_elapsed_and_a_line_per_profile() -> None:
    view = task(
        [
            run("alice", RunStatus.succeeded),
            run("bob", RunStatus.failed, error="HTTP 500 at http://x/broken"),
            run("carol", RunStatus.running, step="click a.item"),
            run("dave", RunStatus.queued),
        ]
    )
    text = render_progress(view, START + timedelta(seconds=75))
    lines = text.splitlines()
    assert lines[0] == "<b>Warmup #7</b> · smoke · all"
    assert lines[1] == "Running · 01:15"
    assert lines[2] == "▓▓▓▓▓▓▓▓░░░░░░░░ 2/4"
    assert lines[3] == "✅ done 1 · ❌ failed 1 · ▶️ running 1 · ⏳ queued 1"
    assert lines[5:] == [
        "✅ alice",
        "❌ bob — HTTP 500 at http://x/broken",
        "▶️ carol — click a.item",
        "⏳ dave",
    ]


def test_a_retried_run_shows_its_attempt() -> None:
    view = task([run("alice", RunStatus.running, attempts=2, step="goto x")])
    assert "▶️ alice (attempt 2) — goto x" in render_progress(view, START)


def test_finished_task_uses_its_own_duration() -> None:
    view = task(
        [run("alice", RunStatus.succeeded)],
        status=TaskStatus.completed,
        finished_at=START + timedelta(seconds=3),
    )
    text = render_progress(view, START + timedelta(hours=5))
    assert "Completed · 00:03" in text


def test_more_than_twenty_profiles_shows_only_the_summary() -> None:
    runs = [run(f"p{i}", RunStatus.queued) for i in range(MAX_PROFILE_LINES + 1)]
    text = render_progress(task(runs), START)
    assert "p0" not in text
    assert "⏳ queued 21" in text
    assert len(text.splitlines()) == 4


def test_names_and_errors_from_outside_are_escaped() -> None:
    view = task([run("a<b>", RunStatus.failed, error="<script>&")], target="x<y")
    text = render_progress(view, START)
    assert "a&lt;b&gt;" in text
    assert "&lt;script&gt;&amp;" in text
    assert "x&lt;y" in text


def test_cancelled_and_interrupted_runs_are_counted() -> None:
    view = task(
        [run("a", RunStatus.cancelled), run("b", RunStatus.interrupted)],
        status=TaskStatus.cancelled,
    )
    assert "⏹ cancelled 1 · ⏸ interrupted 1" in render_progress(view, START)


def test_duration_and_bar_edges() -> None:
    assert format_duration(timedelta(seconds=3725)) == "1:02:05"
    assert format_duration(timedelta(seconds=-5)) == "00:00"
    assert progress_bar(0, 0) == "░" * 16
    assert progress_bar(3, 3) == "▓" * 16


def test_failure_caption_names_task_profile_step_and_error() -> None:
    caption = render_failure(3, "bob", "steps[0] (goto http://x)", "HTTP 500 at http://x")
    assert caption.splitlines() == [
        "❌ <b>Warmup #3</b> · profile <b>bob</b> failed",
        "Step: steps[0] (goto http://x)",
        "Error: HTTP 500 at http://x",
    ]
    assert "before the first step" in render_failure(3, "bob", None, "browser crashed")


def test_problem_lines_quote_each_problem_and_count_what_does_not_fit() -> None:
    problems = [f"a.yaml: steps[{index}]: <bad> & wrong" for index in range(30)]
    lines = problem_lines(problems, budget=10_000, most=5)
    assert lines[0] == "• a.yaml: steps[0]: &lt;bad&gt; &amp; wrong"
    assert lines[5:] == ["… and 25 more"]
    fitted = problem_lines(problems, budget=200)
    assert len("\n".join(fitted)) <= 200
    assert fitted[-1] == f"… and {30 - len(fitted) + 1} more"
    assert problem_lines(problems[:2], budget=10_000) == [
        "• a.yaml: steps[0]: &lt;bad&gt; &amp; wrong",
        "• a.yaml: steps[1]: &lt;bad&gt; &amp; wrong",
    ]
