"""/scenario and /profiles_file: a scenario or the profiles file sent as a document.

The document is judged by the very loader `/reload` uses, on the file as it would lie in
its folder (`warmup.config_files` stages it there under its own name). A refused one
changes nothing, and the reply lists every problem with its path. An accepted one replaces
the file atomically, the previous version kept beside it as `<file>.bak`, and the catalog
is reloaded as `/reload` reloads it. Tasks already running go on with the scenario they
started with: they hold its text.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiogram import Bot, Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import Document, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.render import MESSAGE_LIMIT, problem_lines
from bot.settings import Settings
from handlers.catalog import profiles_refusal, reload_and_share
from handlers.downloads import DownloadRefused, download
from warmup.catalog import Catalog, ReloadReport
from warmup.checks import missing_variables
from warmup.config_files import Replaced, TwoScenarioFiles, replace_checked, scenario_file
from warmup.profiles import MAX_FILE_BYTES as MAX_PROFILES_BYTES
from warmup.profiles import ProfileConfig, ProfilesError, load_profiles
from warmup.scenario import MAX_FILE_BYTES as MAX_SCENARIO_BYTES
from warmup.scenario import SCENARIO_NAME, Scenario, ScenarioError, iter_steps, load_scenario

logger = logging.getLogger(__name__)

EXTENSIONS = (".yaml", ".yml")


class UploadRefused(Exception):
    """Why a document was refused, as HTML for the reply (what came from the user escaped)."""


class Uploads:
    """The two commands, taking turns: one file is replaced and reloaded at a time."""

    def __init__(self) -> None:
        self._replacing = asyncio.Lock()

    async def scenario(
        self,
        message: Message,
        command: CommandObject,
        bot: Bot,
        catalog: Catalog,
        settings: Settings,
    ) -> None:
        try:
            document = _document(message, scenario_usage())
            name = _scenario_name(command.args, document)
            limit = _("a scenario file may be at most {kibibytes} KiB").format(
                kibibytes=MAX_SCENARIO_BYTES // 1024
            )
            content = await _download(bot, document, MAX_SCENARIO_BYTES, limit)
            async with self._replacing:
                path, replaced = await _replaced_scenario(settings.scenarios_dir, name, content)
                report = await reload_and_share(catalog, settings)
        except UploadRefused as refusal:
            await message.answer(f"⚠️ {refusal}")
            return
        await message.answer(_scenario_replaced(name, path, replaced, catalog, report))

    async def profiles_file(
        self,
        message: Message,
        command: CommandObject,
        bot: Bot,
        catalog: Catalog,
        settings: Settings,
    ) -> None:
        try:
            document = _document(message, profiles_usage(settings.profiles_file))
            if command.args:
                too_many = _("/profiles_file takes no argument, not {args}").format(
                    args=html.quote(command.args.strip())
                )
                raise UploadRefused(f"{too_many}\n\n{profiles_usage(settings.profiles_file)}")
            _check_extension(document, profiles_usage(settings.profiles_file))
            limit = _("a profiles file may be at most {kibibytes} KiB").format(
                kibibytes=MAX_PROFILES_BYTES // 1024
            )
            content = await _download(bot, document, MAX_PROFILES_BYTES, limit)
            async with self._replacing:
                before = set(catalog.profiles)
                replaced = await _replaced_profiles(settings.profiles_file, content)
                report = await reload_and_share(catalog, settings)
        except UploadRefused as refusal:
            await message.answer(f"⚠️ {refusal}")
            return
        await message.answer(_profiles_replaced(before, replaced, catalog, report))


def scenario_usage() -> str:
    return _(
        "Usage: send a scenario's YAML file as a document with the caption "
        "<code>/scenario</code> (the scenario is named after the file) or "
        "<code>/scenario &lt;name&gt;</code>. It is checked as /reload checks it, then "
        "replaces the scenario of that name or adds it; the previous version is kept as a "
        ".bak file beside it."
    )


def profiles_usage(path: Path) -> str:
    return _(
        "Usage: send the profiles file (YAML) as a document with the caption "
        "<code>/profiles_file</code>. It is checked as /reload checks it, then replaces "
        "{file}; the previous version is kept as {file}.bak."
    ).format(file=html.quote(path.name))


def _document(message: Message, usage: str) -> Document:
    if message.document is None:
        no_file = _("no file: send the YAML file as a document with this caption.")
        raise UploadRefused(f"{no_file}\n\n{usage}")
    return message.document


def _check_extension(document: Document, usage: str) -> str | None:
    """The document's file name without its extension; None when it has no file name."""
    file_name = document.file_name
    if file_name is None:
        return None
    for extension in EXTENSIONS:
        if file_name.lower().endswith(extension):
            return file_name[: -len(extension)]
    wrong = _("{file} is not a YAML file: its name must end in .yaml or .yml.").format(
        file=html.quote(file_name)
    )
    raise UploadRefused(f"{wrong}\n\n{usage}")


def _scenario_name(args: str | None, document: Document) -> str:
    stem = _check_extension(document, scenario_usage())
    words = (args or "").split()
    if len(words) > 1:
        too_many = _("too many words: {words}; give one scenario name").format(
            words=html.quote(" ".join(words))
        )
        raise UploadRefused(f"{too_many}\n\n{scenario_usage()}")
    name = words[0] if words else stem
    if name is None:
        raise UploadRefused(
            _("the file has no name: name the scenario, as in <code>/scenario browse</code>.")
        )
    if not SCENARIO_NAME.fullmatch(name):
        rule = _(
            "{name} is not a valid scenario name: use letters, digits, _ and - "
            "(at most 64 characters)"
        ).format(name=html.quote(name))
        hint = (
            ""
            if words
            else "; " + _("or name it in the caption: <code>/scenario &lt;name&gt;</code>")
        )
        raise UploadRefused(f"{rule}{hint}.")
    return name


