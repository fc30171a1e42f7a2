"""`make bench`: one fleet of profiles played three ways, side by side.

- A: bare async Playwright, the floor (bench.bare);
- B: the engine without Telegram: database, ledger, leases, engine (bench.engine_run);
- C: the whole bot on the fake Bot API server with Telegram's flood limits enforced and
  the bot's default pacing, driven from a chat (bench.bot_run);
- D, on F1 once: the same bot with BROKER_URL and PostgreSQL, and two worker processes
  playing the fleet (bench.cluster_run), against the A and C of the first round;
- L, once: the chat's `/profiles` with a fleet of 5,000 profiles and 100,000 runs in its
  history, command to reply and button to page (bench.fleet_lists).

Each round plays A, B and C back to back (the order rotates from round to round), each
in a fresh folder, database, site and Chromium; ratios compare each mode with the A of
its own round. Also measured: event-loop lag, peak PSS of the process tree, database
writes, /status replies and Telegram calls during C, and how long `python -m bot`
takes to poll. Prints a table and writes bench/results.json.

With --full also a third round of F1, mode B once more per variant (every TRACE mode
on F1; MAX_CONCURRENCY swept and `auto` on both fleets), F2 against A with no step
time-out, and a soak of 500 short runs with the browser recycled.

    .venv/bin/python -m bench.bench [--full | --quick] [--fleet F1|F2|all] [--out PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import platform
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench.bare import run_bare
from bench.bot_run import run_bot
from bench.cluster_run import WORKERS, run_cluster
from bench.config import refusal
from bench.engine_run import run_engine
from bench.fleet_lists import lists_line, time_fleet_lists
from bench.fleets import Fleet, f1, f2
from bench.probes import listen_to_statements
from bench.report import LEGEND, spread, summarise_fleet, table, write_json
from bench.results import ModeRun
from bench.soak import RUNS as SOAK_RUNS
from bench.soak import run_soak, soak_line
from bench.startup import time_startups
from bench.variants import Variant, summarise_variants, variants_of, variants_table
from tests.processes import chromium_below, kill_all, wait_gone

logger = logging.getLogger("bench")

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPOSITORY / "bench" / "results.json"
MODES = ("A", "B", "C")
NEEDS_SETTINGS = ("B", "C")
Runner = Callable[[Fleet, int], Awaitable[ModeRun]]


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--fleet", choices=["F1", "F2", "all"], default="all")
    parser.add_argument("--rounds", type=int, help="rounds of every fleet (default 3 F1, 1 F2)")
    parser.add_argument("--quick", action="store_true", help="small fleets, one round: a smoke run")
    parser.add_argument(
        "--full",
        action="store_true",
        help="3 rounds of F1, the variants (TRACE modes, MAX_CONCURRENCY swept), A with no "
        "time-out, the soak (about 35 min)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON file written")
    parser.add_argument("--f1-profiles", type=int, help="default 40 (quick: 8)")
    parser.add_argument("--f1-concurrency", type=int, help="default 8 (quick: 4)")
    parser.add_argument("--f1-rounds", type=int, help="default 2 (full: 3, quick: 1)")
    parser.add_argument("--f2-profiles", type=int, help="default 100 (quick: 10)")
    parser.add_argument("--f2-concurrency", type=int, help="default: all at once")
    parser.add_argument("--f2-dwell", type=float, help="seconds on the page; default 20 (quick: 5)")
    parser.add_argument("--f2-rounds", type=int, help="default 1")
    parser.add_argument("--startup-runs", type=int, help="starts of python -m bot; default 2")
    parser.add_argument(
        "--status-period", type=float, default=1.0, help="seconds between /status in C"
    )
    parser.add_argument(
        "--no-variants", action="store_true", help="skip the TRACE modes and the sweep"
    )
    parser.add_argument(
        "--soak-runs", type=int, help="runs of the soak; default: none (full: 500, quick: 60)"
    )
    parser.add_argument(
        "--no-cluster", action="store_true", help="skip D (the bot and two workers) on F1"
    )
    parser.add_argument(
        "--no-lists", action="store_true", help="skip L (/profiles of 5,000 profiles)"
    )
    parser.add_argument("--verbose", action="store_true", help="the bot's INFO log too")
    return parser.parse_args(argv)


def choose_fleets(args: argparse.Namespace) -> list[Fleet]:
    quick = args.quick

    def pick(given: Any, normal: Any, small: Any) -> Any:
        return given if given is not None else (small if quick else normal)

    f1_rounds = pick(args.f1_rounds, pick(args.rounds, 3 if args.full else 2, 1), 1)
    f2_rounds = pick(args.f2_rounds, pick(args.rounds, 1, 1), 1)
    f2_profiles = pick(args.f2_profiles, 100, 10)
    fleets = {
        "F1": f1(pick(args.f1_profiles, 40, 8), pick(args.f1_concurrency, 8, 4), f1_rounds),
        "F2": f2(
            f2_profiles,
            pick(args.f2_concurrency, f2_profiles, f2_profiles),
            f2_rounds,
            pick(args.f2_dwell, 20.0, 5.0),
        ),
    }
    return list(fleets.values()) if args.fleet == "all" else [fleets[args.fleet]]


def configure_logging(verbose: bool) -> None:
    """Warnings of every part, the benchmark's own progress; never a SQL statement."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("bench").setLevel(logging.INFO)
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    listen_to_statements()


