"""/import: a profile's session (a Playwright storage state) sent as a file from the chat.

The file replaces the profile's saved state, so the next run starts logged in. Whatever
is wrong with the file, the profile or the moment, the reply says so and the state
already saved stays as it was: nothing is written before every check has passed, and
the write itself is atomic. Cookie and localStorage values never reach a reply or the
log; only their counts do.
"""

from __future__ import annotations

import json
import logging

from aiogram import Bot, Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import Document, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.runtime import state_storage
from bot.settings import Settings
from handlers.arguments import ArgumentError, import_usage, parse_import_args
from handlers.downloads import DownloadRefused, download
from models import Profile
from models.writes import retry_write
from warmup.catalog import Catalog
from warmup.leases import LeaseKeeper
from warmup.state_store import StateStorage, StorageState, UnusableState, check_state
from warmup.targets import listed, shown
from warmup.tasks import active_runs

logger = logging.getLogger(__name__)

MAX_STATE_BYTES = 5 * 1024 * 1024
"""Far above any real storage state, far below the Bot API's 20 MB download limit."""


class ImportRefused(Exception):
    """Why an import was refused, as HTML for the reply (user input already escaped)."""


async def import_session(
    message: Message,
    command: CommandObject,
    bot: Bot,
    catalog: Catalog,
    settings: Settings,
    leases: LeaseKeeper,
) -> None:
    try:
        name = _profile_name(command.args, catalog)
        document = message.document
        if document is None:
            no_file = _(
                "no file: send the storage state of <b>{name}</b> as a document with this caption."
            ).format(name=html.quote(name))
            raise ImportRefused(f"{no_file}\n\n{import_usage()}")
        await _refuse_if_busy(name)
        state = _parse(await _download(bot, document))
        await _store(name, state, state_storage(settings), leases)
    except ImportRefused as refusal:
        await message.answer(f"⚠️ {refusal}")
        return
    expired = await Profile.filter(name=name, session_expired=True).exists()
    await retry_write(
        lambda: Profile.filter(name=name).update(session_expired=False),
        what=f"session mark of {name}",
    )
    cookies, origins = _number(state.get("cookies")), _number(state.get("origins"))
    logger.info("session imported for %s: cookies %d, origins %d", name, cookies, origins)
    imported = _(
        "Session imported for <b>{name}</b>: {cookies}, {origins}. Its next run starts from it."
    ).format(name=html.quote(name), cookies=_cookies(cookies), origins=_origins(origins))
    cleared = (" " + _("The “session expired” mark is cleared.")) if expired else ""
    await message.answer(f"🔑 {imported}{cleared}")


def _profile_name(args: str | None, catalog: Catalog) -> str:
    try:
        name = parse_import_args(args)
    except ArgumentError as error:
        raise ImportRefused(f"{html.quote(str(error))}\n\n{import_usage()}") from None
    if name not in catalog.profiles:
        known = listed(list(catalog.profiles)) or _("none yet")
        unknown = _("unknown profile: {name}; known: {known}").format(
            name=html.quote(shown(name)), known=html.quote(known)
        )
        raise ImportRefused(f"{unknown}\n\n{import_usage()}")
    return name


async def _store(name: str, state: StorageState, states: StateStorage, leases: LeaseKeeper) -> None:
    """Write the state while holding the profile's lease, so that no run (of this
    process or another) starts from, or saves over, a half-imported state."""
    profile_id = await Profile.get(name=name).values_list("id", flat=True)
    if not await leases.try_acquire(profile_id, None):
        raise ImportRefused(
            _("{name} is playing; import after it finishes.").format(name=html.quote(name))
        )
    try:
        await _refuse_if_busy(name)  # a task may have started while the file came in
        await states.save_state(name, state)
    except OSError as error:
        logger.error("could not store the imported state of %s: %s", name, error.strerror)
        raise ImportRefused(
            _(
                "The state of <b>{name}</b> could not be stored ({reason}); the previous one stays."
            ).format(
                name=html.quote(name), reason=html.quote(error.strerror or type(error).__name__)
            )
        ) from None
    finally:
        await leases.release(profile_id, None)


async def _refuse_if_busy(name: str) -> None:
    """A running profile saves its own state when it finishes, over the imported one."""
    busy = await active_runs([name])
    if busy:
        raise ImportRefused(
            _(
                "{name} is running; import after it finishes "
                "(task #{task_id}; /cancel {task_id} stops it)."
            ).format(name=html.quote(name), task_id=busy[0].task_id)
        )


async def _download(bot: Bot, document: Document) -> bytes:
    limit = _("a storage state may be at most {mebibytes} MiB ({bytes} bytes)").format(
        mebibytes=MAX_STATE_BYTES // (1024 * 1024), bytes=f"{MAX_STATE_BYTES:,}"
    )
    try:
        return await download(bot, document, limit=MAX_STATE_BYTES, limit_text=limit)
    except DownloadRefused as refusal:
        raise ImportRefused(str(refusal)) from None


def _parse(raw: bytes) -> StorageState:
    """The storage state in the file, or ImportRefused naming what is wrong (never content)."""
    expected = _(
        "Playwright's format is {format}, as saved by <code>context.storage_state(path=…)</code>"
    ).format(format='{"cookies": [...], "origins": [...]}')
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused(
            _("the file is not UTF-8 text; {expected}.").format(expected=expected)
        ) from None
    try:
        state = json.loads(text)
    except json.JSONDecodeError as error:
        where = _("{error} at line {line}, column {column}").format(
            error=html.quote(error.msg), line=error.lineno, column=error.colno
        )
        raise ImportRefused(
            _("the file is not JSON ({where}); {expected}.").format(where=where, expected=expected)
        ) from None
    except RecursionError:
        raise ImportRefused(
            _("the file is not JSON (nested too deeply); {expected}.").format(expected=expected)
        ) from None
    try:
        check_state(state)
    except UnusableState as error:
        raise ImportRefused(
            _("the file is not a storage state: {error}; {expected}.").format(
                error=html.quote(str(error)), expected=expected
            )
        ) from None
    if "cookies" not in state and "origins" not in state:
        # check_state lets any object pass; an object with neither key is some other file.
        raise ImportRefused(
            _(
                "the file is not a storage state: it has neither cookies nor origins; {expected}."
            ).format(expected=expected)
        )
    return state


def _number(items: object) -> int:
    return len(items) if isinstance(items, list) else 0


def _cookies(number: int) -> str:
    return ngettext("{count} cookie", "{count} cookies", number).format(count=number)


def _origins(number: int) -> str:
    return ngettext("{count} origin", "{count} origins", number).format(count=number)


def create_router() -> Router:
    router = Router(name="sessions")
    # Command() reads a document's caption as well as a text, so a bare "/import alice"
    # typed without a file lands here too, and is told to attach one.
    router.message.register(import_session, Command("import"))
    return router
