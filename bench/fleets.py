"""The fleets the benchmark plays and their scenario, written once for all three modes.

A scenario is a short list of `Step`s: rendered as the YAML the engine reads (modes B and
C) and played with plain Playwright calls by mode A, so the three play the same steps.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

STEP_TIMEOUT = 30.0
"""Seconds each browser step may take, in every mode (the engine's default too)."""
CPU_PER_RUN = 3.0
"""CPU seconds one profile's run may cost, generously: about 2 on a slow 2-core machine,
mostly Chromium starting the context's renderer and loading the page."""


@dataclass(frozen=True, slots=True)
class Step:
    """One action: `goto` a path of the site, `scroll` pixels, `wait` seconds, `click` or
    `expect` (visible) a selector."""

    action: str
    value: str | float

    def to_yaml(self) -> str:
        if self.action in ("goto", "click", "expect"):
            text = f"{{site}}{self.value}" if self.action == "goto" else self.value
            return f'  - {self.action}: "{text}"\n    timeout: {STEP_TIMEOUT:g}\n'
        return f"  - {self.action}: {self.value:g}\n"

    def describe(self) -> str:
        unit = " s" if self.action == "wait" else ""
        value = f"{self.value:g}" if isinstance(self.value, float | int) else self.value
        return f"{self.action} {value}{unit}"


@dataclass(frozen=True, slots=True)
class Fleet:
    name: str
    profiles: int
    concurrency: int
    rounds: int
    steps: tuple[Step, ...]

    @property
    def scenario(self) -> str:
        """The scenario's name, which is also its file name."""
        return self.name.lower()

    @property
    def profile_names(self) -> list[str]:
        return [f"p{index:03d}" for index in range(self.profiles)]

    @property
    def sessions_at_once(self) -> int:
        return min(self.profiles, self.concurrency)

    @property
    def dwell(self) -> float:
        return sum(float(step.value) for step in self.steps if step.action == "wait")

    def scenario_yaml(self) -> str:
        return f"description: benchmark fleet {self.name}\nsteps:\n" + "".join(
            step.to_yaml() for step in self.steps
        )

    def time_bound(self) -> float:
        """Seconds after which one mode's play of the fleet is given up and counted as not
        finished: each wave may take its dwell plus two whole step time-outs (an attempt
        that timed out and its retry), every profile the CPU time its context and pages
        cost (`CPU_PER_RUN`, shared by the cores), and a minute more for the whole. A
        machine that cannot keep up ends the mode here rather than stretching the
        benchmark."""
        waves = math.ceil(self.profiles / self.concurrency)
        cpu = self.profiles * CPU_PER_RUN / (os.cpu_count() or 1)
        return waves * (self.dwell + 2 * STEP_TIMEOUT) + cpu + 60

    def describe(self) -> str:
        return (
            f"{self.name}: {self.profiles} profiles at concurrency {self.concurrency}, "
            + " / ".join(step.describe() for step in self.steps)
        )


def browse_steps(wait: float) -> tuple[Step, ...]:
    """F1: open the feed, scroll, read, open a story, see it."""
    return (
        Step("goto", "/feed?p={profile}"),
        Step("scroll", 400),
        Step("wait", wait),
        Step("click", "a.item"),
        Step("expect", "#article"),
    )


def dwell_steps(dwell: float) -> tuple[Step, ...]:
    """F2: open the feed, then stay on it for `dwell` seconds with two scrolls."""
    first, second = round(dwell * 0.4, 2), round(dwell * 0.35, 2)
    return (
        Step("goto", "/feed?p={profile}"),
        Step("wait", first),
        Step("scroll", 400),
        Step("wait", second),
        Step("scroll", 600),
        Step("wait", round(dwell - first - second, 2)),
        Step("expect", "#feed"),
    )


def f1(profiles: int, concurrency: int, rounds: int, wait: float = 2.0) -> Fleet:
    return Fleet("F1", profiles, concurrency, rounds, browse_steps(wait))


def f2(profiles: int, concurrency: int, rounds: int, dwell: float) -> Fleet:
    return Fleet("F2", profiles, concurrency, rounds, dwell_steps(dwell))
