"""When a schedule runs: a 5-field cron expression, an optional daily window and a jitter.

Every time is UTC. These are pure functions of a given moment and a given random source,
so they are tested without waiting for the clock.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from croniter import CroniterBadDateError, croniter

from warmup.i18n import _
from warmup.targets import shown

CRON_FIELDS = 5
MAX_CRON_LENGTH = 128
"""The width of the cron column."""
MAX_JITTER_SECONDS = 24 * 3600
SEARCH_LIMIT = 1000
"""Windows looked at before a cron expression is said never to fall inside the window:
each one skipped moves to the next day's opening or later, so this is years ahead."""

_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_JITTER = re.compile(r"([0-9]{1,6})([ms])")


class TimingError(ValueError):
    """What is wrong with a cron expression, a window or a jitter, in the operator's words."""


def cron_help() -> str:
    """How a cron expression is written, in a few words."""
    return _("5 fields: minute hour day month weekday, like */30 * * * *")


@dataclass(frozen=True, slots=True)
class Window:
    """A daily window, start included, end excluded; an end before the start wraps midnight."""

    start: time
    end: time

    @property
    def overnight(self) -> bool:
        return self.end < self.start

    def contains(self, moment: datetime) -> bool:
        clock = moment.astimezone(UTC).time().replace(tzinfo=None)
        if self.overnight:
            return clock >= self.start or clock < self.end
        return self.start <= clock < self.end

    def opens_after(self, moment: datetime) -> datetime:
        """The first opening of the window after `moment`."""
        return _next_at(self.start, moment)

    def closes_after(self, moment: datetime) -> datetime:
        """The first closing of the window after `moment`: for a moment inside the window,
        the end of that window."""
        return _next_at(self.end, moment)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class Timing:
    cron: str
    window: Window | None = None
    jitter_seconds: int = 0


def _next_at(clock: time, moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    today = datetime.combine(moment.date(), clock, tzinfo=UTC)
    return today if today > moment else today + timedelta(days=1)


def check_cron(expression: str) -> str:
    """The expression with single spaces, or TimingError naming croniter's objection."""
    fields = expression.split()
    normalized = " ".join(fields)
    if len(fields) != CRON_FIELDS:
        raise TimingError(
            _("a cron expression has {cron_help}; '{expression}' has {count}").format(
                cron_help=cron_help(), expression=shown(normalized), count=len(fields)
            )
        )
    if len(normalized) > MAX_CRON_LENGTH:
        raise TimingError(
            _("the cron expression is too long: at most {max_length} characters").format(
                max_length=MAX_CRON_LENGTH
            )
        )
    if not croniter.is_valid(normalized):
        invalid = _invalid_field(fields)
        if invalid is None:
            raise TimingError(
                _("'{expression}' is not a valid cron expression; {cron_help}").format(
                    expression=shown(normalized), cron_help=cron_help()
                )
            )
        index, value = invalid
        raise TimingError(
            _(
                "'{expression}' is not a valid cron expression: its {field} field "
                "'{value}' is not valid ({rule})"
            ).format(
                expression=shown(normalized),
                field=_field_name(index),
                value=shown(value),
                rule=_field_rule(index),
            )
        )
    try:
        croniter(normalized, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        raise TimingError(
            _("'{expression}' never happens: no date matches it").format(
                expression=shown(normalized)
            )
        ) from None
    return normalized


def _field_name(index: int) -> str:
    """The name of a cron expression's field by its place, from 0."""
    names = (_("minute"), _("hour"), _("day"), _("month"), _("weekday"))
    return names[index]


def _field_rule(index: int) -> str:
    """What a cron expression's field takes, in a few words."""
    rules = (
        "0-59",
        "0-23",
        "1-31",
        _("1-12 or jan-dec"),
        _("0-7 or sun-sat; 0 and 7 are Sunday"),
    )
    return rules[index]


def _invalid_field(fields: list[str]) -> tuple[int, str] | None:
    """The first field croniter refuses on its own (every other field `*`), with its
    value; None when each field alone is valid. Said in our words, which are translated,
    rather than croniter's."""
    for index, value in enumerate(fields):
        alone = ["*"] * CRON_FIELDS
        alone[index] = value
        if not croniter.is_valid(" ".join(alone)):
            return index, value
    return None


def parse_clock(text: str) -> time:
    """`09:00` or `9:00`."""
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise TimingError(
            _("'{text}' is not a time: write HH:MM, like 09:00").format(text=shown(text))
        )
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise TimingError(_("{text} is not a time of day: from 00:00 to 23:59").format(text=text))
    return time(hour, minute)


def parse_window(text: str) -> Window:
    """`09:00-21:00`; `22:00-06:00` runs overnight."""
    start, dash, end = text.partition("-")
    if not dash:
        raise TimingError(
            _("'{text}' is not a window: write HH:MM-HH:MM (UTC), like 09:00-21:00").format(
                text=shown(text)
            )
        )
    window = Window(parse_clock(start), parse_clock(end))
    if window.start == window.end:
        raise TimingError(
            _("the window {window} is empty: it ends when it starts").format(window=window)
        )
    return window


def parse_jitter(text: str) -> int:
    """`5m` or `30s`, in seconds."""
    match = _JITTER.fullmatch(text.lower())
    if match is None:
        raise TimingError(
            _("'{text}' is not a jitter: give minutes or seconds, like 5m or 30s").format(
                text=shown(text)
            )
        )
    seconds = int(match[1]) * (60 if match[2] == "m" else 1)
    if seconds > MAX_JITTER_SECONDS:
        raise TimingError(
            _("the jitter is at most {minutes}m (a day)").format(minutes=MAX_JITTER_SECONDS // 60)
        )
    return seconds


def next_occurrence(cron: str, window: Window | None, after: datetime) -> datetime | None:
    """The first cron time after `after` that falls inside the window; None if none does."""
    moment = after
    for _attempt in range(SEARCH_LIMIT):
        try:
            candidate: datetime = croniter(cron, moment).get_next(datetime)
        except (CroniterBadDateError, OverflowError):
            return None
        if window is None or window.contains(candidate):
            return candidate
        moment = window.opens_after(candidate) - timedelta(microseconds=1)
    return None


def jitter_for(timing: Timing, occurrence: datetime, rng: random.Random) -> timedelta:
    """A random delay of 0..jitter, cut so that the start stays before the window closes."""
    limit = timing.jitter_seconds
    if timing.window is not None:
        room = timing.window.closes_after(occurrence) - occurrence
        limit = min(limit, int(room.total_seconds()) - 1)
    return timedelta(seconds=rng.randint(0, limit) if limit > 0 else 0)


def next_run(timing: Timing, after: datetime, rng: random.Random) -> datetime | None:
    """When the schedule starts next after `after`: the next cron time inside the window,
    plus its jitter. None when the cron never falls inside the window."""
    occurrence = next_occurrence(timing.cron, timing.window, after)
    if occurrence is None:
        return None
    return occurrence + jitter_for(timing, occurrence, rng)
