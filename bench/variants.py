"""Mode B again with one setting changed: each TRACE mode, and a sweep of MAX_CONCURRENCY
(fixed values and `auto`). Compared with the A and B of the same fleet's rounds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.fleets import Fleet
from bench.results import ModeRun

CRAWLEE_START = 1
"""crawlee-python's AutoscaledPool starts at its desired concurrency, by default its
minimum: 1."""
CRAWLEE_STEP = 0.05
CRAWLEE_INTERVAL = 10.0


@dataclass(frozen=True, slots=True)
class Variant:
    label: str
    overrides: dict[str, Any]
    sweep: bool
    """A point of the MAX_CONCURRENCY sweep (else a TRACE mode)."""


def variants_of(fleet: Fleet) -> list[Variant]:
    """F1: the three TRACE modes other than the default, and a sweep of MAX_CONCURRENCY
    (half the fleet's, twice it, all at once); F2: half the fleet at once. Both: auto.
    The fleet's own concurrency with the default TRACE is mode B itself."""
    everyone = fleet.profiles
    found: list[Variant] = []
    if fleet.name == "F1":
        found += [
            Variant(f"TRACE={mode}", {"trace": mode}, sweep=False)
            for mode in ("off", "retain-on-failure", "on")
        ]
        fixed = {max(fleet.concurrency // 2, 1), fleet.concurrency * 2, everyone}
    else:
        fixed = {max(everyone // 2, 1)}
    found += [
        Variant(f"MAX_CONCURRENCY={size}", {"max_concurrency": size}, sweep=True)
        for size in sorted(fixed)
        if size != fleet.concurrency
    ]
    found.append(Variant("MAX_CONCURRENCY=auto", {"max_concurrency": "auto"}, sweep=True))
    return found


def crawlee_concurrency(seconds: float, start: int = CRAWLEE_START) -> int:
    """The concurrency Crawlee's step rule reaches after `seconds` on an idle machine:
    `ceil(5%)` more every 10 s."""
    size = start
    for _ in range(int(seconds // CRAWLEE_INTERVAL)):
        size += math.ceil(size * CRAWLEE_STEP)
    return size


def summarise_variants(
    fleet: Fleet,
    runs: Sequence[ModeRun],
    played: Sequence[tuple[Variant, ModeRun]],
    patient: ModeRun | None = None,
) -> list[dict[str, Any]]:
    """One row per variant, and one for B at the fleet's own concurrency, each against
    the median A and B of the fleet's rounds, and against `patient` (A with no step
    time-out) when given."""
    bare = _median([run.wall_s for run in runs if run.mode == "A" and run.ok])
    engine = _median([run.wall_s for run in runs if run.mode == "B" and run.ok])
    rows = []
    first_engine = next((run for run in runs if run.mode == "B" and run.ok), None)
    if first_engine is not None:
        label = f"B itself: MAX_CONCURRENCY={fleet.concurrency}, TRACE=on-first-retry"
        row = _row(label, True, first_engine, bare, engine)
        row.update(wall_s=engine, x_bare=engine / bare if engine and bare else None, x_engine=1.0)
        rows.append(row)
    rows += [_row(v.label, v.sweep, run, bare, engine) for v, run in played]
    if patient is not None:
        rows.insert(0, _row("A with no step time-out", False, patient, bare, engine))
        floor = patient.wall_s if patient.ok and not patient.failed_runs else None
        for row in rows:
            row["x_patient"] = row["wall_s"] / floor if row["wall_s"] and floor else None
    sweep = [row for row in rows if row["sweep"] and row["wall_s"] is not None]
    fixed = [row for row in sweep if not row["label"].endswith("=auto")]
    auto = next((row for row in sweep if row["label"].endswith("=auto")), None)
    if fixed and auto is not None and not auto["failed_runs"]:
        best = min(fixed, key=lambda row: row["wall_s"])
        auto["x_best_fixed"] = auto["wall_s"] / best["wall_s"]
        auto["best_fixed"] = best["label"]
        auto["crawlee_concurrency_by_then"] = crawlee_concurrency(auto["wall_s"])
    return rows


def _row(
    label: str, sweep: bool, run: ModeRun, bare: float | None, engine: float | None
) -> dict[str, Any]:
    wall = run.wall_s if run.ok else None
    return {
        "label": label,
        "sweep": sweep,
        "wall_s": wall,
        "x_bare": wall / bare if wall and bare else None,
        "x_engine": wall / engine if wall and engine else None,
        "failed_runs": run.failed_runs,
        "error": run.error,
        "sessions_peak": run.measures.get("sessions_peak"),
        "sessions_limit_last": run.measures.get("sessions_limit_last"),
        "cpu_ours_s": run.measures.get("tree", {}).get("cpu_ours_s"),
        "peak_mb": run.measures.get("tree", {}).get("peak_mb"),
    }


def _median(values: Sequence[float | None]) -> float | None:
    found = [value for value in values if value is not None]
    return statistics.median(found) if found else None


def variants_table(fleet: Fleet, rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        f"{fleet.name} variants (mode B, one round each; xA∞: against A with no step "
        "time-out, when all its runs passed)",
        f"{'':44} {'wall s':>7} {'xA':>6} {'xA∞':>6} {'xB':>6} {'failed':>7} "
        f"{'peak sess':>9} {'CPU s':>6} {'peak MB':>8}",
    ]
    for row in rows:
        if row["wall_s"] is None:
            lines.append(f"{row['label']:44} {row['error'] or 'did not finish'}")
            continue
        lines.append(
            f"{row['label']:44} {row['wall_s']:7.1f} {_x(row['x_bare']):>6} "
            f"{_x(row.get('x_patient')):>6} {_x(row['x_engine']):>6} {row['failed_runs']:>7} "
            f"{row['sessions_peak'] if row['sessions_peak'] is not None else '-':>9} "
            f"{_n(row['cpu_ours_s']):>6} {_n(row['peak_mb']):>8}"
        )
        if "x_best_fixed" in row:
            lines.append(
                f"  auto: x{row['x_best_fixed']:.2f} of the best fixed value "
                f"({row['best_fixed']}); Crawlee's step rule from 1 would be at "
                f"{row['crawlee_concurrency_by_then']} by then"
            )
    return "\n".join(lines)


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
