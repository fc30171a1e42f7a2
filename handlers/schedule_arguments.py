"""Parsing `/schedule <target> <scenario> <cron> [between HH:MM-HH:MM] [jitter <N>m|<N>s]`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from handlers.arguments import ArgumentError, unknown_scenario
from warmup.i18n import _
from warmup.scenario import SCENARIO_NAME
from warmup.timing import (
    Timing,
    TimingError,
    check_cron,
    cron_help,
    parse_jitter,
    parse_window,
)


def schedule_usage() -> str:
    return _(
        "Usage: /schedule &lt;target&gt; &lt;scenario&gt; &lt;cron&gt; "
        "[between HH:MM-HH:MM] [jitter &lt;N&gt;m|&lt;N&gt;s]\n"
        "cron: 5 fields (minute hour day month weekday); times and windows are UTC\n"
        "Example: <code>/schedule tag:eu browse */30 * * * * between 09:00-21:00 jitter 5m</code>"
    )


OPTIONS = ("between", "jitter")
MAX_TARGET_LENGTH = 512
"""The width of the target column: a schedule's target is resolved again at every run,
so it is stored whole or refused."""


@dataclass(frozen=True, slots=True)
class ScheduleArgs:
    target: str
    scenario: str
    timing: Timing


def parse_schedule_args(text: str | None) -> ScheduleArgs:
    """`tag:eu browse */30 * * * * between 09:00-21:00 jitter 5m` and the like."""
    words = re.sub(r"\s*,\s*", ",", (text or "").strip()).split()
    if not words:
        raise ArgumentError(_("give a target, a scenario and a cron expression"))
    target = words[0].strip(",")
    if not target:
        raise ArgumentError(_("name the profiles to warm up"))
    if len(target) > MAX_TARGET_LENGTH:
        raise ArgumentError(
            _("the target is too long (at most {max_length} characters): use a tag").format(
                max_length=MAX_TARGET_LENGTH
            )
        )
    if len(words) < 2:
        raise ArgumentError(_("name a scenario and give a cron expression after the target"))
    scenario = words[1]
    if not SCENARIO_NAME.fullmatch(scenario):
        raise ArgumentError(unknown_scenario(scenario))
    rest = words[2:]
    cut = next((i for i, word in enumerate(rest) if word.lower() in OPTIONS), len(rest))
    if cut == 0:
        raise ArgumentError(
            _("give a cron expression after the scenario: {cron_help}").format(
                cron_help=cron_help()
            )
        )
    options = _options(rest[cut:])
    try:
        timing = Timing(
            cron=check_cron(" ".join(rest[:cut])),
            window=parse_window(options["between"]) if "between" in options else None,
            jitter_seconds=parse_jitter(options["jitter"]) if "jitter" in options else 0,
        )
    except TimingError as error:
        raise ArgumentError(str(error)) from None
    return ScheduleArgs(target=target, scenario=scenario, timing=timing)


def _options(words: list[str]) -> dict[str, str]:
    """Each option at most once, in any order; its value is the words up to the next option,
    joined (so `between 09:00 - 21:00` reads as `09:00-21:00`)."""
    found: dict[str, str] = {}
    keyword = ""
    for word in words:
        if word.lower() in OPTIONS:
            keyword = word.lower()
            if keyword in found:
                raise ArgumentError(_("'{keyword}' is given twice").format(keyword=keyword))
            found[keyword] = ""
        else:
            found[keyword] += word
    for keyword, value in found.items():
        if not value:
            example = "between 09:00-21:00" if keyword == "between" else "jitter 5m"
            raise ArgumentError(
                _("'{keyword}' needs a value, like {example}").format(
                    keyword=keyword, example=example
                )
            )
    return found
