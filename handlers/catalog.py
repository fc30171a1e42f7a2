"""/profiles, /scenarios and /reload: what is configured."""

from __future__ import annotations

from aiogram import Router, html
from aiogram.filters import Command
from aiogram.types import Message

from bot.render import RUN_ICONS, fit, shorten
from models import Profile, WarmupRun
from warmup.catalog import Catalog

MESSAGE_LIMIT = 4096


async def show_profiles(message: Message, catalog: Catalog) -> None:
    if not catalog.profiles:
        await message.answer(
            f"No profiles yet: describe them in {html.quote(str(catalog.profiles_file))} "
            "and send /reload."
        )
        return
    lines = [f"<b>Profiles</b> ({len(catalog.profiles)})"]
    profiles = {p.name: p for p in await Profile.filter(name__in=list(catalog.profiles))}
    for name, config in catalog.profiles.items():
        tags = f" [{html.quote(', '.join(config.tags))}]" if config.tags else ""
        last = await WarmupRun.filter(profile_id=profiles[name].id).order_by("-id").first()
        result = "never run"
        if last is not None:
            result = f"{RUN_ICONS[last.status]} {last.status.value} in task #{last.task_id}"
        if profiles[name].session_expired:
            result += f" · 🔑 session expired: /import {html.quote(name)}"
        lines.append(f"• <b>{html.quote(name)}</b>{tags} — {result}")
    await message.answer(fit(lines, MESSAGE_LIMIT))


async def show_scenarios(message: Message, catalog: Catalog) -> None:
    scenarios = catalog.scenarios
    if not scenarios.valid and not scenarios.invalid:
        await message.answer("No scenarios yet: add .yaml files to the scenarios folder.")
        return
    lines = ["<b>Scenarios</b>"]
    for name, scenario in sorted(scenarios.valid.items()):
        about = (
            f" — {html.quote(shorten(scenario.description, 100))}" if scenario.description else ""
        )
        lines.append(f"✅ <b>{html.quote(name)}</b>{about}")
    for name, error in sorted(scenarios.invalid.items()):
        lines.append(f"❌ <b>{html.quote(name)}</b> — {html.quote(shorten(str(error), 300))}")
    await message.answer(fit(lines, MESSAGE_LIMIT))


async def reload_catalog(message: Message, catalog: Catalog) -> None:
    report = await catalog.reload()
    lines = [
        f"Reloaded: {report.profiles} profile(s), {report.scenarios} valid scenario(s)"
        + (
            f", {report.invalid_scenarios} invalid (see /scenarios)"
            if report.invalid_scenarios
            else ""
        )
        + "."
    ]
    if report.profiles_error:
        lines.append(
            f"⚠️ The profiles file was not loaded, the previous profiles stay: "
            f"{html.quote(report.profiles_error)}"
        )
    await message.answer("\n".join(lines))


def create_router() -> Router:
    router = Router(name="catalog")
    router.message.register(show_profiles, Command("profiles"))
    router.message.register(show_scenarios, Command("scenarios"))
    router.message.register(reload_catalog, Command("reload"))
    return router
