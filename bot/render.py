"""Telegram texts (HTML) for tasks: the live progress message, details and failure captions."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiogram import html

from models import RunStatus, TaskStatus
from warmup.views import RunView, TaskView

MAX_PROFILE_LINES = 20
BAR_WIDTH = 16
ERROR_PREVIEW = 90
CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096

RUN_ICONS = {
    RunStatus.queued: "⏳",
    RunStatus.running: "▶️",
    RunStatus.succeeded: "✅",
    RunStatus.failed: "❌",
    RunStatus.cancelled: "⏹",
    RunStatus.interrupted: "⏸",
}
TASK_HEADLINES = {
    TaskStatus.pending: "Queued",
    TaskStatus.running: "Running",
    TaskStatus.completed: "Completed",
    TaskStatus.failed: "Failed",
    TaskStatus.cancelled: "Cancelled",
    TaskStatus.interrupted: "Interrupted",
}


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
    total = len(view.runs)
    done = total - counts[RunStatus.queued] - counts[RunStatus.running]
    lines = [
        f"<b>Warmup #{view.task_id}</b> · {html.quote(view.scenario)} · {html.quote(view.target)}",
        f"{TASK_HEADLINES[view.status]} · {format_duration(elapsed(view, now))}",
        f"{progress_bar(done, total)} {done}/{total}",
        summary_line(view),
    ]
    if total <= MAX_PROFILE_LINES:
        lines.append("")
        lines.extend(profile_line(run) for run in view.runs)
    return "\n".join(lines)


def summary_line(view: TaskView) -> str:
    counts = view.counts
    parts = [
        f"✅ done {counts[RunStatus.succeeded]}",
        f"❌ failed {counts[RunStatus.failed]}",
        f"▶️ running {counts[RunStatus.running]}",
        f"⏳ queued {counts[RunStatus.queued]}",
    ]
    for status in (RunStatus.cancelled, RunStatus.interrupted):
        if counts[status]:
            parts.append(f"{RUN_ICONS[status]} {status.value} {counts[status]}")
    return " · ".join(parts)


def profile_line(run: RunView) -> str:
    line = f"{RUN_ICONS[run.status]} {html.quote(run.profile)}"
    if run.status == RunStatus.running:
        if run.attempts > 1:
            line += f" (attempt {run.attempts})"
        if run.step:
            line += f" — {html.quote(shorten(run.step, ERROR_PREVIEW))}"
    elif run.status == RunStatus.failed and run.error:
        line += f" — {html.quote(shorten(run.error, ERROR_PREVIEW))}"
    return line


def render_details(view: TaskView, now: datetime) -> str:
    lines = [
        f"<b>Warmup #{view.task_id}</b> · {html.quote(view.scenario)} · {html.quote(view.target)}",
        f"{TASK_HEADLINES[view.status]} · {format_duration(elapsed(view, now))}",
        summary_line(view),
        "",
    ]
    for run in view.runs:
        duration = ""
        if run.started_at:
            duration = f", {format_duration((run.finished_at or now) - run.started_at)}"
        lines.append(
            f"{RUN_ICONS[run.status]} <b>{html.quote(run.profile)}</b>: {run.status.value}"
            f", attempts {run.attempts}{duration}"
        )
        if run.status == RunStatus.failed:
            if run.failed_step:
                lines.append(f"   step: {html.quote(shorten(run.failed_step, 200))}")
            if run.error:
                lines.append(f"   error: {html.quote(shorten(run.error, 300))}")
    return fit(lines, MESSAGE_LIMIT)


def fit(lines: list[str], limit: int) -> str:
    """Join lines, dropping whole lines from the end (never cutting a tag) to stay under limit."""
    text = "\n".join(lines)
    while len(text) > limit and len(lines) > 1:
        lines = [*lines[:-2], "…"]
        text = "\n".join(lines)
    return text


def render_failure(
    task_id: int, profile: str, step: str | None, error: str, *, session_expired: bool = False
) -> str:
    lines = [
        f"❌ <b>Warmup #{task_id}</b> · profile <b>{html.quote(profile)}</b> failed",
        f"Step: {html.quote(shorten(step, 300)) if step else 'before the first step'}",
        f"Error: {html.quote(shorten(error, 600))}",
    ]
    if session_expired:
        lines.append(
            f"🔑 The session expired: send the profile's storage-state file as a document "
            f"with the caption <code>/import {html.quote(profile)}</code>."
        )
    return "\n".join(lines)