def runners(args: argparse.Namespace) -> dict[str, Runner]:
    return {
        "A": run_bare,
        "B": run_engine,
        "C": partial(run_bot, status_period=args.status_period),
    }


async def play_mode(runner: Runner, mode: str, fleet: Fleet, number: int) -> ModeRun:
    """One mode's run of the fleet; whatever goes wrong is the run's error, not the end of
    the benchmark."""
    try:
        run = await runner(fleet, number)
    except TimeoutError:
        run = ModeRun(mode, number, runs=fleet.profiles, error="timed out")
    except Exception as error:
        logger.exception("%s %s round %d failed", fleet.name, mode, number)
        reason = str(error).splitlines()[0] if str(error) else "no details"
        run = ModeRun(mode, number, runs=fleet.profiles, error=f"{type(error).__name__}: {reason}")
    run.measures["chromium_left"] = await chromium_left()
    gc.collect()
    return run


async def chromium_left() -> int:
    """Chromium processes of ours still alive a moment after a mode closed everything;
    they are killed, and counted."""
    left, _ = await wait_gone(chromium_below(), timeout=5)
    if left:
        logger.warning("%d Chromium processes outlived their mode; killing them", len(left))
        kill_all(left)
    return len(left)


async def bench_fleet(fleet: Fleet, modes: dict[str, Runner]) -> list[ModeRun]:
    refused = refusal(fleet)
    if refused:
        logger.warning("%s: B and C %s", fleet.name, refused)
    runs = []
    for number in range(1, fleet.rounds + 1):
        shift = (number - 1) % len(MODES)
        for mode in MODES[shift:] + MODES[:shift]:
            if refused and mode in NEEDS_SETTINGS:
                runs.append(ModeRun(mode, number, runs=fleet.profiles, error=refused))
                continue
            run = await play_mode(modes[mode], mode, fleet, number)
            runs.append(run)
            logger.info("%s round %d/%d %s: %s", fleet.name, number, fleet.rounds, mode, _said(run))
    return runs


async def play_variants(fleet: Fleet) -> list[tuple[Variant, ModeRun]]:
    """Mode B once per variant of the fleet (a TRACE mode, a MAX_CONCURRENCY)."""
    played = []
    for variant in variants_of(fleet):
        runner = partial(run_engine, **variant.overrides)
        run = await play_mode(runner, "B", fleet, 1)
        logger.info("%s %s: %s", fleet.name, variant.label, _said(run))
        played.append((variant, run))
    return played


