"""/profiles, /scenarios and /reload: what is configured.

/profiles pages through the fleet (thousands of profiles) with filters: by the latest
result, by tag. Each page is read with two queries, whatever the fleet's size. /scenarios
pages through the scenarios folder, as loaded by the last /reload.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from aiogram import Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.render import MESSAGE_LIMIT, RUN_ICONS, fit, problem_lines, shorten
from bot.settings import Settings
from handlers.arguments import ArgumentError, parse_profiles_args, profiles_usage
from handlers.callbacks import ProfilesPage, ScenariosPage, tag_key
from handlers.pages import Page, chosen, keyboard, nav_row, show_in_place
from models import RunStatus
from warmup.catalog import Catalog, ReloadReport
from warmup.fleet import ProfileShow, ProfileState, profile_states, tags_by_use
from warmup.shared_files import share_seeds
from warmup.status_words import run_status_word
from warmup.targets import TargetError, resolve_target

PROFILES_PER_PAGE = 20
"""A page of the longest lines (names of 32 characters, tags, an expired session) stays
under Telegram's 4096 characters."""
TAG_BUTTONS = 6
SHOWN_TAGS = 40
SHOWN_TAG = 20
SCENARIOS_PER_PAGE = 8
"""A scenario's line is at most about 380 characters (a name of 64, its first problem cut
at 300): eight stay under Telegram's 4096."""


async def show_profiles(message: Message, command: CommandObject, catalog: Catalog) -> None:
    if not catalog.profiles:
        await message.answer(
            _("No profiles yet: describe them in {file} and send /reload.").format(
                file=html.quote(str(catalog.profiles_file))
            )
        )
        return
    try:
        args = parse_profiles_args(command.args)
        if args.tag is not None:
            resolve_target(f"tag:{args.tag}", catalog.profiles)  # refuses a tag not in use
    except (ArgumentError, TargetError) as error:
        await message.answer(f"⚠️ {html.quote(str(error))}\n\n{profiles_usage()}")
        return
    text, markup = await profiles_page(catalog, args.show, args.tag, 1)
    await message.answer(text, reply_markup=markup)


async def on_profiles_page(
    callback: CallbackQuery, callback_data: ProfilesPage, catalog: Catalog
) -> None:
    tag = None
    if callback_data.tag:
        tags = {tag for config in catalog.profiles.values() for tag in config.tags}
        tag = next((tag for tag in tags if tag_key(tag) == callback_data.tag), None)
        if tag is None:
            await callback.answer(_("No profile has this tag any more: send /profiles again."))
            return
    text, markup = await profiles_page(catalog, callback_data.show, tag, callback_data.page)
    await show_in_place(callback, text, markup)