async def _download(bot: Bot, document: Document, limit: int, limit_text: str) -> bytes:
    try:
        return await download(bot, document, limit=limit, limit_text=limit_text)
    except DownloadRefused as refusal:
        raise UploadRefused(str(refusal)) from None


async def _replaced_scenario(
    folder: Path, name: str, content: bytes
) -> tuple[Path, Replaced[Scenario]]:
    """The scenario's file (its present one, `.yaml` or `.yml`, else a new `<name>.yaml`)
    replaced by `content` if `load_scenario` accepts it there."""
    try:
        path = await asyncio.to_thread(scenario_file, folder, name)
    except TwoScenarioFiles as error:
        raise UploadRefused(
            _(
                "the scenarios folder has both {files}, so /reload refuses both: "
                "remove one of them first. Nothing was changed."
            ).format(files=html.quote(" and ".join(error.args)))
        ) from None
    try:
        return path, await asyncio.to_thread(replace_checked, path, content, load_scenario)
    except ScenarioError as error:
        head = _("Scenario <b>{name}</b> has mistakes; nothing was changed:").format(
            name=html.quote(name)
        )
        raise UploadRefused(_listed(head, str(error).splitlines())) from None
    except OSError as error:
        raise _not_written(path, error) from None


async def _replaced_profiles(path: Path, content: bytes) -> Replaced[dict[str, ProfileConfig]]:
    def load(staged: Path) -> dict[str, ProfileConfig]:
        return load_profiles(staged, as_file=path)

    try:
        return await asyncio.to_thread(replace_checked, path, content, load)
    except ProfilesError as error:
        head = _("The profiles file has mistakes; nothing was changed, the profiles stay:")
        raise UploadRefused(_listed(head, str(error).splitlines())) from None
    except OSError as error:
        raise _not_written(path, error) from None


def _not_written(path: Path, error: OSError) -> UploadRefused:
    reason = error.strerror or type(error).__name__
    logger.error("could not replace %s: %s", path, reason)
    return UploadRefused(
        _("{file} could not be written ({reason}); it stays as it was.").format(
            file=html.quote(path.name), reason=html.quote(reason)
        )
    )


def _listed(head: str, problems: list[str]) -> str:
    budget = MESSAGE_LIMIT - len(head) - 10  # the reply's "⚠️ " and the newline
    return "\n".join([head, *problem_lines(problems, budget)])


def _scenario_replaced(
    name: str, path: Path, replaced: Replaced[Scenario], catalog: Catalog, report: ReloadReport
) -> str:
    count = len(iter_steps(replaced.loaded.steps))
    steps = ngettext("{count} step", "{count} steps", count).format(count=count)
    if replaced.backup is None:
        done = _("Scenario <b>{name}</b> added ({file}); {steps}.").format(
            name=html.quote(name), file=html.quote(path.name), steps=steps
        )
    else:
        done = _(
            "Scenario <b>{name}</b> replaced (the previous version is kept as {backup}); {steps}."
        ).format(name=html.quote(name), backup=html.quote(replaced.backup.name), steps=steps)
    lines = ["📝 " + done]
    lacking = missing_variables(replaced.loaded, catalog.profiles.values())
    if lacking:
        lines.append(
            "⚠️ "
            + _("It is applied, but /warmup refuses the profiles that lack a variable it uses:")
        )
        lines.extend(problem_lines(lacking, _room(lines) // 2))
    lines.extend(profiles_refusal(report, _room(lines)))
    return "\n".join(lines)


def _profiles_replaced(
    before: set[str],
    replaced: Replaced[dict[str, ProfileConfig]],
    catalog: Catalog,
    report: ReloadReport,
) -> str:
    now = set(catalog.profiles)
    total = ngettext("{count} profile", "{count} profiles", len(now)).format(count=len(now))
    added, removed = len(now - before), len(before - now)
    changes = ", ".join(
        [
            ngettext("{count} new", "{count} new", added).format(count=added),
            ngettext("{count} removed", "{count} removed", removed).format(count=removed),
        ]
    )
    if replaced.backup is None:
        done = _("Profiles file written: {profiles} ({changes}).").format(
            profiles=total, changes=changes
        )
    else:
        done = _(
            "Profiles file replaced: {profiles} ({changes}); the previous version is kept as "
            "{backup}."
        ).format(profiles=total, changes=changes, backup=html.quote(replaced.backup.name))
    lines = ["📝 " + done, *profiles_refusal(report, MESSAGE_LIMIT - len(done) - 10)]
    lacking = [
        problem
        for name in sorted(catalog.scenarios.valid)
        for problem in missing_variables(catalog.scenarios.valid[name], catalog.profiles.values())
    ]
    if lacking:
        lines.append(
            "⚠️ " + _("/warmup refuses the profiles that lack a variable their scenario uses:")
        )
        lines.extend(problem_lines(lacking, _room(lines)))
    return "\n".join(lines)


def _room(lines: list[str]) -> int:
    """Characters left in the reply after `lines`, and a newline."""
    return MESSAGE_LIMIT - len("\n".join(lines)) - 1


def create_router() -> Router:
    router = Router(name="uploads")
    uploads = Uploads()
    # Command() reads a document's caption as well as a text: a bare "/scenario" typed
    # without a file lands here too, and is told to attach one.
    router.message.register(uploads.scenario, Command("scenario"))
    router.message.register(uploads.profiles_file, Command("profiles_file"))
    return router
