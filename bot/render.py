"""Telegram texts (HTML) for tasks: the live progress message, details and failure captions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from aiogram import html

from models import RunStatus
from warmup.i18n import _, ngettext
from warmup.status_words import run_status_word, task_headline
from warmup.views import RunView, TaskView

MAX_PROFILE_LINES = 20
BAR_WIDTH = 16
ERROR_PREVIEW = 90
MESSAGE_LIMIT = 4096
SHOWN_TARGET = 100
"""A task's target in its title: it may be a list of hundreds of names."""
SHOWN_STEP = 100
SHOWN_ERROR = 150
"""A failed run's step and error in a list of runs: ten of them make a page."""
MAX_PROBLEM_LINES = 20
PROBLEM_PREVIEW = 400

RUN_ICONS = {
    RunStatus.queued: "⏳",
    RunStatus.running: "▶️",
    RunStatus.succeeded: "✅",
    RunStatus.failed: "❌",
    RunStatus.cancelled: "⏹",
    RunStatus.interrupted: "⏸",
}


def title_line(view: TaskView) -> str:
    title = _("<b>Warmup #{task_id}</b>").format(task_id=view.task_id)
    target = shorten(view.target, SHOWN_TARGET)
    return f"{title} · {html.quote(view.scenario)} · {html.quote(target)}"


def format_duration(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes:02}:{seconds:02}"


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    filled = round(width * done / total) if total else 0
    return "▓" * filled + "░" * (width - filled)


def elapsed(view: TaskView, now: datetime) -> timedelta:
    start = view.started_at or view.created_at
    return (view.finished_at or now) - start


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_progress(view: TaskView, now: datetime) -> str:
    counts = view.counts
    total = view.total
    done = total - counts[RunStatus.queued] - counts[RunStatus.running]
    lines = [
        title_line(view),
        f"{task_headline(view.status)} · {format_duration(elapsed(view, now))}",
        f"{progress_bar(done, total)} {done}/{total}",
        summary_line(view),
    ]
    if view.runs and total <= MAX_PROFILE_LINES:
        lines.append("")
        lines.extend(profile_line(run) for run in view.runs)
    return "\n".join(lines)


def summary_line(view: TaskView) -> str:
    counts = view.counts
    parts = [
        "✅ " + _("done {count}").format(count=counts[RunStatus.succeeded]),
        "❌ " + _("failed {count}").format(count=counts[RunStatus.failed]),
        "▶️ " + _("running {count}").format(count=counts[RunStatus.running]),
        "⏳ " + _("queued {count}").format(count=counts[RunStatus.queued]),
    ]
    for status in (RunStatus.cancelled, RunStatus.interrupted):
        if counts[status]:
            parts.append(f"{RUN_ICONS[status]} {run_status_word(status)} {counts[status]}")
    return " · ".join(parts)


def profile_line(run: RunView) -> str:
    line = f"{RUN_ICONS[run.status]} {html.quote(run.profile)}"
    if run.status == RunStatus.running:
        if run.attempts > 1:
            line += " " + _("(attempt {attempt})").format(attempt=run.attempts)
        if run.step:
            line += f" — {html.quote(shorten(run.step, ERROR_PREVIEW))}"
    elif run.status == RunStatus.failed and run.error:
        line += f" — {html.quote(shorten(run.error, ERROR_PREVIEW))}"
    return line


def render_runs(
    view: TaskView, runs: Sequence[RunView], now: datetime, *, only_failed: bool, page_line: str
) -> str:
    """One page of a task's runs, profile by profile, failures with their step and error."""
    lines = [
        title_line(view),
        f"{task_headline(view.status)} · {format_duration(elapsed(view, now))}",
        summary_line(view),
        "",
    ]
    if not runs:
        lines.append(_("No failed runs.") if only_failed else _("No runs."))
    for run in runs:
        duration = ""
        if run.started_at:
            duration = f", {format_duration((run.finished_at or now) - run.started_at)}"
        attempts = _("attempts {count}").format(count=run.attempts)
        lines.append(
            f"{RUN_ICONS[run.status]} <b>{html.quote(run.profile)}</b>: "
            f"{run_status_word(run.status)}, {attempts}{duration}"
        )
        if run.status == RunStatus.running and run.step:
            lines.append("   " + html.quote(shorten(run.step, SHOWN_STEP)))
        if run.status == RunStatus.failed:
            if run.failed_step:
                step = html.quote(shorten(run.failed_step, SHOWN_STEP))
                lines.append("   " + _("step: {step}").format(step=step))
            if run.error:
                error = html.quote(shorten(run.error, SHOWN_ERROR))
                lines.append("   " + _("error: {error}").format(error=error))
    if page_line:
        lines.extend(["", page_line])
    return "\n".join(lines)


def fit(lines: list[str], limit: int) -> str:
    """Join lines, dropping whole lines from the end (never cutting a tag) to stay under limit."""
    text = "\n".join(lines)
    while len(text) > limit and len(lines) > 1:
        lines = [*lines[:-2], "…"]
        text = "\n".join(lines)
    return text


def problem_lines(problems: list[str], budget: int, most: int = MAX_PROBLEM_LINES) -> list[str]:
    """Each problem (a line of a file's errors) HTML-quoted on its own line: the first ones,
    at most `most` of them and `budget` characters in all, then "… and K more"."""
    lines: list[str] = []
    used = 0
    for index, problem in enumerate(problems):
        line = "• " + html.quote(shorten(problem, PROBLEM_PREVIEW))
        left = len(problems) - index
        room = budget - used - (40 if left > 1 else 0)  # 40: room for the "and K more" line
        if index == most or len(line) > room:
            lines.append(
                ngettext("… and {count} more", "… and {count} more", left).format(count=left)
            )
            break
        lines.append(line)
        used += len(line) + 1
    return lines


def render_failure(
    task_id: int, profile: str, step: str | None, error: str, *, session_expired: bool = False
) -> str:
    where = html.quote(shorten(step, 300)) if step else _("before the first step")
    lines = [
        "❌ "
        + _("<b>Warmup #{task_id}</b> · profile <b>{profile}</b> failed").format(
            task_id=task_id, profile=html.quote(profile)
        ),
        _("Step: {step}").format(step=where),
        _("Error: {error}").format(error=html.quote(shorten(error, 600))),
    ]
    if session_expired:
        lines.append(
            "🔑 "
            + _(
                "The session expired: send the profile's storage-state file as a document "
                "with the caption <code>/import {profile}</code>."
            ).format(profile=html.quote(profile))
        )
    return "\n".join(lines)