async def profiles_page(
    catalog: Catalog, show: ProfileShow, tag: str | None, number: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of the profiles that `show` and `tag` select, with the buttons to turn
    the page and to change the filters."""
    states = await profile_states(catalog.profiles)
    tagged = [state for state in states if tag is None or tag in state.tags]
    selected = [state for state in tagged if state.shown_by(show)]
    page = Page.of(len(selected), PROFILES_PER_PAGE, number)
    lines = [profiles_title(show, tag, len(selected), len(states)), fleet_line(tagged), ""]
    lines.extend(profile_line(state) for state in page.slice(selected))
    if not selected:
        lines.append(_("No profile matches."))
    if page.line():
        lines.extend(["", page.line()])
    key = tag_key(tag) if tag is not None else ""
    markup = keyboard(
        nav_row(page, lambda number: ProfilesPage(page=number, show=show, tag=key)),
        *show_rows(tagged, show, key),
        *tag_rows(states, show, tag),
    )
    return "\n".join(lines), markup


def profiles_title(show: ProfileShow, tag: str | None, selected: int, total: int) -> str:
    title = _("<b>Profiles</b>")
    filters = [show_label(show)] if show != ProfileShow.all else []
    if tag is not None:
        filters.append(f"🏷 {html.quote(shorten(tag, SHOWN_TAG))}")
    if not filters:
        count = ngettext("{count} profile", "{count} profiles", total).format(count=total)
        return f"{title} · {count}"
    of = ngettext("{selected} of {count} profile", "{selected} of {count} profiles", total)
    return f"{title} · {' · '.join(filters)} · {of.format(selected=selected, count=total)}"


def fleet_line(states: Sequence[ProfileState]) -> str:
    """How the profiles' latest runs ended, and how many never ran or lost their session."""
    latest = Counter(state.last_status for state in states)
    parts = [f"{RUN_ICONS[status]} {latest[status]}" for status in RunStatus if latest[status]]
    if latest[None]:
        parts.append(_("never run {count}").format(count=latest[None]))
    expired = sum(1 for state in states if state.session_expired)
    if expired:
        parts.append(f"🔑 {expired}")
    return " · ".join(parts)


def profile_line(state: ProfileState) -> str:
    name = html.quote(state.name)
    tags = f" [{html.quote(shorten(', '.join(state.tags), SHOWN_TAGS))}]" if state.tags else ""
    result = _("never run")
    if state.last_status is not None:
        result = f"{RUN_ICONS[state.last_status]} " + _("{status} in task #{task_id}").format(
            status=run_status_word(state.last_status), task_id=state.last_task_id
        )
    if state.session_expired:
        result += " · 🔑 " + _("session expired: /import {profile}").format(profile=name)
    return f"• <b>{name}</b>{tags} — {result}"


def show_label(show: ProfileShow) -> str:
    labels = {
        ProfileShow.all: _("All"),
        ProfileShow.failed: "❌ " + _("Failed"),
        ProfileShow.expired: "🔑 " + _("Session expired"),
        ProfileShow.never: _("Never run"),
    }
    return labels[show]


def show_rows(
    tagged: Sequence[ProfileState], show: ProfileShow, key: str
) -> list[list[InlineKeyboardButton]]:
    """A button per filter, with how many profiles it shows, two to a row."""
    buttons = []
    for option in ProfileShow:
        count = sum(1 for state in tagged if state.shown_by(option))
        data = ProfilesPage(page=1, show=option, tag=key).pack()
        text = chosen(f"{show_label(option)} ({count})", option == show)
        buttons.append(InlineKeyboardButton(text=text, callback_data=data))
    return [buttons[:2], buttons[2:]]


def tag_rows(
    states: Sequence[ProfileState], show: ProfileShow, tag: str | None
) -> list[list[InlineKeyboardButton]]:
    """Buttons for the most used tags, three to a row; the tag in use, pressed again,
    shows every tag."""
    tags = tags_by_use(states)[:TAG_BUTTONS]
    if tag is not None and tag not in tags:
        tags = [tag, *tags[: TAG_BUTTONS - 1]]
    buttons = []
    for option in tags:
        key = "" if option == tag else tag_key(option)
        text = chosen(f"🏷 {shorten(option, SHOWN_TAG)}", option == tag)
        data = ProfilesPage(page=1, show=show, tag=key).pack()
        buttons.append(InlineKeyboardButton(text=text, callback_data=data))
    return [buttons[start : start + 3] for start in range(0, len(buttons), 3)]


async def show_scenarios(message: Message, catalog: Catalog) -> None:
    text, markup = scenarios_page(catalog, 1)
    await message.answer(text, reply_markup=markup)


async def on_scenarios_page(
    callback: CallbackQuery, callback_data: ScenariosPage, catalog: Catalog
) -> None:
    await show_in_place(callback, *scenarios_page(catalog, callback_data.page))


def scenarios_page(catalog: Catalog, number: int) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of the scenarios: the valid ones, then the invalid ones with their first
    problem, each group in the order of their names."""
    scenarios = catalog.scenarios
    if not scenarios.valid and not scenarios.invalid:
        return _("No scenarios yet: add .yaml files to the scenarios folder."), None
    lines = [
        f"✅ <b>{html.quote(name)}</b>"
        + (f" — {html.quote(shorten(scenario.description, 100))}" if scenario.description else "")
        for name, scenario in sorted(scenarios.valid.items())
    ]
    lines.extend(
        f"❌ <b>{html.quote(name)}</b> — {html.quote(shorten(error.summary(), 300))}"
        for name, error in sorted(scenarios.invalid.items())
    )
    page = Page.of(len(lines), SCENARIOS_PER_PAGE, number)
    shown = [scenarios_title(len(scenarios.valid), len(scenarios.invalid)), *page.slice(lines)]
    if page.line():
        shown.extend(["", page.line()])
    markup = keyboard(nav_row(page, lambda number: ScenariosPage(page=number)))
    return fit(shown, MESSAGE_LIMIT), markup


def scenarios_title(valid: int, invalid: int) -> str:
    counts = ngettext("{count} valid", "{count} valid", valid).format(count=valid)
    if invalid:
        counts += ", " + ngettext("{count} invalid", "{count} invalid", invalid).format(
            count=invalid
        )
    return _("<b>Scenarios</b>") + f" · {counts}"


async def reload_and_share(catalog: Catalog, settings: Settings) -> ReloadReport:
    """What /reload does: re-read both sources and, in the distributed mode, put the
    profiles' seed files where workers on other machines find them."""
    report = await catalog.reload()
    if settings.broker_url and not report.profiles_error:
        await share_seeds(catalog.profiles)
    return report


def profiles_refusal(report: ReloadReport, budget: int) -> list[str]:
    """The lines that say the profiles file was refused, with its problems; none if it was not."""
    if not report.profiles_error:
        return []
    head = "⚠️ " + _("The profiles file was not loaded, the previous profiles stay:")
    return [head, *problem_lines(report.profiles_error.splitlines(), budget - len(head) - 1)]


async def reload_catalog(message: Message, catalog: Catalog, settings: Settings) -> None:
    report = await reload_and_share(catalog, settings)
    profiles = ngettext("{count} profile", "{count} profiles", report.profiles).format(
        count=report.profiles
    )
    scenarios = ngettext(
        "{count} valid scenario", "{count} valid scenarios", report.scenarios
    ).format(count=report.scenarios)
    summary = _("Reloaded: {profiles}, {scenarios}").format(profiles=profiles, scenarios=scenarios)
    if report.invalid_scenarios:
        summary += _(", {count} invalid (see /scenarios)").format(count=report.invalid_scenarios)
    summary += "."
    lines = [summary, *profiles_refusal(report, MESSAGE_LIMIT - len(summary) - 1)]
    await message.answer("\n".join(lines))


def create_router() -> Router:
    router = Router(name="catalog")
    router.message.register(show_profiles, Command("profiles"))
    router.callback_query.register(on_profiles_page, ProfilesPage.filter())
    router.message.register(show_scenarios, Command("scenarios"))
    router.callback_query.register(on_scenarios_page, ScenariosPage.filter())
    router.message.register(reload_catalog, Command("reload"))
    return router