def _said(run: ModeRun) -> str:
    if not run.ok:
        return f"failed: {run.error}"
    said = f"{run.wall_s:.1f} s, {run.failed_runs}/{run.runs} runs failed"
    if "chat_s" in run.measures:
        said += f", chat shows the end after {run.measures['chat_s']:.1f} s"
    return said


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "memory_gib": psutil.virtual_memory().total / 1024**3,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "playwright": metadata.version("playwright"),
        "load_1m_at_start": os.getloadavg()[0],
    }


def source() -> dict[str, Any]:
    """The commit measured, and how many files differed from it: the numbers belong to
    the working tree as it was."""

    def git(*command: str) -> str:
        try:
            done = subprocess.run(
                ["git", *command], cwd=REPOSITORY, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = [line for line in git("status", "--porcelain").splitlines() if line]
    return {"commit": git("rev-parse", "--short", "HEAD") or None, "changed_files": len(changed)}


async def bench(args: argparse.Namespace) -> int:
    started = time.monotonic()
    fleets = choose_fleets(args)
    report: dict[str, Any] = {
        "command": " ".join(["python -m bench.bench", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine(),
        "source": source(),
        "fleets": {},
    }
    tables = [textwrap.fill(LEGEND, width=100)]
    modes = runners(args)
    for fleet in fleets:
        logger.info("%s", fleet.describe())
        runs = await bench_fleet(fleet, modes)
        if fleet.name == "F1" and not args.no_cluster:
            cluster = partial(run_cluster, status_period=args.status_period)
            runs.append(await play_mode(cluster, "D", fleet, 1))
            logger.info("%s D (bot and %d workers): %s", fleet.name, WORKERS, _said(runs[-1]))
        summary = summarise_fleet(fleet, runs)
        browsers = {run.measures["browser"] for run in runs if "browser" in run.measures}
        report["machine"]["chromium"] = ", ".join(sorted(browsers)) or None
        report["fleets"][fleet.name] = summary
        tables.append(table(fleet, summary))
        if (args.full or args.quick) and not args.no_variants:
            played = await play_variants(fleet)
            patient = None
            if fleet.name == "F2":
                patient = await play_mode(partial(run_bare, patient=True), "A", fleet, 1)
                logger.info("%s A with no step time-out: %s", fleet.name, _said(patient))
            summary["variants"] = summarise_variants(fleet, runs, played, patient)
            tables.append(variants_table(fleet, summary["variants"]))
    if not args.no_lists:
        logger.info("L: /profiles of a fleet of 5,000 profiles")
        report["lists"] = await time_fleet_lists(samples=10 if args.quick else 30)
        tables.append(lists_line(report["lists"]))
    soak_runs = args.soak_runs
    if soak_runs is None:
        soak_runs = 60 if args.quick else SOAK_RUNS if args.full else 0
    if soak_runs:
        logger.info("soak: %d runs", soak_runs)
        report["soak"] = await run_soak(soak_runs, recycle_after=max(soak_runs // 5, 1))
        report["soak"]["chromium_left"] = await chromium_left()
        tables.append(soak_line(report["soak"]))
    startups = args.startup_runs if args.startup_runs is not None else (1 if args.quick else 2)
    if startups:
        logger.info("timing %d starts of python -m bot", startups)
        times = await time_startups(fleets[0], startups)
        report["startup_to_first_getupdates_s"] = spread(times)
        tables.append(_startup_line(times, startups))
    report["chromium_left"] = await chromium_left()
    report["duration_s"] = time.monotonic() - started
    tables.append(f"Run took {_minutes(report['duration_s'])}; written to {args.out}")
    write_json(args.out, report)
    print("\n\n".join(tables))
    return 0


def _startup_line(times: Sequence[float], tried: int) -> str:
    found = spread(times)
    if found is None:
        return f"python -m bot to its first getUpdates: no start succeeded ({tried} tried)"
    return (
        f"python -m bot to its first getUpdates: median {found['median']:.2f} s "
        f"[{found['min']:.2f}-{found['max']:.2f}] over {len(times)} of {tried} starts"
    )


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    configure_logging(args.verbose)
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
