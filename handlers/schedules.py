"""/schedule and /schedules: warmups that start by themselves, and their buttons.

/schedules shows them a page at a time, each with its own Pause/Resume and Delete
buttons; a press shows the page again as it now is. The reply to /schedule has the same
buttons for that schedule alone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _

from handlers.arguments import ArgumentError
from handlers.callbacks import ScheduleAction, ScheduleActionKind, SchedulesPage
from handlers.pages import Page, keyboard, nav_row, show_in_place
from handlers.schedule_arguments import parse_schedule_args, schedule_usage
from models import Schedule
from warmup import i18n
from warmup.catalog import ScenarioChoiceError
from warmup.scheduler import Scheduler
from warmup.targets import TargetError, shown
from warmup.tasks import TaskError, TaskService
from warmup.timing import TimingError

MAX_SCHEDULES_PER_CHAT = 20
SCHEDULES_PER_PAGE = 5
SHOWN_TARGET = 100


def format_moment(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else _("none")


def format_jitter(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def render_schedule(schedule: Schedule) -> str:
    """The schedule in a few lines (HTML; what the operator typed is escaped)."""
    window = (
        f"{schedule.window_start}-{schedule.window_end} UTC"
        if schedule.window_start and schedule.window_end
        else _("any time of day")
    )
    jitter = format_jitter(schedule.jitter_seconds) if schedule.jitter_seconds else _("none")
    state = (
        "⏸ " + _("paused")
        if schedule.paused
        else _("next run {moment}").format(moment=format_moment(schedule.next_run_at))
    )
    last = format_moment(schedule.last_run_at) if schedule.last_run_at else _("never")
    text = _(
        "<b>Schedule #{schedule_id}</b> · {scenario} · {target}\n"
        "cron <code>{cron}</code> (UTC)\n"
        "window {window} · jitter {jitter}\n"
        "{state} · last run {last_run}"
    ).format(
        schedule_id=schedule.id,
        scenario=html.quote(schedule.scenario),
        target=html.quote(shown(schedule.target, SHOWN_TARGET)),
        cron=html.quote(schedule.cron),
        window=window,
        jitter=jitter,
        state=state,
        last_run=last,
    )
    return f"🗓 {text}"


def schedule_buttons(schedule: Schedule, page: int | None) -> list[InlineKeyboardButton]:
    """Pause (or Resume) and Delete; on a page of the list, they name the schedule."""
    toggle = ScheduleActionKind.resume if schedule.paused else ScheduleActionKind.pause
    labels = [_("Resume") if schedule.paused else _("Pause"), _("Delete")]
    if page is not None:
        labels = [f"{label} #{schedule.id}" for label in labels]
    return [
        InlineKeyboardButton(
            text=label,
            callback_data=ScheduleAction(action=action, schedule_id=schedule.id, page=page).pack(),
        )
        for label, action in zip(labels, (toggle, ScheduleActionKind.delete), strict=True)
    ]


def schedule_keyboard(schedule: Schedule) -> InlineKeyboardMarkup | None:
    return keyboard(schedule_buttons(schedule, None))


async def schedules_page(chat_id: int, number: int) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page of this chat's schedules with their buttons: two queries."""
    schedules = Schedule.filter(chat_id=chat_id)
    page = Page.of(await schedules.count(), SCHEDULES_PER_PAGE, number)
    shown = await schedules.offset(page.offset).limit(page.size)
    if not shown:
        return _("No schedules in this chat.") + "\n\n" + schedule_usage(), None
    parts = [render_schedule(schedule) for schedule in shown]
    if page.line():
        parts.append(page.line())
    markup = keyboard(
        *(schedule_buttons(schedule, page.number) for schedule in shown),
        nav_row(page, lambda number: SchedulesPage(page=number)),
    )
    return "\n\n".join(parts), markup


