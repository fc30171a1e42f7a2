"""What is configured: the profiles file and the scenarios folder, re-read on /reload."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from warmup.i18n import _, in_english
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


@dataclass(frozen=True, slots=True)
class _Read:
    """What the files held, as read by a worker thread."""

    scenarios: ScenarioCatalog
    profiles: dict[str, ProfileConfig] = field(default_factory=dict)
    error: ProfilesError | None = None
    """The profiles file is refused: the profiles already loaded stay."""
    gone: bool = False
    """The profiles file vanished: the profiles already loaded stay."""


class Catalog:
    def __init__(self, profiles_file: Path, scenarios_dir: Path) -> None:
        self._profiles_file = profiles_file
        self._scenarios_dir = scenarios_dir
        self._reloading = asyncio.Lock()
        self.profiles: dict[str, ProfileConfig] = {}
        self.scenarios = ScenarioCatalog(valid={}, invalid={})

    @property
    def profiles_file(self) -> Path:
        return self._profiles_file

    async def reload(self) -> ReloadReport:
        """Re-read both sources. A broken profiles file keeps the profiles already loaded.

        Reading and parsing run in a worker thread (a 1 MiB profiles file takes a second of
        CPU, runs time out meanwhile if the loop waits); only the database sync, a few
        statements, runs on the loop. Reloads take turns: the later one reads the files
        after the earlier one applied them, so its result is the one that stays.
        """
        async with self._reloading:
            read = await asyncio.to_thread(self._read, keep_if_gone=bool(self.profiles))
            problem: str | None = None
            if read.gone:
                problem = _("{file}: the file is gone").format(file=self._profiles_file.name)
            elif read.error is not None:
                problem = str(read.error)  # in the language of the one who asked
                with in_english():
                    logged = str(read.error).replace("\n", "; ")
                logger.warning("profiles not reloaded: %s", logged)
            else:
                await sync_profiles(read.profiles)
                self.profiles = read.profiles
            self.scenarios = read.scenarios
            return self._report(problem)

    def _read(self, *, keep_if_gone: bool) -> _Read:
        """Read the scenarios folder and the profiles file (blocking: run in a thread)."""
        scenarios = load_scenarios(self._scenarios_dir)
        if keep_if_gone and not self._profiles_file.exists():
            return _Read(scenarios, gone=True)
        try:
            return _Read(scenarios, profiles=load_profiles(self._profiles_file))
        except ProfilesError as error:
            return _Read(scenarios, error=error)

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
                    name=name, error=self.scenarios.invalid[name].summary()
                )
            )
        available = ", ".join(sorted(valid)) or _("none")
        raise ScenarioChoiceError(
            _("unknown scenario '{name}'; available: {names}").format(name=name, names=available)
        )
