"""What the benchmark measures besides wall time: event-loop lag, the PSS of the process
tree, and the statements sent to the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

MB = 1024 * 1024
LAG_PERIOD = 0.01
PSS_PERIOD = 2.0
"""Seconds between two PSS samples of the tree. Reading the smaps of a hundred processes
costs this process CPU, and the GIL, so it is not done more often: the loop lag measured
would be the probe's."""
WRITES = ("INSERT", "UPDATE", "DELETE")
_TABLE = re.compile(r'^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.I)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(max(math.ceil(fraction * len(ordered)), 1), len(ordered))
    return ordered[rank - 1]


class LoopLag:
    """How late the event loop wakes a task that sleeps 10 ms: the time every other
    callback of the loop (the bot's included) held it."""

    def __init__(self, period: float = LAG_PERIOD) -> None:
        self.period = period
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample(), name="bench-loop-lag")

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.period)
            self.samples.append(loop.time() - before - self.period)

    @property
    def samples_ms(self) -> list[float]:
        return [max(lag, 0.0) * 1000 for lag in self.samples]

    async def stop(self) -> dict[str, float]:
        """p50, p99 and max overshoot, in ms."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        lags = self.samples_ms
        return {
            "p50_ms": percentile(lags, 0.5),
            "p99_ms": percentile(lags, 0.99),
            "max_ms": max(lags, default=0.0),
            "samples": len(lags),
        }


@dataclass
class TreeSample:
    pss: int
    processes: int
    cpu: dict[tuple[int, float], float]
    """CPU seconds (user + system) so far of each process, by pid and creation time."""
    kinds: dict[tuple[int, float], str]
    """What each process is: python (the bot), node (Playwright's driver), chromium."""


def sample_tree() -> TreeSample:
    """The PSS summed over this process and all its descendants (Chromium, the Playwright
    driver, a bot child), and the CPU time of each."""
    root = psutil.Process()
    sample = TreeSample(0, 0, {}, {})
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            with process.oneshot():
                times = process.cpu_times()
                key = (process.pid, process.create_time())
                name = process.name()
            sample.pss += process.memory_full_info().pss
            sample.processes += 1
            sample.cpu[key] = times.user + times.system
            sample.kinds[key] = _kind(name)
    return sample


def _kind(name: str) -> str:
    lowered = name.lower()
    if lowered.startswith("python"):
        return "python"
    if lowered.startswith("node"):
        return "node"
    return "chromium" if "chrom" in lowered else "other"


def busy_cpu() -> float:
    """CPU seconds the whole machine has spent busy, every core summed."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class TreeSampler:
    """The peak PSS of the process tree, sampled every `PSS_PERIOD` in a thread of its own
    (reading /proc/*/smaps_rollup of a hundred processes must not hold up the event loop
    measured), and the CPU the tree used against what the rest of the machine did
    meanwhile: on a shared machine, other work slows every mode down."""

    def __init__(self, period: float = PSS_PERIOD) -> None:
        self.period = period
        self.baseline = 0
        self.peak = 0
        self.peak_processes = 0
        self._first_cpu: dict[tuple[int, float], float] = {}
        self._last_cpu: dict[tuple[int, float], float] = {}
        self._kinds: dict[tuple[int, float], str] = {}
        self._machine_cpu = 0.0
        self._load = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """Take the baseline (the tree before the fleet), then sample until `stop`."""
        first = await asyncio.to_thread(sample_tree)
        self.baseline = self.peak = first.pss
        self._first_cpu, self._last_cpu = dict(first.cpu), dict(first.cpu)
        self._kinds = dict(first.kinds)
        self._machine_cpu = busy_cpu()
        self._load = os.getloadavg()[0]
        self._thread = threading.Thread(target=self._run, name="bench-tree", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self._take()
        self._take()

    def _take(self) -> None:
        sample = sample_tree()
        self._last_cpu.update(sample.cpu)
        self._kinds.update(sample.kinds)
        if sample.pss > self.peak:
            self.peak, self.peak_processes = sample.pss, sample.processes

    async def stop(self, sessions: int) -> dict[str, float]:
        """Peak, baseline and (peak - baseline) per session open at once, in MB; CPU
        seconds of the tree and of everything else on the machine."""
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        used = {key: last - self._first_cpu.get(key, 0.0) for key, last in self._last_cpu.items()}
        ours = sum(used.values())
        by_kind: dict[str, float] = {}
        for key, seconds in used.items():
            kind = self._kinds.get(key, "other")
            by_kind[kind] = by_kind.get(kind, 0.0) + seconds
        machine = busy_cpu() - self._machine_cpu
        return {
            "baseline_mb": self.baseline / MB,
            "peak_mb": self.peak / MB,
            "per_session_mb": (self.peak - self.baseline) / MB / max(sessions, 1),
            "processes_at_peak": self.peak_processes,
            "cpu_ours_s": ours,
            "cpu_by_process_s": dict(sorted(by_kind.items())),
            "cpu_others_s": max(machine - ours, 0.0),
            "load_1m_at_start": self._load,
        }


class Statements(logging.Handler):
    """Counts the statements Tortoise sends (it logs each one at DEBUG on
    `tortoise.db_client`) while `counting`; writes also by table."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counting = False
        self.kinds: Counter[str] = Counter()
        self.tables: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if not self.counting:
            return
        query = record.args[0] if isinstance(record.args, tuple) and record.args else record.msg
        text = str(query)
        kind = text.split(None, 1)[0].upper() if text.strip() else "?"
        self.kinds[kind] += 1
        if kind in WRITES:
            match = _TABLE.match(text)
            self.tables[f"{kind} {match.group(1) if match else '?'}"] += 1

    @property
    def writes(self) -> int:
        return sum(self.kinds[kind] for kind in WRITES)

    @contextmanager
    def count(self) -> Iterator[Statements]:
        self.kinds.clear()
        self.tables.clear()
        self.counting = True
        try:
            yield self
        finally:
            self.counting = False

    def summary(self, runs: int) -> dict[str, object]:
        per_run = max(runs, 1)
        return {
            "writes": self.writes,
            "writes_per_run": self.writes / per_run,
            "selects_per_run": self.kinds["SELECT"] / per_run,
            "writes_by_table": dict(sorted(self.tables.items())),
        }


STATEMENTS = Statements()


def listen_to_statements() -> None:
    """Route Tortoise's statement log to `STATEMENTS` only: counted, never printed."""
    logger = logging.getLogger("tortoise.db_client")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    if STATEMENTS not in logger.handlers:
        logger.addHandler(STATEMENTS)
