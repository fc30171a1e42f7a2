"""/warmup: start a task and reply with its live progress message."""

from __future__ import annotations

from aiogram import Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import I18n

from handlers.arguments import ArgumentError, parse_warmup_args, warmup_usage
from warmup.catalog import ScenarioChoiceError
from warmup.targets import TargetError
from warmup.tasks import TaskError, TaskService


async def start_warmup(
    message: Message,
    command: CommandObject,
    tasks: TaskService,
    i18n: I18n,
) -> None:
    """The reply is the task's progress message, which the reporter sends when the
    ledger announces the new task."""
    try:
        args = parse_warmup_args(command.args)
        await tasks.start(
            chat_id=message.chat.id,
            user_id=message.from_user.id if message.from_user else None,
            target=args.target,
            scenario=args.scenario,
            language=i18n.current_locale,
        )
    except (ArgumentError, TargetError, ScenarioChoiceError, TaskError) as error:
        await message.answer(f"⚠️ {html.quote(str(error))}\n\n{warmup_usage()}")


def create_router() -> Router:
    router = Router(name="warmup")
    router.message.register(start_warmup, Command("warmup"))
    return router
