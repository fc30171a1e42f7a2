"""Wiring: the database, the browser, the engine and the bot, on one event loop.

`Application.run()` is the whole life of the process, used the same way by
`python -m bot` and by the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack

from aiogram import Bot, Dispatcher, html
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.utils.i18n import I18n
from tortoise.context import TortoiseContext

from bot.auth import AdminOnly
from bot.delivery import Undelivered, deliver
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, LanguageMiddleware, create_i18n, install
from bot.progress import ProgressReporter
from bot.runtime import open_engine, open_storage
from bot.settings import Settings
from handlers import get_routers
from handlers.help import bot_commands
from handlers.keyboards import resume_keyboard
from handlers.schedules import schedule_error_text
from models import COMMAND_LINE_CHAT, TaskStatus, WarmupTask
from warmup.browser import BrowserPool
from warmup.catalog import Catalog, ScenarioChoiceError
from warmup.engine import Engine
from warmup.events import EventBus
from warmup.i18n import _
from warmup.scheduler import Scheduler
from warmup.tasks import TaskError, TaskService

logger = logging.getLogger(__name__)


def create_bot(settings: Settings) -> Bot:
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is not set")
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(settings.telegram_api_url),
        timeout=settings.telegram_timeout,
    )
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def create_dispatcher(settings: Settings, i18n: I18n, **services: object) -> Dispatcher:
    dispatcher = Dispatcher(settings=settings, **services)
    dispatcher.update.outer_middleware(LanguageMiddleware(i18n))
    dispatcher.update.outer_middleware(AdminOnly(settings.admin_ids))
    dispatcher.include_routers(*get_routers())
    return dispatcher


def worded(i18n: I18n, language: str, text: Callable[[], str]) -> str:
    with i18n.use_locale(language):
        return text()


async def register_commands(bot: Bot, i18n: I18n) -> None:
    """The command menu in every language; English is also the default for the others."""
    for language in LANGUAGES:
        with i18n.use_locale(language):
            commands = bot_commands()
        code = None if language == DEFAULT_LANGUAGE else language
        try:
            await deliver(
                lambda commands=commands, code=code: bot.set_my_commands(
                    commands, language_code=code
                ),
                what=f"command list ({language})",
                patience=10,
            )
        except Undelivered:
            logger.warning("Telegram unreachable: the command list was not registered")
            return


class Application:
    def __init__(self, settings: Settings, *, handle_signals: bool = True) -> None:
        self.settings = settings
        self._handle_signals = handle_signals
        self.ready = asyncio.Event()
        self.database: TortoiseContext | None = None
        self.engine: Engine | None = None
        self.browser: BrowserPool | None = None
        self.dispatcher: Dispatcher | None = None

    async def run(self) -> None:
        settings = self.settings
        i18n = create_i18n()
        install(i18n)
        async with AsyncExitStack() as stack:
            self.database = await open_storage(settings, stack)
            catalog = Catalog(settings.profiles_file, settings.scenarios_dir)
            report = await catalog.reload()
            if report.profiles_error:
                raise SystemExit(f"PROFILES_FILE: {report.profiles_error}")
            logger.info(
                "%d profiles, %d scenarios (%d invalid)",
                report.profiles,
                report.scenarios,
                report.invalid_scenarios,
            )

            bot = create_bot(settings)
            stack.push_async_callback(bot.session.close)
            events = EventBus()
            self.browser, self.engine = await open_engine(settings, events, stack)
            reporter = ProgressReporter(
                bot,
                self.engine.current_steps,
                i18n,
                interval=settings.progress_interval,
                alert_chat_id=settings.alert_chat_id,
            )
            events.subscribe(reporter)
            reporter.start()
            stack.push_async_callback(reporter.close)
            stack.push_async_callback(self.engine.shutdown)

            tasks = TaskService(self.engine, catalog)
            scheduler = Scheduler(
                tasks,
                on_started=lambda task: reporter.open_message(task.id, task.chat_id),
                on_error=lambda schedule, reason: reporter.notify(
                    schedule.chat_id,
                    worded(i18n, schedule.language, lambda: schedule_error_text(schedule, reason)),
                ),
            )
            scheduler.start()
            stack.push_async_callback(scheduler.close)
            self.dispatcher = create_dispatcher(
                settings,
                i18n,
                catalog=catalog,
                engine=self.engine,
                tasks=tasks,
                reporter=reporter,
                scheduler=scheduler,
            )
            await register_commands(bot, i18n)
            await self._after_restart(tasks, reporter, i18n)
            self.dispatcher.startup.register(self._on_startup)
            await self.dispatcher.start_polling(
                bot, handle_signals=self._handle_signals, close_bot_session=False
            )
        logger.info("stopped")

    async def _on_startup(self) -> None:
        self.ready.set()
        logger.info("polling for updates")

    async def stop(self) -> None:
        """Stop taking updates; `run()` then closes everything and returns."""
        if self.dispatcher is not None:
            await self.dispatcher.stop_polling()

    async def _after_restart(
        self, tasks: TaskService, reporter: ProgressReporter, i18n: I18n
    ) -> None:
        """Tell the chats about tasks a crash left running; with AUTO_RESUME, resume them all."""
        crashed = [
            task for task in await tasks.mark_interrupted() if task.chat_id != COMMAND_LINE_CHAT
        ]
        for task in crashed:
            if task.progress_message_id is not None:
                await reporter.refresh(task.id, task.chat_id, task.progress_message_id)
        if not self.settings.auto_resume:
            for task in crashed:
                logger.info("task %d was interrupted by a stop of the bot", task.id)
                with i18n.use_locale(task.language):
                    reporter.notify(
                        task.chat_id,
                        "⏸ "
                        + _(
                            "Warmup #{task_id} was interrupted when the bot stopped. "
                            "Resume plays the profiles that had not finished."
                        ).format(task_id=task.id),
                        resume_keyboard(task.id),
                    )
            return
        interrupted = WarmupTask.filter(status=TaskStatus.interrupted).exclude(
            chat_id=COMMAND_LINE_CHAT
        )
        for task in await interrupted.order_by("id"):
            try:
                await tasks.resume(task)
            except (TaskError, ScenarioChoiceError) as error:
                with i18n.use_locale(task.language):
                    reporter.notify(
                        task.chat_id,
                        "⏸ "
                        + _(
                            "Warmup #{task_id} was interrupted and could not be resumed: {error}"
                        ).format(task_id=task.id, error=html.quote(str(error))),
                    )
                continue
            logger.info("task %d resumed (AUTO_RESUME)", task.id)
            with i18n.use_locale(task.language):
                reporter.notify(
                    task.chat_id,
                    "▶️ "
                    + _(
                        "Warmup #{task_id} was interrupted when the bot stopped; "
                        "resuming it (AUTO_RESUME)."
                    ).format(task_id=task.id),
                )
            reporter.open_message(task.id, task.chat_id)
