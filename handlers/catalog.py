"""/profiles, /scenarios and /reload: what is configured."""

from __future__ import annotations

from aiogram import Router, html
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.render import MESSAGE_LIMIT, RUN_ICONS, fit, problem_lines, run_status_word, shorten
from bot.settings import Settings
from models import Profile, WarmupRun
from warmup.catalog import Catalog, ReloadReport
from warmup.shared_files import share_seeds


async def show_profiles(message: Message, catalog: Catalog) -> None:
    if not catalog.profiles:
        await message.answer(
            _("No profiles yet: describe them in {file} and send /reload.").format(
                file=html.quote(str(catalog.profiles_file))
            )
        )
        return
    lines = [_("<b>Profiles</b> ({count})").format(count=len(catalog.profiles))]
    profiles = {p.name: p for p in await Profile.filter(name__in=list(catalog.profiles))}
    for name, config in catalog.profiles.items():
        tags = f" [{html.quote(', '.join(config.tags))}]" if config.tags else ""
        last = await WarmupRun.filter(profile_id=profiles[name].id).order_by("-id").first()
        result = _("never run")
        if last is not None:
            result = f"{RUN_ICONS[last.status]} " + _("{status} in task #{task_id}").format(
                status=run_status_word(last.status), task_id=last.task_id
            )
        if profiles[name].session_expired:
            result += " · 🔑 " + _("session expired: /import {profile}").format(
                profile=html.quote(name)
            )
        lines.append(f"• <b>{html.quote(name)}</b>{tags} — {result}")
    await message.answer(fit(lines, MESSAGE_LIMIT))


async def show_scenarios(message: Message, catalog: Catalog) -> None:
    scenarios = catalog.scenarios
    if not scenarios.valid and not scenarios.invalid:
        await message.answer(_("No scenarios yet: add .yaml files to the scenarios folder."))
        return
    lines = [_("<b>Scenarios</b>")]
    for name, scenario in sorted(scenarios.valid.items()):
        about = (
            f" — {html.quote(shorten(scenario.description, 100))}" if scenario.description else ""
        )
        lines.append(f"✅ <b>{html.quote(name)}</b>{about}")
    for name, error in sorted(scenarios.invalid.items()):
        lines.append(f"❌ <b>{html.quote(name)}</b> — {html.quote(shorten(str(error), 300))}")
    await message.answer(fit(lines, MESSAGE_LIMIT))


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
    router.message.register(show_scenarios, Command("scenarios"))
    router.message.register(reload_catalog, Command("reload"))
    return router
