"""The words of the outbox's notifications: each row's facts, worded in its language."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiogram import html
from aiogram.types import InlineKeyboardMarkup

from bot.render import MESSAGE_LIMIT, fit, render_failure, shorten
from handlers.keyboards import failure_keyboard, folded_failures_keyboard, resume_keyboard
from handlers.schedules import schedule_error_text
from models import NoticeKind, OutboxMessage
from warmup.i18n import _, ngettext

FOLDED_ERROR_PREVIEW = 120


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for one chat, worded."""

    text: str
    keyboard: InlineKeyboardMarkup | None = None
    photo: Path | None = None


def word_notice(row: OutboxMessage) -> Outgoing:
    """One row as its message; call inside the row's locale."""
    payload = row.payload
    match row.kind:
        case NoticeKind.run_failed:
            screenshot = payload.get("screenshot")
            return Outgoing(
                render_failure(
                    row.task_id or 0,
                    payload["profile"],
                    payload.get("step"),
                    payload["error"],
                    session_expired=bool(payload.get("session_expired")),
                ),
                failure_keyboard(payload["run_id"], with_trace=bool(payload.get("trace"))),
                Path(screenshot) if screenshot else None,
            )
        case NoticeKind.task_interrupted if payload.get("auto_resume"):
            return Outgoing(
                "▶️ "
                + _(
                    "Warmup #{task_id} was interrupted when the bot stopped; "
                    "resuming it (AUTO_RESUME)."
                ).format(task_id=row.task_id)
            )
        case NoticeKind.task_interrupted:
            return Outgoing(
                "⏸ "
                + _(
                    "Warmup #{task_id} was interrupted when the bot stopped. "
                    "Resume plays the profiles that had not finished."
                ).format(task_id=row.task_id),
                resume_keyboard(row.task_id or 0),
            )
        case NoticeKind.resume_refused:
            return Outgoing(
                "⏸ "
                + _("Warmup #{task_id} was interrupted and could not be resumed: {error}").format(
                    task_id=row.task_id, error=html.quote(payload["error"])
                )
            )
        case NoticeKind.schedule_failed:
            return Outgoing(
                schedule_error_text(
                    payload["schedule_id"],
                    payload["scenario"],
                    payload["target"],
                    payload["reason"],
                )
            )
    raise ValueError(f"unknown notice kind {row.kind!r}")


def word_folded_failures(task_id: int, rows: Sequence[OutboxMessage]) -> Outgoing:
    """Many failures of one task waiting for one chat, as one message instead of a photo
    each: what would take minutes under Telegram's limits arrives at once."""
    lines = [
        "❌ "
        + ngettext(
            "<b>Warmup #{task_id}</b>: {count} more profile failed",
            "<b>Warmup #{task_id}</b>: {count} more profiles failed",
            len(rows),
        ).format(task_id=task_id, count=len(rows)),
        "",
    ]
    for row in rows:
        step = row.payload.get("step")
        where = f" · {html.quote(shorten(step, 60))}" if step else ""
        error = html.quote(shorten(row.payload["error"], FOLDED_ERROR_PREVIEW))
        lines.append(f"• <b>{html.quote(row.payload['profile'])}</b>{where}: {error}")
    lines.append("")
    lines.append(_("Details lists every run; Restart failed plays them again."))
    return Outgoing(_fit_keeping_last(lines), folded_failures_keyboard(task_id))


def _fit_keeping_last(lines: list[str]) -> str:
    """Fit within a message, keeping the closing line after the cut."""
    closing = lines[-1]
    body = fit(lines[:-1], MESSAGE_LIMIT - len(closing) - 3)
    return f"{body}\n{closing}"
