"""Parsing what the operator typed after a command, kept apart so handlers stay short."""

from __future__ import annotations

import re
from dataclasses import dataclass

from warmup.fleet import ProfileShow
from warmup.i18n import _
from warmup.scenario import SCENARIO_NAME
from warmup.targets import shown


def warmup_usage() -> str:
    return _(
        "Usage: /warmup &lt;target&gt; [scenario]\n"
        "target: <code>all</code>, a profile name, names separated by commas, or "
        "<code>tag:&lt;tag&gt;</code>\n"
        "Example: <code>/warmup all browse</code>"
    )


MAX_ID = 2**31 - 1
"""Task and run ids are 32-bit integer columns: a larger number names nothing, and some
databases refuse it outright, so it never reaches a query."""

_TASK_ID = re.compile(r"[0-9]{1,12}")  # ASCII only: "²".isdigit() is true, int("²") fails


class ArgumentError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class WarmupArgs:
    target: str
    scenario: str | None


def parse_warmup_args(text: str | None) -> WarmupArgs:
    """`all`, `alice smoke`, `alice, bob smoke`, `tag:eu` …"""
    normalized = re.sub(r"\s*,\s*", ",", (text or "").strip())
    words = normalized.split()
    if not words:
        raise ArgumentError(_("name the profiles to warm up"))
    if len(words) > 2:
        raise ArgumentError(
            _(
                "too many words: {words}; "
                "give a target and at most one scenario, and no spaces inside the target"
            ).format(words=shown(" ".join(words)))
        )
    target = words[0].strip(",")
    if not target:
        raise ArgumentError(_("name the profiles to warm up"))
    scenario = words[1] if len(words) == 2 else None
    if scenario is not None and not SCENARIO_NAME.fullmatch(scenario):
        raise ArgumentError(unknown_scenario(scenario))
    return WarmupArgs(target=target, scenario=scenario)


def parse_task_id(text: str | None) -> int:
    """`12` or `#12`."""
    value = (text or "").strip().removeprefix("#")
    if not _TASK_ID.fullmatch(value):
        raise ArgumentError(_("give a task number, like 12 or #12"))
    number = int(value)
    if number > MAX_ID:
        raise ArgumentError(
            _("no task has a number that large; give a task number, like 12 or #12")
        )
    return number


MAX_DAYS = 3650
_DAYS = re.compile(r"[0-9]{1,4}")


def parse_days(text: str | None, default: int, most: int = MAX_DAYS) -> int:
    """`/export 7`: a whole number of days from 1 to `most` (at most MAX_DAYS); `default`
    when none."""
    value = (text or "").strip()
    if not value:
        return default
    if not _DAYS.fullmatch(value) or not 1 <= int(value) <= most:
        raise ArgumentError(_("give a number of days from 1 to {most}, like 7").format(most=most))
    return int(value)


def unknown_scenario(scenario: str) -> str:
    """The refusal of a scenario name that cannot name a scenario file."""
    return _(
        "unknown scenario '{scenario}': scenario names are letters, digits, "
        "_ and - (at most 64); /scenarios lists them"
    ).format(scenario=shown(scenario))


def import_usage() -> str:
    return _(
        "Usage: send the profile's Playwright storage-state JSON file as a document, with the "
        "caption <code>/import &lt;profile&gt;</code>"
    )


def parse_import_args(text: str | None) -> str:
    """The one profile name after `/import` (whether it exists is the handler's question)."""
    words = (text or "").split()
    if not words:
        raise ArgumentError(_("name the profile the session is for"))
    if len(words) > 1:
        raise ArgumentError(
            _("too many words: {words}; give one profile name").format(words=shown(" ".join(words)))
        )
    return words[0]


def profiles_usage() -> str:
    return _(
        "Usage: /profiles [failed | expired | never] [tag:&lt;tag&gt;]\n"
        "Example: <code>/profiles failed tag:eu</code>"
    )


@dataclass(frozen=True, slots=True)
class ProfilesArgs:
    show: ProfileShow = ProfileShow.all
    tag: str | None = None


_SHOW_WORDS = {
    "all": ProfileShow.all,
    "failed": ProfileShow.failed,
    "expired": ProfileShow.expired,
    "never": ProfileShow.never,
}


def parse_profiles_args(text: str | None) -> ProfilesArgs:
    """`failed`, `tag:eu`, `never tag:eu` …: at most one of each, in any order."""
    show: ProfileShow | None = None
    tag: str | None = None
    for word in (text or "").split():
        if word.lower().startswith("tag:"):
            if tag is not None:
                raise ArgumentError(_("give at most one tag"))
            tag = word[len("tag:") :]
            if not tag:
                raise ArgumentError(_("name a tag after tag:, like tag:eu"))
        elif word.lower() in _SHOW_WORDS:
            if show is not None:
                raise ArgumentError(_("give at most one of failed, expired, never, all"))
            show = _SHOW_WORDS[word.lower()]
        else:
            raise ArgumentError(
                _("unknown filter '{word}': use failed, expired, never, all or tag:<tag>").format(
                    word=shown(word)
                )
            )
    return ProfilesArgs(show=show or ProfileShow.all, tag=tag)
