"""Watching and steering tasks: /status, /tasks, /cancel and the task buttons."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from aiogram import Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.render import (
    elapsed,
    format_duration,
    render_runs,
    shorten,
    summary_line,
)
from bot.settings import Settings
from handlers.arguments import ArgumentError, parse_task_id
from handlers.callbacks import (
    RunAction,
    RunActionKind,
    RunsPage,
    TaskAction,
    TaskActionKind,
    TasksPage,
)
from handlers.pages import Page, chosen, keyboard, nav_row, show_in_place
from models import ACTIVE_TASK_STATUSES, RunStatus, WarmupRun, WarmupTask
from warmup.catalog import ScenarioChoiceError
from warmup.shared_files import local_artifact
from warmup.status_words import task_headline
from warmup.tasks import TaskError, TaskService
from warmup.views import TaskView, load_runs, load_task_views, task_view
from warmup.worker import live_workers

TASKS_PER_PAGE = 10
RUNS_PER_PAGE = 10
"""With each failure's step and error: ten of the longest stay under 4096 characters."""
SHOWN_SCENARIO = 40
SHOWN_TARGET = 60
SHOWN_PROFILE = 20
DOCUMENT_LIMIT = 50 * 1024 * 1024
"""The largest file a bot may send through the public Bot API."""


def task_line(view: TaskView, now: datetime) -> str:
    scenario = html.quote(shorten(view.scenario, SHOWN_SCENARIO))
    target = html.quote(shorten(view.target, SHOWN_TARGET))
    return (
        f"<b>#{view.task_id}</b> {scenario} · {target} — "
        f"{task_headline(view.status)} {format_duration(elapsed(view, now))}\n"
        f"   {summary_line(view)}"
    )


def no_such_task(task_id: int) -> str:
    return _("No task #{task_id} in this chat. /tasks lists them.").format(task_id=task_id)


def started(task_id: int) -> str:
    return _("Started task #{task_id}.").format(task_id=task_id)


async def chat_task(task_id: int, chat_id: int) -> WarmupTask | None:
    """A task of this chat; tasks of other chats do not exist from here."""
    return await WarmupTask.get_or_none(id=task_id, chat_id=chat_id)


async def show_status(
    message: Message,
    command: CommandObject,
    live_steps: Mapping[int, str],
    settings: Settings,
) -> None:
    if command.args:
        try:
            task_id = parse_task_id(command.args)
        except ArgumentError as error:
            await message.answer(f"⚠️ {error}. " + _("Usage: /status [task]"))
            return
        page = await runs_page(task_id, message.chat.id, live_steps, 1, only_failed=False)
        if page is None:
            await message.answer("⚠️ " + no_such_task(task_id))
            return
        text, markup = page
        await message.answer(text, reply_markup=markup)
        return
    text, markup = await tasks_page(message.chat.id, settings, 1, running=True)
    await message.answer(text, reply_markup=markup)


async def show_tasks(message: Message, settings: Settings) -> None:
    text, markup = await tasks_page(message.chat.id, settings, 1, running=False)
    await message.answer(text, reply_markup=markup)


async def on_tasks_page(
    callback: CallbackQuery, callback_data: TasksPage, settings: Settings
) -> None:
    chat_id = callback.message.chat.id if callback.message else None
    if chat_id is None:
        await callback.answer(_("This button is no longer valid."))
        return
    text, markup = await tasks_page(
        chat_id, settings, callback_data.page, running=callback_data.running
    )
    await show_in_place(callback, text, markup)


