"""`python -m bot check`: the settings, the profiles file and every scenario, all problems at once.

It needs no BOT_TOKEN, no browser and no database, so it fits before a deploy and in
`make test`. Exit code 1 when anything is wrong, else 0.
"""

from __future__ import annotations

from bot.settings import SettingsError, load_settings
from warmup.checks import check_configuration


def run_check() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"error: {error}")
        return 1
    report = check_configuration(settings.profiles_file, settings.scenarios_dir)
    for warning in report.warnings:
        print(f"warning: {warning}")
    for error in report.errors:
        print(f"error: {error}")
    if report.errors:
        print(f"{_count(len(report.errors) + report.unlisted, 'problem')} found")
        return 1
    names = f" ({', '.join(report.scenarios)})" if report.scenarios else ""
    print(
        f"settings ok; {_count(report.profiles, 'profile')} in {settings.profiles_file.name}; "
        f"{_count(len(report.scenarios), 'scenario')} in {settings.scenarios_dir}/{names}"
    )
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
