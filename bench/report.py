"""Rounds summed up: per fleet and mode, medians and spreads; the table and the JSON."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.fleets import Fleet
from bench.probes import percentile
from bench.results import ModeRun

MODES = {"A": "A bare Playwright", "B": "B engine", "C": "C bot", "D": "D bot + 2 workers"}


def spread(values: Sequence[float]) -> dict[str, float] | None:
    """Median and min-max; None for no values."""
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def _measure(runs: Sequence[ModeRun], *keys: str) -> list[Any]:
    found = []
    for run in runs:
        value: Any = run.measures
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            found.append(value)
    return found


def _median_of(runs: Sequence[ModeRun], *keys: str) -> float | None:
    values = _measure(runs, *keys)
    return statistics.median(values) if values else None


def summarise_mode(runs: Sequence[ModeRun]) -> dict[str, Any]:
    done = [run for run in runs if run.ok]
    summary: dict[str, Any] = {
        "rounds": len(runs),
        "rounds_failed": len(runs) - len(done),
        "runs": sum(run.runs for run in done),
        "failed_runs": sum(run.failed_runs for run in done),
        "retried_attempts": sum(run.retries for run in done),
        "errors": sorted({run.error for run in runs if run.error}),
        "failure_reasons": _failures(runs),
        "wall_s": spread([run.wall_s for run in done if run.wall_s is not None]),
    }
    if not done:
        return summary
    lags = [lag for run in done for lag in run.measures.get("lag_samples_ms", [])]
    summary["loop_lag_ms"] = {
        "p50": percentile(lags, 0.5),
        "p99": percentile(lags, 0.99),
        "max": max(lags, default=0.0),
    }
    summary["pss_mb"] = {
        key: _median_of(done, "tree", key) for key in ("baseline_mb", "peak_mb", "per_session_mb")
    }
    summary["cpu"] = {
        key: _median_of(done, "tree", key)
        for key in ("cpu_ours_s", "cpu_others_s", "load_1m_at_start")
    }
    kinds = {kind for found in _measure(done, "tree", "cpu_by_process_s") for kind in found}
    summary["cpu_by_process_s"] = {
        kind: _median_of(done, "tree", "cpu_by_process_s", kind) for kind in sorted(kinds)
    }
    if _measure(done, "db"):
        summary["db"] = _db(done)
    if _measure(done, "chat_s"):
        summary["chat_s"] = spread(_measure(done, "chat_s"))
        summary["final_after_end_s"] = spread(_measure(done, "final_after_end_s"))
        summary["status"] = _status(done)
        summary["telegram"] = _telegram(done)
    return summary


def _failures(runs: Sequence[ModeRun], most: int = 5) -> dict[str, int]:
    """The most frequent reasons profile runs failed, over every round."""
    counted: Counter[str] = Counter()
    for run in runs:
        counted.update(run.measures.get("failures", {}))
    return dict(counted.most_common(most))


def _db(done: Sequence[ModeRun]) -> dict[str, Any]:
    runs = sum(run.runs for run in done)
    tables: dict[str, int] = {}
    for counted in _measure(done, "db", "writes_by_table"):
        for name, count in counted.items():
            tables[name] = tables.get(name, 0) + count
    return {
        "writes_per_run": sum(_measure(done, "db", "writes")) / runs,
        "selects_per_run": _median_of(done, "db", "selects_per_run"),
        "writes_per_run_by_table": {name: count / runs for name, count in sorted(tables.items())},
    }


def _status(done: Sequence[ModeRun]) -> dict[str, Any]:
    replies = [ms for run in done for ms in run.measures.get("status_replies_ms", [])]
    return {
        "answered": len(replies),
        "unanswered": sum(_measure(done, "status", "unanswered")),
        "p50_ms": percentile(replies, 0.5),
        "p95_ms": percentile(replies, 0.95),
    }


def _telegram(done: Sequence[ModeRun]) -> dict[str, Any]:
    numbers = _measure(done, "telegram")
    methods = sorted({name for number in numbers for name in number["calls_by_method"]})
    return {
        "calls_per_task_by_method": {
            name: statistics.median(number["calls_by_method"].get(name, 0) for number in numbers)
            for name in methods
        },
        "status_replies_per_task": statistics.median(n["status_replies"] for n in numbers),
        "max_calls_to_chat_1s": max(n["max_calls_1s"] for n in numbers),
        "max_calls_to_chat_60s": max(n["max_calls_60s"] for n in numbers),
        "most_edits_in_an_interval_before_the_last": max(
            n["most_edits_in_an_interval_before_the_last"] for n in numbers
        ),
        "refused_429": sum(n["refused_429"] for n in numbers),
        "other_errors": sum(n["errors"] for n in numbers),
    }


def ratios(runs: Sequence[ModeRun]) -> dict[str, Any]:
    """B/A and C/A round by round (each mode against the A of its own round)."""
    by_round: dict[int, dict[str, ModeRun]] = {}
    for run in runs:
        if run.ok:
            by_round.setdefault(run.round, {})[run.mode] = run
    pairs: dict[str, Callable[[dict[str, ModeRun]], float | None]] = {
        "B/A": lambda r: _ratio(r, "B", lambda run: run.wall_s),
        "C/A": lambda r: _ratio(r, "C", lambda run: run.measures.get("chat_s")),
        "C_engine/A": lambda r: _ratio(r, "C", lambda run: run.wall_s),
        "D/A": lambda r: _ratio(r, "D", lambda run: run.measures.get("chat_s")),
        "D/C": lambda r: _ratio_to(r, "D", "C"),
    }
    found = {}
    for name, pair in pairs.items():
        values = [value for r in by_round.values() if (value := pair(r)) is not None]
        found[name] = spread(values)
    return found


def _ratio(
    rounds: dict[str, ModeRun], mode: str, measure: Callable[[ModeRun], float | None]
) -> float | None:
    bare, other = rounds.get("A"), rounds.get(mode)
    if bare is None or other is None or not bare.wall_s:
        return None
    value = measure(other)
    return None if value is None else value / bare.wall_s


def _ratio_to(rounds: dict[str, ModeRun], mode: str, base: str) -> float | None:
    """`mode` against `base` of the same round, both until the chat shows the end."""
    this, other = rounds.get(mode), rounds.get(base)
    if this is None or other is None:
        return None
    ours, theirs = this.measures.get("chat_s"), other.measures.get("chat_s")
    return None if not ours or not theirs else ours / theirs


def summarise_fleet(fleet: Fleet, runs: Sequence[ModeRun]) -> dict[str, Any]:
    return {
        "config": {
            "profiles": fleet.profiles,
            "concurrency": fleet.concurrency,
            "rounds": fleet.rounds,
            "steps": [step.describe() for step in fleet.steps],
        },
        "modes": {
            mode: summarise_mode([run for run in runs if run.mode == mode]) for mode in MODES
        },
        "ratios": ratios(runs),
        "rounds": [_round_row(run) for run in runs],
    }


def _round_row(run: ModeRun) -> dict[str, Any]:
    row: dict[str, Any] = {"round": run.round, "mode": run.mode, "wall_s": run.wall_s}
    if run.measures.get("chat_s") is not None:
        row["chat_s"] = run.measures["chat_s"]
    row["failed_runs"] = run.failed_runs
    if run.error:
        row["error"] = run.error
    return row


def rounded(value: Any, digits: int = 2) -> Any:
    """Floats rounded, dictionaries with sorted keys: a file that diffs well."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {str(key): rounded(item, digits) for key, item in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [rounded(item, digits) for item in value]
    return value


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(rounded(report), indent=2, ensure_ascii=False, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- the table

LEGEND = (
    "wall: A and B from the start of the fleet to its end; C (engine) from /warmup to the "
    "engine's TaskFinished, C (chat) until the progress message shows it. xA: against the A "
    "of the same round. failed: failed profile runs / runs (+Nr: rounds that did not "
    "finish). lag: event-loop overshoot of a 10 ms sleep. peak MB: PSS of the process tree; "
    "MB/sess: (peak - before the fleet) / sessions at once. CPU s: used by our process tree "
    "/ by everything else on the machine meanwhile; load: 1-min load average at the start."
)


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _spread_text(found: dict[str, float] | None, digits: int = 1) -> str:
    if not found:
        return "-"
    return f"{found['median']:.{digits}f} [{found['min']:.{digits}f}-{found['max']:.{digits}f}]"


HEADER = (
    f"{'':16} {'wall s med [min-max]':>22} {'xA med [min-max]':>20} {'failed':>9} "
    f"{'lag ms p50/p99/max':>19} {'peak MB':>8} {'MB/sess':>8} {'writes/run':>10} "
    f"{'CPU s ours/others':>18} {'load':>5}"
)


def table(fleet: Fleet, summary: dict[str, Any]) -> str:
    modes, found = summary["modes"], summary["ratios"]
    lines = [f"{fleet.describe()}; {fleet.rounds} round(s)", HEADER]
    lines.append(_row("A bare", modes["A"], modes["A"].get("wall_s"), None))
    lines.append(_row("B engine", modes["B"], modes["B"].get("wall_s"), found["B/A"]))
    lines.append(_row("C bot (engine)", modes["C"], modes["C"].get("wall_s"), found["C_engine/A"]))
    lines.append(
        _row("C bot (chat)", modes["C"], modes["C"].get("chat_s"), found["C/A"], brief=True)
    )
    if modes["D"]["rounds"]:
        lines.append(_row("D 2 workers", modes["D"], modes["D"].get("chat_s"), found["D/A"]))
        lines.append(f"  D against C of the same round (chat): {_spread_text(found['D/C'], 2)}")
    for mode in MODES:
        by_process = modes[mode].get("cpu_by_process_s")
        if by_process:
            shares = ", ".join(f"{kind} {seconds:.0f}" for kind, seconds in by_process.items())
            lines.append(f"  {mode} CPU s by process: {shares}")
        if modes[mode]["errors"]:
            lines.append(f"  {mode}: {'; '.join(modes[mode]['errors'])}")
        for reason, count in list(modes[mode]["failure_reasons"].items())[:2]:
            lines.append(f"  {mode} failed runs: {count} x {reason}")
    lines.extend(_chat_lines(modes["C"]))
    return "\n".join(lines)


def _row(
    label: str,
    mode: dict[str, Any],
    wall: dict[str, float] | None,
    ratio: dict[str, float] | None,
    *,
    brief: bool = False,
) -> str:
    if wall is None:
        return f"{label:16} {'-':>22}"
    ratio_text = _spread_text(ratio, 2) if ratio else "1.00"
    if brief:
        return f"{label:16} {_spread_text(wall):>22} {ratio_text:>20}"
    lag = mode.get("loop_lag_ms", {})
    pss = mode.get("pss_mb", {})
    db = mode.get("db", {})
    cpu = mode.get("cpu", {})
    failed = f"{mode['failed_runs']}/{mode['runs']}"
    if mode["rounds_failed"]:
        failed += f" +{mode['rounds_failed']}r"
    lags = f"{_num(lag.get('p50'))}/{_num(lag.get('p99'))}/{_num(lag.get('max'), 0)}"
    return (
        f"{label:16} {_spread_text(wall):>22} {ratio_text:>20} {failed:>9} {lags:>19} "
        f"{_num(pss.get('peak_mb'), 0):>8} {_num(pss.get('per_session_mb')):>8} "
        f"{_num(db.get('writes_per_run')):>10} "
        f"{_num(cpu.get('cpu_ours_s'), 0) + '/' + _num(cpu.get('cpu_others_s'), 0):>18} "
        f"{_num(cpu.get('load_1m_at_start')):>5}"
    )


def _chat_lines(mode: dict[str, Any]) -> list[str]:
    status, telegram = mode.get("status"), mode.get("telegram")
    if not status or not telegram:
        return []
    calls = ", ".join(
        f"{name} {count:g}" for name, count in telegram["calls_per_task_by_method"].items()
    )
    return [
        f"  C /status reply: p50 {status['p50_ms']:.0f} ms, p95 {status['p95_ms']:.0f} ms "
        f"({status['answered']} answered, {status['unanswered']} unanswered)",
        f"  C Telegram per task: {calls} (of which /status replies "
        f"{telegram['status_replies_per_task']:g})",
        f"  C most calls to the chat: {telegram['max_calls_to_chat_1s']} in 1 s, "
        f"{telegram['max_calls_to_chat_60s']} in 60 s; 429s answered: "
        f"{telegram['refused_429']}; other errors: {telegram['other_errors']}",
        f"  C progress: at most {telegram['most_edits_in_an_interval_before_the_last']} edit(s) "
        f"in any PROGRESS_INTERVAL while running; the end shown "
        f"{_spread_text(mode.get('final_after_end_s'), 2)} s after the engine finished",
    ]
