"""What is configured: the profiles file and the scenarios folder, re-read on /reload."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from warmup.i18n import _
from warmup.profiles import ProfileConfig, ProfilesError, load_profiles, sync_profiles
from warmup.scenario import Scenario, ScenarioCatalog, load_scenarios

logger = logging.getLogger(__name__)


class ScenarioChoiceError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ReloadReport:
    profiles: int
    scenarios: int
    invalid_scenarios: int
    profiles_error: str | None


class Catalog:
    def __init__(self, profiles_file: Path, scenarios_dir: Path) -> None:
        self._profiles_file = profiles_file
        self._scenarios_dir = scenarios_dir
        self.profiles: dict[str, ProfileConfig] = {}
        self.scenarios = ScenarioCatalog(valid={}, invalid={})

    @property
    def profiles_file(self) -> Path:
        return self._profiles_file

    async def reload(self) -> ReloadReport:
        """Re-read both sources. A broken profiles file keeps the profiles already loaded."""
        self.scenarios = load_scenarios(self._scenarios_dir)
        if self.profiles and not self._profiles_file.exists():
            return self._report(_("{file}: the file is gone").format(file=self._profiles_file.name))
        profiles_error: str | None = None
        try:
            profiles = load_profiles(self._profiles_file)
        except ProfilesError as error:
            profiles_error = str(error)
            logger.warning("profiles not reloaded: %s", error)
        else:
            await sync_profiles(profiles)
            self.profiles = profiles
        return self._report(profiles_error)

    def _report(self, profiles_error: str | None) -> ReloadReport:
        return ReloadReport(
            profiles=len(self.profiles),
            scenarios=len(self.scenarios.valid),
            invalid_scenarios=len(self.scenarios.invalid),
            profiles_error=profiles_error,
        )

    def scenario(self, name: str | None) -> Scenario:
        """The scenario to play; without a name, the only one or the one named `default`."""
        valid = self.scenarios.valid
        if name is None:
            if len(valid) == 1:
                return next(iter(valid.values()))
            if "default" in valid:
                return valid["default"]
            if not valid:
                raise ScenarioChoiceError(
                    _("no valid scenario in {folder}: add a .yaml file there").format(
                        folder=self._scenarios_dir
                    )
                )
            raise ScenarioChoiceError(
                _("name a scenario: {names}").format(names=", ".join(sorted(valid)))
            )
        if name in valid:
            return valid[name]
        if name in self.scenarios.invalid:
            raise ScenarioChoiceError(
                _("scenario '{name}' is invalid: {error}").format(
                    name=name, error=self.scenarios.invalid[name]
                )
            )
        available = ", ".join(sorted(valid)) or _("none")
        raise ScenarioChoiceError(
            _("unknown scenario '{name}'; available: {names}").format(name=name, names=available)
        )
