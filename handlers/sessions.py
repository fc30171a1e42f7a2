"""/import: a profile's session (a Playwright storage state) sent as a file from the chat.

The file replaces the profile's saved state, so the next run starts logged in. Whatever
is wrong with the file, the profile or the moment, the reply says so and the state
already saved stays as it was: nothing is written before every check has passed, and
the write itself is atomic. Cookie and localStorage values never reach a reply or the
log; only their counts do.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from aiogram import Bot, Router, html
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import Document, Message
from aiohttp import ClientError

from bot.settings import Settings
from handlers.arguments import IMPORT_USAGE, ArgumentError, parse_import_args
from models import Profile, RunStatus, WarmupRun
from models.writes import retry_write
from warmup.catalog import Catalog
from warmup.state_store import StateStore, StorageState, UnusableState, check_state
from warmup.targets import shown

logger = logging.getLogger(__name__)

MAX_STATE_BYTES = 5 * 1024 * 1024
"""Far above any real storage state, far below the Bot API's 20 MB download limit."""
DOWNLOAD_TIMEOUT = 60
KNOWN_SHOWN = 20


class ImportRefused(Exception):
    """Why an import was refused, as HTML for the reply (user input already escaped)."""


class _TooLarge(Exception):
    pass


class _BoundedBuffer(io.BytesIO):
    """Stops a download that grows past the limit: Telegram may leave out a file's size."""

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > MAX_STATE_BYTES:
            raise _TooLarge
        return super().write(data)


async def import_session(
    message: Message, command: CommandObject, bot: Bot, catalog: Catalog, settings: Settings
) -> None:
    try:
        name = _profile_name(command.args, catalog)
        document = message.document
        if document is None:
            raise ImportRefused(
                f"no file: send the storage state of <b>{html.quote(name)}</b> as a document "
                f"with this caption.\n\n{IMPORT_USAGE}"
            )
        await _refuse_if_busy(name)
        state = _parse(await _download(bot, document))
        await _refuse_if_busy(name)  # a task may have started while the file came in
    except ImportRefused as refusal:
        await message.answer(f"⚠️ {refusal}")
        return
    try:
        # No await between the last check and this write: no run can start in between.
        StateStore(settings.states_dir).save(name, state)
    except OSError as error:
        logger.error("could not store the imported state of %s: %s", name, error.strerror)
        await message.answer(
            f"⚠️ The state of <b>{html.quote(name)}</b> could not be stored "
            f"({html.quote(error.strerror or type(error).__name__)}); the previous one stays."
        )
        return
    expired = await Profile.filter(name=name, session_expired=True).exists()
    await retry_write(
        lambda: Profile.filter(name=name).update(session_expired=False),
        what=f"session mark of {name}",
    )
    cookies = _count(state.get("cookies"), "cookie")
    origins = _count(state.get("origins"), "origin")
    logger.info("session imported for %s: %s, %s", name, cookies, origins)
    cleared = " The “session expired” mark is cleared." if expired else ""
    await message.answer(
        f"🔑 Session imported for <b>{html.quote(name)}</b>: {cookies}, {origins}. "
        f"Its next run starts from it.{cleared}"
    )


def _profile_name(args: str | None, catalog: Catalog) -> str:
    try:
        name = parse_import_args(args)
    except ArgumentError as error:
        raise ImportRefused(f"{html.quote(str(error))}\n\n{IMPORT_USAGE}") from None
    if name not in catalog.profiles:
        known = list(catalog.profiles)
        listed = ", ".join(known[:KNOWN_SHOWN]) or "none yet"
        if len(known) > KNOWN_SHOWN:
            listed += f" and {len(known) - KNOWN_SHOWN} more"
        raise ImportRefused(
            f"unknown profile: {html.quote(shown(name))}; known: {html.quote(listed)}"
            f"\n\n{IMPORT_USAGE}"
        )
    return name


async def _refuse_if_busy(name: str) -> None:
    """A running profile saves its own state when it finishes, over the imported one."""
    busy = (
        await WarmupRun.filter(profile__name=name, status__in=[RunStatus.running, RunStatus.queued])
        .order_by("id")
        .first()
    )
    if busy is not None:
        raise ImportRefused(
            f"{html.quote(name)} is running; import after it finishes "
            f"(task #{busy.task_id}; /cancel {busy.task_id} stops it)."
        )


async def _download(bot: Bot, document: Document) -> bytes:
    limit = (
        f"a storage state may be at most {MAX_STATE_BYTES // (1024 * 1024)} MiB "
        f"({MAX_STATE_BYTES:,} bytes)"
    )
    if document.file_size is not None and document.file_size > MAX_STATE_BYTES:
        raise ImportRefused(f"the file is too large ({document.file_size:,} bytes); {limit}.")
    buffer = _BoundedBuffer()
    try:
        await bot.download(document, destination=buffer, timeout=DOWNLOAD_TIMEOUT)
    except _TooLarge:
        raise ImportRefused(f"the file is too large; {limit}.") from None
    except (TelegramAPIError, ClientError, TimeoutError) as error:
        # Only Telegram's own description is shown: aiohttp's messages hold the file's
        # URL, and the bot token is part of it.
        detail = _first_line(error.message) if isinstance(error, TelegramAPIError) else ""
        logger.warning("could not download an imported state: %s", type(error).__name__)
        raise ImportRefused(
            "the file could not be downloaded from Telegram "
            f"({html.quote(detail or type(error).__name__)}); send it again."
        ) from None
    return buffer.getvalue()


def _parse(raw: bytes) -> StorageState:
    """The storage state in the file, or ImportRefused naming what is wrong (never content)."""
    expected = (
        'Playwright\'s format is {"cookies": [...], "origins": [...]}, as saved by '
        "<code>context.storage_state(path=…)</code>"
    )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused(f"the file is not UTF-8 text; {expected}.") from None
    try:
        state = json.loads(text)
    except json.JSONDecodeError as error:
        where = f"{html.quote(error.msg)} at line {error.lineno}, column {error.colno}"
        raise ImportRefused(f"the file is not JSON ({where}); {expected}.") from None
    except RecursionError:
        raise ImportRefused(f"the file is not JSON (nested too deeply); {expected}.") from None
    try:
        check_state(state)
    except UnusableState as error:
        raise ImportRefused(
            f"the file is not a storage state: {html.quote(str(error))}; {expected}."
        ) from None
    if "cookies" not in state and "origins" not in state:
        # check_state lets any object pass; an object with neither key is some other file.
        raise ImportRefused(
            f"the file is not a storage state: it has neither cookies nor origins; {expected}."
        )
    return state


def _count(items: object, noun: str) -> str:
    number = len(items) if isinstance(items, list) else 0
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else ""


def create_router() -> Router:
    router = Router(name="sessions")
    # Command() reads a document's caption as well as a text, so a bare "/import alice"
    # typed without a file lands here too, and is told to attach one.
    router.message.register(import_session, Command("import"))
    return router