def schedule_error_text(schedule_id: int, scenario: str, target: str, reason: str) -> str:
    """The chat's notice when an occurrence could not start (sent from the outbox).

    Worded outside any update: so with the engine's translator (warmup.i18n, English
    when none is installed), which cannot raise for want of an update's I18n context as
    aiogram's gettext does."""
    text = i18n._(
        "Schedule #{schedule_id} ({scenario} · {target}) could not start: {reason}. "
        "It stays; /schedules shows it."
    ).format(
        schedule_id=schedule_id,
        scenario=html.quote(scenario),
        target=html.quote(shown(target, SHOWN_TARGET)),
        reason=html.quote(reason),
    )
    return f"⚠️ {text}"


async def create_schedule(
    message: Message,
    command: CommandObject,
    tasks: TaskService,
    scheduler: Scheduler,
    i18n: I18n,
) -> None:
    chat_id = message.chat.id
    if await Schedule.filter(chat_id=chat_id).count() >= MAX_SCHEDULES_PER_CHAT:
        full = ngettext(
            "This chat has {count} schedule, the most it may have: delete it in /schedules first.",
            "This chat has {count} schedules, the most it may have: "
            "delete one in /schedules first.",
            MAX_SCHEDULES_PER_CHAT,
        ).format(count=MAX_SCHEDULES_PER_CHAT)
        await message.answer(f"⚠️ {full}")
        return
    try:
        args = parse_schedule_args(command.args)
        scenario = tasks.check(args.target, args.scenario)
        schedule = await scheduler.create(
            chat_id=chat_id,
            user_id=message.from_user.id if message.from_user else None,
            target=args.target,
            scenario=scenario.name,
            timing=args.timing,
            language=i18n.current_locale,
        )
    except (ArgumentError, TargetError, ScenarioChoiceError, TaskError, TimingError) as error:
        await message.answer(f"⚠️ {html.quote(str(error))}\n\n{schedule_usage()}")
        return
    await message.answer(
        "✅ " + _("Created.") + "\n" + render_schedule(schedule),
        reply_markup=schedule_keyboard(schedule),
    )


async def list_schedules(message: Message) -> None:
    text, markup = await schedules_page(message.chat.id, 1)
    await message.answer(text, reply_markup=markup)


async def on_schedules_page(callback: CallbackQuery, callback_data: SchedulesPage) -> None:
    if callback.message is None:
        await callback.answer(_("This button is no longer valid."))
        return
    await show_in_place(
        callback, *await schedules_page(callback.message.chat.id, callback_data.page)
    )


async def on_schedule_button(
    callback: CallbackQuery, callback_data: ScheduleAction, scheduler: Scheduler
) -> None:
    """Acts only on a schedule of the chat where the button was pressed, then shows the
    page of the list (or the schedule's own message) as it now is."""
    chat_id = callback.message.chat.id if callback.message else None
    schedule = (
        await Schedule.get_or_none(id=callback_data.schedule_id, chat_id=chat_id)
        if chat_id is not None
        else None
    )
    if schedule is None or chat_id is None:
        await callback.answer(_("This button is no longer valid."))
        return
    match callback_data.action:
        case ScheduleActionKind.delete:
            await scheduler.delete(schedule)
            notice = _("Schedule #{schedule_id} deleted.").format(schedule_id=schedule.id)
        case ScheduleActionKind.pause:
            await scheduler.set_paused(schedule, True)
            notice = _("Schedule #{schedule_id} paused.").format(schedule_id=schedule.id)
        case ScheduleActionKind.resume:
            await scheduler.set_paused(schedule, False)
            notice = _("Schedule #{schedule_id} resumed.").format(schedule_id=schedule.id)
    if callback_data.page is not None:
        text, markup = await schedules_page(chat_id, callback_data.page)
    elif callback_data.action == ScheduleActionKind.delete:
        text, markup = f"🗑 {notice}", None
    else:
        await schedule.refresh_from_db()
        text, markup = render_schedule(schedule), schedule_keyboard(schedule)
    await show_in_place(callback, text, markup, answer=notice)


def create_router() -> Router:
    router = Router(name="schedules")
    router.message.register(create_schedule, Command("schedule"))
    router.message.register(list_schedules, Command("schedules"))
    router.callback_query.register(on_schedule_button, ScheduleAction.filter())
    router.callback_query.register(on_schedules_page, SchedulesPage.filter())
    return router
