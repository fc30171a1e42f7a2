"""The files and settings modes B and C start from: a fresh folder per mode and round."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from bench.fleets import Fleet
from bench.site_process import SiteProcess
from bot.settings import Settings, SettingsError, load_settings
from models import RunStatus, WarmupRun
from tests.conftest import ADMIN_ID, write_config

TEARDOWN_BOUND = 120.0
"""Seconds setting a mode up and closing it may take on top of the fleet's time bound."""


def write_fleet(root: Path, site: SiteProcess, fleet: Fleet) -> None:
    """profiles.yaml (every profile with `site` as {site}) and the fleet's scenario."""
    names: list[str | dict[str, Any]] = list(fleet.profile_names)
    write_config(root, site, names, {fleet.scenario: fleet.scenario_yaml()})


def fleet_settings(root: Path, fleet: Fleet, **overrides: Any) -> Settings:
    """The bot's defaults (pacing, progress interval, attempts, time-outs) with the fleet's
    concurrency and files under `root`; SettingsError when a value is refused."""
    options: dict[str, Any] = {
        "_env_file": None,
        "admin_ids": frozenset({ADMIN_ID}),
        "database_url": f"sqlite://{root}/warmup.sqlite3",
        "data_dir": root / "data",
        "profiles_file": root / "profiles.yaml",
        "scenarios_dir": root / "scenarios",
        "max_concurrency": fleet.concurrency,
    }
    options.update(overrides)
    return load_settings(**options)


def refusal(fleet: Fleet) -> str | None:
    """Why the settings refuse the fleet (its concurrency, say); None when they take it."""
    try:
        fleet_settings(Path("/nonexistent"), fleet)
    except SettingsError as error:
        return f"refused by the settings: {error}"
    return None


async def runs_by_status(task_id: int) -> dict[str, int]:
    """How many of the task's runs are in each status (in the current database context)."""
    statuses = await WarmupRun.filter(task_id=task_id).values_list("status", flat=True)
    return dict(sorted(Counter(str(status) for status in statuses).items()))


async def failure_reasons(task_id: int) -> dict[str, int]:
    """The errors of the task's failed runs, counted (in the current database context)."""
    errors = await WarmupRun.filter(task_id=task_id, status=RunStatus.failed).values_list(
        "error", flat=True
    )
    return dict(Counter(str(error)[:120] for error in errors))


def not_finished(bound: float, counts: dict[str, int]) -> str:
    """The error of a mode whose task did not end within its bound."""
    found = ", ".join(f"{status} {count}" for status, count in counts.items())
    return f"not finished within {bound:.0f} s ({found})"
