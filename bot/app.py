"""Wiring: the database, the browser, the engine and the bot, on one event loop.

`Application.run()` is the whole life of the process, used the same way by
`python -m bot` and by the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.utils.i18n import I18n
from tortoise.context import TortoiseContext

from bot.auth import AdminOnly
from bot.delivery import Undelivered, deliver
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, LanguageMiddleware, create_i18n, install
from bot.outbox import OutboxSender
from bot.pacing import PacedRequests, Pacer, TelegramLimits
from bot.progress import ProgressReporter
from bot.runtime import frozen_heap, open_engine, open_storage
from bot.settings import Settings
from handlers import get_routers
from handlers.help import bot_commands
from models import COMMAND_LINE_CHAT, NoticeKind, Schedule, TaskStatus, WarmupTask
from warmup.browser import BrowserPool
from warmup.catalog import Catalog, ScenarioChoiceError
from warmup.dispatch import Dispatch
from warmup.engine import Engine
from warmup.events import EventBus
from warmup.leases import LeaseKeeper, bot_owner
from warmup.ledger import Ledger
from warmup.run_queue import create_broker, redelivery_timeout
from warmup.scheduler import Scheduler
from warmup.shared_files import share_seeds
from warmup.signals import Signals
from warmup.tasks import TaskError, TaskService
from warmup.views import RelayedSteps

logger = logging.getLogger(__name__)


def create_bot(settings: Settings, pacer: Pacer) -> Bot:
    """The bot, every call of which goes through `pacer` (bot.pacing)."""
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is not set")
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(settings.telegram_api_url),
        timeout=settings.telegram_timeout,
    )
    session.middleware(PacedRequests(pacer))
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


def telegram_limits(settings: Settings) -> TelegramLimits:
    return TelegramLimits(
        private_chat_per_second=settings.telegram_private_chat_rate,
        group_per_minute=settings.telegram_group_rate,
        overall_per_second=settings.telegram_overall_rate,
    )


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
                wait=10,
            )
        except Undelivered:
            logger.warning("Telegram unreachable: the command list was not registered")
            return


class Application:
    def __init__(self, settings: Settings, *, handle_signals: bool = True) -> None:
        self.settings = settings
        self._handle_signals = handle_signals
        self.ready = asyncio.Event()
        self.events = EventBus()
        """What the engine emits (relayed from the workers in the distributed mode)."""
        self.database: TortoiseContext | None = None
        self.engine: Engine | None = None
        self.browser: BrowserPool | None = None
        self.dispatcher: Dispatcher | None = None
        self._stopping = False

    async def run(self) -> None:
        settings = self.settings
        i18n = create_i18n()
        install(i18n)
        async with AsyncExitStack() as stack:
            self.database = await open_storage(settings, stack)
            catalog = Catalog(settings.profiles_file, settings.scenarios_dir)
            report = await catalog.reload()
            if report.profiles_error:
                lines = report.profiles_error.splitlines()
                raise SystemExit("\n".join(f"PROFILES_FILE: {line}" for line in lines))
            logger.info(
                "%d profiles, %d scenarios (%d invalid)",
                report.profiles,
                report.scenarios,
                report.invalid_scenarios,
            )
            events = self.events
            alert_chats = [settings.alert_chat_id] if settings.alert_chat_id is not None else []
            owner = bot_owner()
            ledger = Ledger(events, player=owner, alert_chat_ids=alert_chats)
            pacer = Pacer(telegram_limits(settings))
            bot = create_bot(settings, pacer)
            stack.push_async_callback(bot.session.close)
            if settings.broker_url:
                player, live_steps, leases = await self._open_dispatch(
                    settings, ledger, events, catalog, stack
                )
            else:
                # Recovery comes first: nothing (a schedule, a command, AUTO_RESUME) may
                # start work before what a stop left unfinished is marked interrupted.
                await ledger.recover(
                    owner, lease_ttl=settings.lease_ttl, notify=not settings.auto_resume
                )
                runtime = await open_engine(settings, ledger, stack)
                self.browser, self.engine = runtime.browser, runtime.engine
                player, live_steps, leases = (
                    runtime.engine,
                    runtime.engine.current_steps,
                    runtime.leases,
                )
            reporter = ProgressReporter(bot, live_steps, i18n, interval=settings.progress_interval)
            events.subscribe(reporter)
            await reporter.take_up_unfinished()
            reporter.start()
            stack.push_async_callback(reporter.close)
            sender = OutboxSender(
                bot,
                pacer,
                i18n,
                retry_interval=settings.progress_interval,
                artifacts_dir=settings.artifacts_dir,
            )
            events.subscribe(sender)
            sender.start()
            stack.push_async_callback(sender.close)
            if self.engine is not None:
                stack.push_async_callback(self.engine.shutdown)

            tasks = TaskService(ledger, player, catalog)
            if settings.auto_resume:
                await self._resume_interrupted(tasks, ledger)

            async def schedule_failed(schedule: Schedule, reason: str) -> None:
                await ledger.queue_notice(
                    schedule.chat_id,
                    NoticeKind.schedule_failed,
                    schedule.language,
                    schedule_id=schedule.id,
                    scenario=schedule.scenario,
                    target=schedule.target,
                    reason=reason,
                )

            scheduler = Scheduler(tasks, schedule_failed)
            scheduler.start()
            stack.push_async_callback(scheduler.close)
            self.dispatcher = create_dispatcher(
                settings,
                i18n,
                catalog=catalog,
                live_steps=live_steps,
                leases=leases,
                tasks=tasks,
                scheduler=scheduler,
            )
            await register_commands(bot, i18n)
            self.dispatcher.startup.register(self._on_startup)
            stack.enter_context(frozen_heap())
            await self.dispatcher.start_polling(
                bot, handle_signals=self._handle_signals, close_bot_session=False
            )
        logger.info("stopped")

    async def _open_dispatch(
        self,
        settings: Settings,
        ledger: Ledger,
        events: EventBus,
        catalog: Catalog,
        stack: AsyncExitStack,
    ) -> tuple[Dispatch, RelayedSteps, LeaseKeeper]:
        """The distributed mode's control plane: no browser here; runs go to the workers
        through the broker, and what their engines emit comes back onto `events`. The
        bot's own lease holder is for /import only."""
        assert settings.broker_url is not None
        idle = redelivery_timeout(settings.run_timeout, settings.max_attempts, settings.retry_delay)
        broker = create_broker(settings.broker_url, consumer=ledger.player, idle_timeout=idle)
        await broker.startup()
        stack.push_async_callback(broker.shutdown)
        signals = Signals(settings.broker_url)
        stack.push_async_callback(signals.close)
        live_steps = RelayedSteps()
        events.subscribe(live_steps)
        signals.on_event(events.emit)
        shared = await share_seeds(catalog.profiles)
        logger.info("distributed mode: %d seed states shared with the workers", shared)
        dispatch = Dispatch(
            ledger,
            broker,
            signals,
            check_interval=settings.lease_ttl / 3,
            idle_timeout=idle,
            alive_within=settings.lease_ttl,
            artifacts_max_age_days=settings.artifacts_max_age_days,
        )
        await dispatch.take_up()
        dispatch.start()
        stack.push_async_callback(dispatch.close)
        leases = LeaseKeeper(ledger.player, ttl=settings.lease_ttl)
        leases.start()
        stack.push_async_callback(leases.close)
        return dispatch, live_steps, leases

    async def _on_startup(self) -> None:
        self.ready.set()
        logger.info("polling for updates")

    async def stop(self) -> None:
        """Stop taking updates; `run()` then closes everything and returns. Asking twice
        is asking once."""
        if self.dispatcher is not None and not self._stopping:
            self._stopping = True
            await self.dispatcher.stop_polling()

    async def _resume_interrupted(self, tasks: TaskService, ledger: Ledger) -> None:
        """AUTO_RESUME: every interrupted task of a chat is resumed through the front door;
        one that cannot be is told to its chat."""
        interrupted = WarmupTask.filter(status=TaskStatus.interrupted).exclude(
            chat_id=COMMAND_LINE_CHAT
        )
        for task in await interrupted.order_by("id"):
            try:
                await tasks.resume(task)
            except (TaskError, ScenarioChoiceError) as error:
                logger.warning("task %d not resumed: %s", task.id, error)
                await ledger.queue_notice(
                    task.chat_id,
                    NoticeKind.resume_refused,
                    task.language,
                    task_id=task.id,
                    error=str(error),
                )
                continue
            logger.info("task %d resumed (AUTO_RESUME)", task.id)
            await ledger.queue_notice(
                task.chat_id,
                NoticeKind.task_interrupted,
                task.language,
                task_id=task.id,
                auto_resume=True,
            )
