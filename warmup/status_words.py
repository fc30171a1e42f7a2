"""Task and run statuses in words, in the reader's language: for the chat's messages and
for the engine's own refusals."""

from __future__ import annotations

from models import RunStatus, TaskStatus
from warmup.i18n import _


def task_headline(status: TaskStatus) -> str:
    headlines = {
        TaskStatus.pending: _("Queued"),
        TaskStatus.running: _("Running"),
        TaskStatus.completed: _("Completed"),
        TaskStatus.failed: _("Failed"),
        TaskStatus.cancelled: _("Cancelled"),
        TaskStatus.interrupted: _("Interrupted"),
    }
    return headlines[status]


def run_status_word(status: RunStatus) -> str:
    words = {
        RunStatus.queued: _("queued"),
        RunStatus.running: _("running"),
        RunStatus.succeeded: _("succeeded"),
        RunStatus.failed: _("failed"),
        RunStatus.cancelled: _("cancelled"),
        RunStatus.interrupted: _("interrupted"),
    }
    return words[status]
