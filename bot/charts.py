"""/stats' picture and caption: the fleet's runs per day by result, and the steps that fail most.

The picture is drawn with matplotlib's object-oriented API on its Agg canvas, never pyplot
(whose global figure registry is not safe in a thread): `render_chart` is CPU work for a
worker thread. Its texts follow the language in use, which `asyncio.to_thread` carries to
the thread with the rest of the context. Dates and numbers are written the locale's way.
"""

from __future__ import annotations

import io
import math
from datetime import date, timedelta

from aiogram import html
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.render import format_duration, shorten
from warmup.i18n import _, ngettext
from warmup.stats import TOP_STEPS, FleetStats

SIZE = (12.8, 8.0)
"""Inches at DPI: 1280 by 800 pixels, the size Telegram shows a photo at."""
DPI = 100
COLORS = {"succeeded": "#43a047", "failed": "#e53935", "other": "#9e9e9e"}
DATE_LABELS = 15
"""At most so many dates under the bars; the others are left out, evenly."""
TOTALS_UP_TO = 31
"""Each bar's total is written over it when the period has at most so many days."""
GAPS_UP_TO = 90
"""Bars have gaps between them, and each day a tick, up to so many days; beyond, they are
too thin to part and stand side by side."""
STEP_ON_CHART = 50
STEP_IN_CAPTION = 60
"""Characters of a step's name kept: five of them keep the caption far under 1024."""


def render_chart(stats: FleetStats, locale: str) -> bytes:
    """The picture, as PNG bytes."""
    figure = Figure(figsize=SIZE, dpi=DPI)
    figure.set_layout_engine("constrained", w_pad=0.15, h_pad=0.1)
    FigureCanvasAgg(figure)
    figure.suptitle(
        _("Fleet runs, {period}").format(period=period(stats, locale)),
        fontsize=17,
        fontweight="bold",
    )
    days, steps = figure.subfigures(2, 1, height_ratios=(3, 2))
    _draw_days(days.subplots(), stats, locale)
    _draw_steps(steps.subplots(), stats, locale)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def stats_caption(stats: FleetStats, locale: str) -> str:
    """The same in numbers (HTML), well under Telegram's 1024 characters."""
    days = len(stats.days)
    heading = ngettext(
        "<b>The fleet, the last {days} day</b>", "<b>The fleet, the last {days} days</b>", days
    ).format(days=days)
    lines = [
        f"📊 {heading}: {period(stats, locale)}",
        f"{_runs(stats, locale)}: {_breakdown(stats, locale)}",
        _("Success rate: {rate}").format(rate=_rate(stats, locale)),
        _("Median run time: {time}").format(time=_median(stats)),
        "",
    ]
    if stats.failing_steps:
        lines.append(_("Steps that fail most:"))
        lines += [
            f"• <code>{html.quote(shorten(step, STEP_IN_CAPTION))}</code>: "
            f"{format_decimal(count, locale=locale)}"
            for step, count in stats.failing_steps
        ]
    else:
        lines.append(_("No failures."))
    return "\n".join(lines)


def period(stats: FleetStats, locale: str) -> str:
    first = format_date(stats.first_day, "medium", locale=locale)
    if stats.first_day == stats.last_day:
        return _("{day} (UTC)").format(day=first)
    last = format_date(stats.last_day, "medium", locale=locale)
    return _("{first} — {last} (UTC)").format(first=first, last=last)


def _runs(stats: FleetStats, locale: str) -> str:
    return ngettext("{count} run", "{count} runs", stats.runs).format(
        count=format_decimal(stats.runs, locale=locale)
    )


def _breakdown(stats: FleetStats, locale: str) -> str:
    parts = [
        _("{count} succeeded").format(count=format_decimal(stats.succeeded, locale=locale)),
        _("{count} failed").format(count=format_decimal(stats.failed, locale=locale)),
    ]
    if stats.other:
        parts.append(
            _("{count} cancelled or interrupted").format(
                count=format_decimal(stats.other, locale=locale)
            )
        )
    return ", ".join(parts)


def _rate(stats: FleetStats, locale: str) -> str:
    rate = stats.success_rate
    return "—" if rate is None else format_percent(rate, "#,##0.#%", locale=locale)


def _median(stats: FleetStats) -> str:
    seconds = stats.median_seconds
    return "—" if seconds is None else format_duration(timedelta(seconds=seconds))


def _draw_days(axes: Axes, stats: FleetStats, locale: str) -> None:
    """A stacked bar per day; a day without runs keeps its place, empty."""
    positions = range(len(stats.days))
    series = (
        ("succeeded", _("succeeded"), [day.succeeded for day in stats.days]),
        ("failed", _("failed"), [day.failed for day in stats.days]),
        ("other", _("cancelled or interrupted"), [day.other for day in stats.days]),
    )
    gaps = len(stats.days) <= GAPS_UP_TO
    bottom = [0] * len(stats.days)
    for key, label, values in series:
        width = 0.8 if gaps else 1
        axes.bar(positions, values, bottom=bottom, width=width, color=COLORS[key], label=label)
        bottom = [below + value for below, value in zip(bottom, values, strict=True)]
    if len(stats.days) <= TOTALS_UP_TO:
        for position, total in zip(positions, bottom, strict=True):
            axes.annotate(
                format_decimal(total, locale=locale),
                (position, total),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=9,
                color="black" if total else "#9e9e9e",
            )
    summary = " · ".join(
        (
            _runs(stats, locale),
            _("{rate} succeeded").format(rate=_rate(stats, locale)),
            _("median run time {time}").format(time=_median(stats)),
        )
    )
    axes.set_title(summary, loc="left", fontsize=12)
    axes.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=3, frameon=False, fontsize=10)
    every = math.ceil(len(stats.days) / DATE_LABELS)
    shown = list(positions)[::-1][::every][::-1]  # the last day, today, always has its date
    axes.set_xticks(shown, [_day(stats.days[index].day, locale) for index in shown])
    if gaps:
        axes.set_xticks(positions, minor=True)
    axes.set_xlim(-0.6, len(stats.days) - 0.4)
    axes.set_ylabel(_("runs per day"))
    axes.set_ylim(0, max(1, *bottom) * 1.15)  # room for the totals under the legend
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)


def _draw_steps(axes: Axes, stats: FleetStats, locale: str) -> None:
    """The steps that fail most, most on top, each with its count."""
    axes.set_title(_("Steps that fail most"), loc="left", fontsize=12)
    if not stats.failing_steps:
        axes.set_axis_off()
        axes.text(
            0.5,
            0.5,
            _("No failures"),
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=14,
            color="#616161",
        )
        return
    # "$" would start a formula in matplotlib's texts: step names are the operator's text.
    names = [shorten(step, STEP_ON_CHART).replace("$", r"\$") for step, _n in stats.failing_steps]
    counts = [count for _step, count in stats.failing_steps]
    bars = axes.barh(range(len(names)), counts, height=0.6, color=COLORS["failed"])
    axes.set_yticks(range(len(names)), names, fontsize=10)
    axes.set_ylim(TOP_STEPS - 0.5, -0.5)  # the first on top; bars as thick however many
    axes.bar_label(bars, [format_decimal(count, locale=locale) for count in counts], padding=4)
    axes.set_xlabel(_("failed runs"))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.margins(x=0.08)
    axes.grid(axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)


def _day(day: date, locale: str) -> str:
    return format_date(day, "d MMM", locale=locale)
