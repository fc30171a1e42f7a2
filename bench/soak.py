"""The soak: many short runs one after another through the engine (mode B), with the
browser recycled after `BROWSER_RECYCLE_AFTER` contexts, and the PSS of the process tree
sampled as the runs go. Memory is flat when the last hundred runs use no more than the
runs 100-200 did (the target allows 10% more)."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import TEARDOWN_BOUND, fleet_settings, runs_by_status, write_fleet
from bench.fleets import Fleet, Step
from bench.probes import MB, sample_tree
from bench.site_process import SiteProcess
from bot.runtime import open_engine, open_storage
from models import RunStatus
from tests.conftest import CHAT_ID
from warmup.catalog import Catalog
from warmup.events import Event, EventBus, RunFailed, RunFinished
from warmup.leases import bot_owner
from warmup.ledger import Ledger
from warmup.tasks import TaskService

RUNS = 500
CONCURRENCY = 4
RECYCLE_AFTER = 100
SAMPLE_PERIOD = 0.5
EARLY = (0.2, 0.4)
"""The share of the runs whose memory is the reference (100-200 of 500): past the
start-up, before any drift. It is compared with the last fifth."""


def soak_fleet(runs: int = RUNS, concurrency: int = CONCURRENCY) -> Fleet:
    """A short visit: open the feed, scroll, see it."""
    steps = (Step("goto", "/feed?p={profile}"), Step("scroll", 400), Step("expect", "#feed"))
    return Fleet("SOAK", runs, concurrency, 1, steps)


@dataclass
class _Progress:
    """Runs done so far (counted by the event listener) and PSS samples taken meanwhile."""

    done: int = 0
    samples: list[tuple[int, int]] = field(default_factory=list)
    """(runs done when taken, PSS bytes of the tree)."""
    stop: threading.Event = field(default_factory=threading.Event)

    def listen(self, event: Event) -> None:
        if isinstance(event, RunFinished) or (isinstance(event, RunFailed) and event.final):
            self.done += 1

    def sample(self, period: float) -> None:
        """In a thread of its own: reading smaps of every process is slow."""
        while not self.stop.wait(period):
            done = self.done
            self.samples.append((done, sample_tree().pss))


async def run_soak(
    runs: int = RUNS, concurrency: int = CONCURRENCY, recycle_after: int = RECYCLE_AFTER
) -> dict[str, Any]:
    fleet = soak_fleet(runs, concurrency)
    site = SiteProcess()
    await site.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-soak-") as folder:
            root = Path(folder)
            write_fleet(root, site, fleet)
            async with asyncio.timeout(fleet.time_bound() + TEARDOWN_BOUND):
                return await _soak(root, fleet, recycle_after)
    finally:
        await site.stop()


async def _soak(root: Path, fleet: Fleet, recycle_after: int) -> dict[str, Any]:
    settings = fleet_settings(root, fleet, browser_recycle_after=recycle_after)
    progress = _Progress()
    async with AsyncExitStack() as stack:
        await open_storage(settings, stack)
        catalog = Catalog(settings.profiles_file, settings.scenarios_dir)
        await catalog.reload()
        events = EventBus()
        events.subscribe(progress.listen)
        ledger = Ledger(events, player=bot_owner())
        runtime = await open_engine(settings, ledger, stack)
        stack.push_async_callback(runtime.engine.shutdown)
        tasks = TaskService(ledger, runtime.engine, catalog)
        sampler = threading.Thread(target=progress.sample, args=(SAMPLE_PERIOD,), daemon=True)
        sampler.start()
        started = time.monotonic()
        try:
            task = await tasks.start(
                chat_id=CHAT_ID, user_id=None, target="all", scenario=fleet.scenario
            )
            await runtime.engine.finished(task.id)
            wall = time.monotonic() - started
        finally:
            progress.stop.set()
            await asyncio.to_thread(sampler.join)
        counts = await runs_by_status(task.id)
        launches = runtime.browser.launches
    return _summary(fleet.profiles, progress.samples, counts, wall, launches, recycle_after)


def _summary(
    runs: int,
    samples: list[tuple[int, int]],
    counts: dict[str, int],
    wall: float,
    launches: int,
    recycle_after: int,
) -> dict[str, Any]:
    def median_mb(low: int, high: int) -> float | None:
        found = [pss for done, pss in samples if low <= done < high]
        return statistics.median(found) / MB if found else None

    low, high = (round(runs * share) for share in EARLY)
    early = median_mb(low, high)
    late = median_mb(runs - round(runs * 0.2), runs + 1)
    return {
        "runs": runs,
        "failed_runs": counts.get(RunStatus.failed.value, 0),
        "runs_by_status": counts,
        "wall_s": wall,
        "recycle_after": recycle_after,
        "browser_launches": launches,
        "reference_runs": [low, high],
        "pss_mb_reference": early,
        "pss_mb_last_fifth": late,
        "last_fifth_over_reference": late / early if early and late else None,
        "pss_mb_peak": max((pss for _, pss in samples), default=0) / MB,
        "samples": len(samples),
    }


def soak_line(found: dict[str, Any]) -> str:
    ratio = found["last_fifth_over_reference"]
    ratio_text = "-" if ratio is None else f"{ratio:.2f}"
    early, late = found["pss_mb_reference"], found["pss_mb_last_fifth"]
    low, high = found["reference_runs"]
    return (
        f"Soak: {found['runs']} runs at concurrency {CONCURRENCY} in {found['wall_s']:.0f} s, "
        f"{found['failed_runs']} failed, browser recycled after {found['recycle_after']} "
        f"contexts ({found['browser_launches']} launches); PSS median runs {low}-{high} "
        f"{early or 0:.0f} MB, last fifth {late or 0:.0f} MB: x{ratio_text}"
    )