async def tasks_page(
    chat_id: int, settings: Settings, number: int, *, running: bool
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page of this chat's tasks, the latest first (or only the running ones, with the
    workers in the distributed mode): three queries whatever their number."""
    tasks = WarmupTask.filter(chat_id=chat_id)
    if running:
        tasks = tasks.filter(status__in=list(ACTIVE_TASK_STATUSES))
    page = Page.of(await tasks.count(), TASKS_PER_PAGE, number)
    views = await load_task_views(await tasks.offset(page.offset).limit(page.size))
    workers = await workers_line(settings) if running and settings.broker_url else ""
    if not views:
        empty = (
            _("Nothing is running. /tasks lists the latest tasks.")
            if running
            else _("No tasks yet. Start one with /warmup.")
        )
        return empty + workers, None
    now = datetime.now(UTC)
    lines = [_("<b>Running</b>") if running else _("<b>Latest tasks</b>")]
    lines.extend(task_line(view, now) for view in views)
    if page.line():
        lines.extend(["", page.line()])
    details = [
        InlineKeyboardButton(
            text=f"#{view.task_id}",
            callback_data=TaskAction(action=TaskActionKind.details, task_id=view.task_id).pack(),
        )
        for view in views
    ]
    markup = keyboard(
        nav_row(page, lambda number: TasksPage(page=number, running=running)),
        details[:5],
        details[5:],
    )
    return "\n".join(lines) + workers, markup


async def workers_line(settings: Settings) -> str:
    """The workers' part of /status in the distributed mode, on lines of its own."""
    alive = await live_workers(within=settings.lease_ttl)
    if not alive:
        return "\n\n⚠️ " + _(
            "No live worker: runs wait in the queue until one starts "
            "(<code>python -m bot worker</code>)."
        )
    sessions = sum(worker.sessions for worker in alive)
    capacity = sum(worker.capacity for worker in alive)
    return "\n\n" + _("Workers: {workers} alive, {sessions} of {capacity} sessions busy.").format(
        workers=len(alive), sessions=sessions, capacity=capacity
    )


async def on_runs_page(
    callback: CallbackQuery, callback_data: RunsPage, live_steps: Mapping[int, str]
) -> None:
    chat_id = callback.message.chat.id if callback.message else None
    page = (
        await runs_page(
            callback_data.task_id,
            chat_id,
            live_steps,
            callback_data.page,
            only_failed=callback_data.only_failed,
        )
        if chat_id is not None
        else None
    )
    if page is None:
        await callback.answer(_("This button is no longer valid: no such task in this chat."))
        return
    await show_in_place(callback, *page)


async def runs_page(
    task_id: int,
    chat_id: int,
    live_steps: Mapping[int, str],
    number: int,
    *,
    only_failed: bool,
) -> tuple[str, InlineKeyboardMarkup | None] | None:
    """A page of one task's runs, profile by profile (or of its failed ones), with Retry
    for each failed one on it; None when the chat has no such task. Four queries,
    whatever the task's size."""
    task = await chat_task(task_id, chat_id)
    if task is None:
        return None
    view = await task_view(task, live_steps)
    total = view.failed if only_failed else view.total
    page = Page.of(total, RUNS_PER_PAGE, number)
    runs = await load_runs(
        task_id, live_steps, only_failed=only_failed, offset=page.offset, limit=page.size
    )
    text = render_runs(
        view, runs, datetime.now(UTC), only_failed=only_failed, page_line=page.line()
    )
    filters = [
        InlineKeyboardButton(
            text=chosen(label, failed == only_failed),
            callback_data=RunsPage(task_id=task_id, page=1, only_failed=failed).pack(),
        )
        for label, failed in (
            (_("All ({count})").format(count=view.total), False),
            ("❌ " + _("Failed ({count})").format(count=view.failed), True),
        )
    ]
    retries = [
        InlineKeyboardButton(
            text=f"🔁 {shorten(run.profile, SHOWN_PROFILE)}",
            callback_data=RunAction(action=RunActionKind.retry, run_id=run.run_id).pack(),
        )
        for run in runs
        if run.status == RunStatus.failed
    ]
    markup = keyboard(
        nav_row(
            page,
            lambda number: RunsPage(task_id=task_id, page=number, only_failed=only_failed),
        ),
        filters if view.failed else [],
        *(retries[start : start + 2] for start in range(0, len(retries), 2)),
    )
    return text, markup


async def cancel_task(message: Message, command: CommandObject, tasks: TaskService) -> None:
    try:
        task_id = parse_task_id(command.args)
    except ArgumentError as error:
        await message.answer(f"⚠️ {error}. " + _("Usage: /cancel &lt;task&gt;"))
        return
    task = await chat_task(task_id, message.chat.id)
    if task is None:
        await message.answer("⚠️ " + no_such_task(task_id))
        return
    if await tasks.cancel(task):
        await message.answer(_("Task #{task_id} cancelled.").format(task_id=task_id))
    else:
        status = task_headline(task.status).lower()
        await message.answer(
            _("Task #{task_id} has already ended ({status}).").format(
                task_id=task_id, status=status
            )
        )


