"""Inline keyboards of the progress message and the failure notification."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.callbacks import RunAction, RunActionKind, TaskAction, TaskActionKind
from models import TaskStatus
from warmup.i18n import _
from warmup.views import TaskView


def progress_keyboard(view: TaskView) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if not view.finished:
        builder.button(
            text=_("Cancel"),
            callback_data=TaskAction(action=TaskActionKind.cancel, task_id=view.task_id),
        )
        return builder.as_markup()
    if view.status == TaskStatus.interrupted:
        builder.button(
            text=_("Resume"),
            callback_data=TaskAction(action=TaskActionKind.resume, task_id=view.task_id),
        )
    if view.failed:
        builder.button(
            text=_("Restart failed"),
            callback_data=TaskAction(action=TaskActionKind.restart_failed, task_id=view.task_id),
        )
    builder.button(
        text=_("Restart all"),
        callback_data=TaskAction(action=TaskActionKind.restart_all, task_id=view.task_id),
    )
    builder.button(
        text=_("Details"),
        callback_data=TaskAction(action=TaskActionKind.details, task_id=view.task_id),
    )
    builder.adjust(2)
    return builder.as_markup()


def failure_keyboard(run_id: int, *, with_trace: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("Retry"), callback_data=RunAction(action=RunActionKind.retry, run_id=run_id)
    )
    if with_trace:
        builder.button(
            text=_("Trace"), callback_data=RunAction(action=RunActionKind.trace, run_id=run_id)
        )
    return builder.as_markup()


def resume_keyboard(task_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("Resume"), callback_data=TaskAction(action=TaskActionKind.resume, task_id=task_id)
    )
    return builder.as_markup()


def folded_failures_keyboard(task_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("Restart failed"),
        callback_data=TaskAction(action=TaskActionKind.restart_failed, task_id=task_id),
    )
    builder.button(
        text=_("Details"),
        callback_data=TaskAction(action=TaskActionKind.details, task_id=task_id),
    )
    return builder.as_markup()
