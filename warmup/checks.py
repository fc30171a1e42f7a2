"""Every problem of the configuration at once, without a browser or a database.

`python -m bot check` prints them all; `/warmup` refuses a task with the first
`missing_variables` problem of its profiles, so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from warmup.i18n import _
from warmup.profiles import ProfileConfig, ProfilesError, load_profiles
from warmup.scenario import RESERVED_VARIABLES, Scenario, load_scenarios
from warmup.state_store import UnusableState, _read_state


def missing_variables(scenario: Scenario, profiles: Iterable[ProfileConfig]) -> list[str]:
    """One problem per profile that lacks a `{var}` the scenario uses and does not define."""
    used = scenario.variables_used()
    problems = []
    for profile in profiles:
        missing = sorted(used - {*scenario.vars, *profile.vars, *RESERVED_VARIABLES})
        if missing:
            braces = ", ".join(f"{{{variable}}}" for variable in missing)
            problems.append(
                _(
                    "scenario '{scenario}' uses {variables}, which profile '{profile}' "
                    "does not define: add it to the profile's or the scenario's vars"
                ).format(scenario=scenario.name, variables=braces, profile=profile.name)
            )
    return problems


def seed_problem(path: Path) -> str | None:
    """Why a profile's `storage_state` seed file cannot be used, or None when it can."""
    if not path.is_file():
        return "no such file"
    try:
        state = _read_state(path)
    except UnusableState as error:
        return f"not a storage state: {error}"
    return "cannot be read" if state is None else None


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    """One line per problem (a scenario file with many ends with a line counting the rest)."""
    unlisted: int = 0
    """Problems counted on such a line rather than listed."""
    warnings: list[str] = field(default_factory=list)
    profiles: int = 0
    scenarios: list[str] = field(default_factory=list)
    """The names of the valid scenarios."""


def check_configuration(profiles_file: Path, scenarios_dir: Path) -> CheckReport:
    """The profiles file, its seed files, every scenario file, and each valid scenario's
    variables against every profile."""
    report = CheckReport()
    profiles: dict[str, ProfileConfig] = {}
    if not profiles_file.exists():
        report.warnings.append(
            f"{profiles_file}: no such file, so no profiles yet (start from profiles.example.yaml)"
        )
    else:
        try:
            profiles = load_profiles(profiles_file)
        except ProfilesError as error:
            report.errors.extend(error.problems)
    report.profiles = len(profiles)
    for profile in profiles.values():
        if profile.storage_state is not None:
            reason = seed_problem(profile.storage_state)
            if reason is not None:
                report.errors.append(
                    f"{profiles_file.name}: profile '{profile.name}': "
                    f"storage_state {profile.storage_state}: {reason}"
                )

    if not scenarios_dir.is_dir():
        report.warnings.append(f"{scenarios_dir}: no such folder, so no scenarios")
        return report
    catalog = load_scenarios(scenarios_dir)
    for error in catalog.invalid.values():
        report.errors.extend(error.lines(str(scenarios_dir / error.source)))
        report.unlisted += error.count - len(error.problems)
    for name, scenario in sorted(catalog.valid.items()):
        report.scenarios.append(name)
        for problem in missing_variables(scenario, profiles.values()):
            report.errors.append(f"{_scenario_file(scenarios_dir, name)}: {problem}")
    if not catalog.valid and not catalog.invalid:
        report.warnings.append(f"{scenarios_dir}: no scenario files (*.yaml) yet")
    return report


def _scenario_file(directory: Path, name: str) -> Path:
    yaml_file = directory / f"{name}.yaml"
    return yaml_file if yaml_file.is_file() else directory / f"{name}.yml"
