"""/stats' picture and caption, drawn from numbers chosen here."""

from __future__ import annotations

import html
import re
import struct
from datetime import date, timedelta

from bot.charts import render_chart, stats_caption
from warmup.stats import DayCounts, FleetStats

PNG = b"\x89PNG\r\n\x1a\n"


def _stats(days: int, steps: tuple[tuple[str, int], ...]) -> FleetStats:
    last = date(2025, 3, 14)
    return FleetStats(
        days=tuple(
            DayCounts(last - timedelta(days=days - 1 - n), 900 + n % 7, n % 5, n % 2)
            if n % 6
            else DayCounts(last - timedelta(days=days - 1 - n))
            for n in range(days)
        ),
        median_seconds=83.4,
        failing_steps=steps,
    )


def _size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG)
    return struct.unpack(">II", png[16:24])


def test_the_caption_stays_under_telegrams_limit_whatever_the_step_names() -> None:
    long_steps = tuple(
        (f"steps[{n}].repeat.steps[0] (click {'<a href=&quot;x&quot;>' * 40})", 10**6 - n)
        for n in range(5)
    )
    caption = stats_caption(_stats(365, long_steps), "en")
    plain = html.unescape(re.sub(r"<[^>]+>", "", caption))
    assert len(plain) <= 1024
    assert "Steps that fail most:" in plain
    assert "999,999" in plain and "<a href=" in plain, "counts kept, names shortened and escaped"


def test_the_caption_says_the_numbers() -> None:
    stats = FleetStats(
        days=(DayCounts(date(2025, 3, 9), 1, 1, 1), DayCounts(date(2025, 3, 10), 1, 0, 0)),
        median_seconds=75.9,
        failing_steps=(("steps[1] (expect #feed)", 1),),
    )
    caption = stats_caption(stats, "en")
    assert "<b>The fleet, the last 2 days</b>: Mar 9, 2025 — Mar 10, 2025 (UTC)" in caption
    assert "4 runs: 2 succeeded, 1 failed, 1 cancelled or interrupted" in caption
    assert "Success rate: 50%" in caption
    assert "Median run time: 01:15" in caption
    assert "• <code>steps[1] (expect #feed)</code>: 1" in caption

    quiet = FleetStats(days=(DayCounts(date(2025, 3, 10), 3),), median_seconds=2, failing_steps=())
    caption = stats_caption(quiet, "en")
    assert "the last 1 day</b>: Mar 10, 2025 (UTC)" in caption
    assert "3 runs: 3 succeeded, 0 failed\n" in caption
    assert "Success rate: 100%" in caption and "No failures." in caption


def test_the_picture_is_a_png_of_telegrams_photo_size_for_short_and_long_periods() -> None:
    # Two "$" would make a formula of what lies between, and "\\x" is no formula command.
    steps = (('steps[0] (click a[href$="pdf"], a[href^="$\\x"])', 3), ("steps[2] (expect #x)", 1))
    for days in (1, 14, 60, 365):
        assert _size(render_chart(_stats(days, steps), "en")) == (1280, 800), days
    assert _size(render_chart(_stats(14, ()), "ru")) == (1280, 800)