async def on_task_button(
    callback: CallbackQuery,
    callback_data: TaskAction,
    tasks: TaskService,
    live_steps: Mapping[int, str],
) -> None:
    chat_id = callback.message.chat.id if callback.message else None
    task = await chat_task(callback_data.task_id, chat_id) if chat_id is not None else None
    if task is None or chat_id is None:
        await callback.answer(_("This button is no longer valid: no such task in this chat."))
        return
    user_id = callback.from_user.id
    try:
        match callback_data.action:
            case TaskActionKind.cancel:
                cancelled = await tasks.cancel(task)
                await callback.answer(_("Cancelled.") if cancelled else _("Already ended."))
            case TaskActionKind.restart_failed | TaskActionKind.restart_all:
                only_failed = callback_data.action == TaskActionKind.restart_failed
                new_task = await tasks.restart(task, only_failed=only_failed, user_id=user_id)
                await callback.answer(started(new_task.id))
            case TaskActionKind.resume:
                resumed = await tasks.resume(task)
                await callback.answer(
                    ngettext(
                        "Resuming {count} profile.", "Resuming {count} profiles.", resumed
                    ).format(count=resumed)
                )
            case TaskActionKind.details:
                page = await runs_page(task.id, chat_id, live_steps, 1, only_failed=False)
                await callback.answer()
                if page is not None:
                    text, markup = page
                    await callback.bot.send_message(chat_id, text, reply_markup=markup)
    except (TaskError, ScenarioChoiceError) as error:
        await callback.answer(str(error)[:200], show_alert=True)


async def on_run_button(
    callback: CallbackQuery,
    callback_data: RunAction,
    tasks: TaskService,
    settings: Settings,
) -> None:
    chat_id = callback.message.chat.id if callback.message else None
    run = await WarmupRun.get_or_none(id=callback_data.run_id).prefetch_related("task", "profile")
    if run is None or chat_id is None or run.task.chat_id != chat_id:
        await callback.answer(_("This button is no longer valid: no such run in this chat."))
        return
    if callback_data.action == RunActionKind.trace:
        await send_trace(callback, run, chat_id, settings.artifacts_dir)
        return
    try:
        new_task = await tasks.retry_run(run, user_id=callback.from_user.id)
    except (TaskError, ScenarioChoiceError) as error:
        await callback.answer(str(error)[:200], show_alert=True)
        return
    await callback.answer(started(new_task.id))


async def send_trace(
    callback: CallbackQuery, run: WarmupRun, chat_id: int, artifacts_dir: Path
) -> None:
    """The run's Playwright trace as a document, when it is still there and small enough."""
    trace = await local_artifact(run.trace_path, artifacts_dir)
    if trace is None:
        await callback.answer(_("The trace of this run is gone (old traces are pruned)."))
        return
    size = trace.stat().st_size
    if size > DOCUMENT_LIMIT:
        await callback.answer(
            _(
                "The trace is {size} MB, over Telegram's 50 MB: "
                "find {name} in the bot's data folder."
            ).format(size=f"{size / 2**20:.0f}", name=trace.name),
            show_alert=True,
        )
        return
    await callback.answer()
    await callback.bot.send_document(
        chat_id,
        FSInputFile(trace),
        caption=_(
            "Trace of <b>{profile}</b> in warmup #{task_id}. "
            "Open it with <code>playwright show-trace {name}</code> "
            "or at trace.playwright.dev."
        ).format(
            profile=html.quote(run.profile.name), task_id=run.task.id, name=html.quote(trace.name)
        ),
    )


def create_router() -> Router:
    router = Router(name="tasks")
    router.message.register(show_status, Command("status"))
    router.message.register(show_tasks, Command("tasks"))
    router.message.register(cancel_task, Command("cancel"))
    router.callback_query.register(on_task_button, TaskAction.filter())
    router.callback_query.register(on_run_button, RunAction.filter())
    router.callback_query.register(on_tasks_page, TasksPage.filter())
    router.callback_query.register(on_runs_page, RunsPage.filter())
    return router
