"""Concurrency that follows the machine: the resizable limit, the rule, the sampler.

Everything but the sampler's own test runs without a clock: loads are scripted or
computed from what runs, and `settle()` only lets ready tasks run (no timer is involved,
so what it shows does not depend on the machine's speed)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

import pytest

from warmup.autoscale import IDLE, AdjustableLimit, Autoscaler, Limits, Load, LoadSampler


async def settle() -> None:
    """Let every ready task run until it waits again: a finished holder's place reaches the
    next waiter, and that waiter runs, within these turns of the loop."""
    for _ in range(8):
        await asyncio.sleep(0)


class Crowd:
    """Tasks that each take a place of `limit` and hold it until told to leave."""

    def __init__(self, limit: AdjustableLimit) -> None:
        self.limit = limit
        self.admitted: list[int] = []
        self.holding: dict[int, asyncio.Event] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def arrive(self, *names: int) -> None:
        for name in names:
            self.tasks[name] = asyncio.create_task(self._hold(name))

    async def _hold(self, name: int) -> None:
        async with self.limit:
            self.admitted.append(name)
            leave = self.holding[name] = asyncio.Event()
            await leave.wait()
            del self.holding[name]

    async def leave(self, *names: int) -> None:
        for name in names:
            self.holding[name].set()
        await settle()

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


@pytest.fixture
async def crowd() -> AsyncIterator[Callable[[AdjustableLimit], Crowd]]:
    """Makes crowds; their tasks are cancelled at the end of the test."""
    made: list[Crowd] = []

    def make(limit: AdjustableLimit) -> Crowd:
        made.append(Crowd(limit))
        return made[-1]

    yield make
    for one in made:
        await one.close()


# AdjustableLimit


async def test_places_go_up_to_the_size_and_the_others_wait_first_come_first_served(
    crowd: Callable[[AdjustableLimit], Crowd],
) -> None:
    limit = AdjustableLimit(2)
    people = crowd(limit)
    people.arrive(1, 2, 3, 4, 5)
    await settle()
    assert people.admitted == [1, 2]
    assert (limit.size, limit.in_use, limit.waiting) == (2, 2, 3)

    await people.leave(2)
    await people.leave(1)
    assert people.admitted == [1, 2, 3, 4], "in the order they came"
    people.arrive(6)
    await people.leave(3)
    assert people.admitted == [1, 2, 3, 4, 5], "a newcomer does not overtake the waiters"
    assert (limit.in_use, limit.waiting) == (2, 1)


async def test_growing_admits_waiters_at_once(crowd: Callable[[AdjustableLimit], Crowd]) -> None:
    limit = AdjustableLimit(1)
    people = crowd(limit)
    people.arrive(1, 2, 3, 4)
    await settle()
    limit.resize(3)
    assert (limit.in_use, limit.waiting) == (3, 1), "taken in the resize itself"
    await settle()
    assert people.admitted == [1, 2, 3]


async def test_shrinking_interrupts_no_holder_and_admits_nobody_until_below_the_new_size(
    crowd: Callable[[AdjustableLimit], Crowd],
) -> None:
    limit = AdjustableLimit(4)
    people = crowd(limit)
    people.arrive(1, 2, 3, 4, 5)
    await settle()
    limit.resize(2)
    assert (limit.size, limit.in_use, limit.waiting) == (2, 4, 1)
    assert sorted(people.holding) == [1, 2, 3, 4], "every holder still holds"
    assert not any(people.tasks[name].done() for name in (1, 2, 3, 4))

    await people.leave(1)
    await people.leave(2)
    assert (limit.in_use, limit.waiting) == (2, 1), "two hold: the size, nobody admitted"
    await people.leave(3)
    assert people.admitted == [1, 2, 3, 4, 5]
    assert (limit.in_use, limit.waiting) == (2, 0)


async def test_a_waiter_cancelled_while_it_waits_takes_no_place(
    crowd: Callable[[AdjustableLimit], Crowd],
) -> None:
    limit = AdjustableLimit(1)
    people = crowd(limit)
    people.arrive(1, 2, 3)
    await settle()
    people.tasks[2].cancel()
    await asyncio.gather(people.tasks[2], return_exceptions=True)
    assert (limit.in_use, limit.waiting) == (1, 1)

    await people.leave(1)
    assert people.admitted == [1, 3]
    await people.leave(3)
    assert (limit.in_use, limit.waiting) == (0, 0)
    async with limit:
        assert limit.in_use == 1, "the place is free at once"


async def test_a_waiter_cancelled_just_as_it_was_admitted_hands_its_place_on(
    crowd: Callable[[AdjustableLimit], Crowd],
) -> None:
    limit = AdjustableLimit(1)
    people = crowd(limit)
    people.arrive(1, 2, 3)
    await settle()
    people.holding[1].set()
    await asyncio.sleep(0)  # 1 leaves and admits 2, which has not run yet
    assert (limit.in_use, limit.waiting) == (1, 1)
    people.tasks[2].cancel()
    await settle()
    assert people.tasks[2].cancelled()
    assert people.admitted == [1, 3], "2's place went to 3"
    assert (limit.in_use, limit.waiting) == (1, 0)


async def test_a_limit_refuses_a_negative_size_and_an_extra_release() -> None:
    with pytest.raises(ValueError):
        AdjustableLimit(-1)
    limit = AdjustableLimit(1)
    with pytest.raises(ValueError):
        limit.resize(-2)
    with pytest.raises(RuntimeError):
        limit.release()


# The rule


def scaler(limit: AdjustableLimit | None = None, **options: object) -> Autoscaler:
    """An autoscaler for `adjust` and `decide` calls: its loop is not started."""
    options.setdefault("maximum", 50)
    return Autoscaler(
        AdjustableLimit(1) if limit is None else limit,
        sampler=ScriptedSampler([]),
        **options,  # type: ignore[arg-type]
    )


ROOMY = Load(cpu=0.19, memory=0.1, loop_lag=0.002)  # pressure 0.2: far from every limit


@pytest.mark.parametrize(
    ("load", "size", "in_use", "waiting", "expected", "why"),
    [
        (IDLE, 4, 4, 20, 16, "nothing measured: the largest step"),
        (ROOMY, 4, 4, 20, 16, "far from the limits: x4"),
        (Load(0.475, 0.2, 0.002), 10, 10, 30, 18, "cpu at half its limit: to 90% of it"),
        (Load(0.76, 0.2, 0.002), 10, 10, 30, 11, "near the limits: +1"),
        (Load(0.57, 0.2, 0.002), 2, 2, 30, 3, "small sizes still grow"),
        (Load(0.1, 0.75, 0.002), 30, 30, 30, 32, "memory decides when it is the worst"),
        (IDLE, 4, 4, 2, 6, "no more than the runs that would take the places"),
        (IDLE, 20, 20, 100, 50, "no more than the maximum"),
        (IDLE, 4, 2, 0, 4, "nobody waits: hold"),
        (Load(0.9, 0.2, 0.002), 8, 8, 5, 8, "cpu between 90% and 100% of its limit: hold"),
        (Load(1.0, 0.3, 0.01), 8, 8, 5, 8, "a saturated cpu alone: hold"),
        (Load(0.5, 0.85, 0.002), 8, 8, 5, 8, "memory in the band: hold"),
        (Load(0.5, 0.3, 0.06), 10, 10, 5, 8, "loop lag over its limit: -20%"),
        (Load(0.5, 0.95, 0.002), 10, 10, 0, 8, "memory over its limit: -20%, demand or not"),
        (Load(0.5, 0.3, 0.1), 10, 10, 5, 5, "lag twice its limit: halved"),
        (Load(1.0, 0.3, 1.0), 10, 10, 5, 5, "however bad, at most halved in one period"),
        (Load(0.5, 0.3, 0.06), 8, 10, 5, 8, "same overload, same runs: no further shrink"),
        (Load(0.5, 0.3, 0.06), 20, 5, 0, 4, "relative to the runs, not the size"),
        (Load(0.5, 0.3, 0.06), 3, 3, 0, 2, "at least one fewer"),
        (Load(0.5, 0.3, 0.06), 1, 1, 3, 1, "never below the minimum"),
        (Load(0.5, 0.3, 0.06), 3, 0, 0, 1, "overloaded by others: the minimum"),
    ],
)
def test_decide(load: Load, size: int, in_use: int, waiting: int, expected: int, why: str) -> None:
    assert scaler().decide(load, size, in_use, waiting) == expected, why


def test_decide_keeps_to_the_minimum_and_to_other_limits() -> None:
    assert scaler(minimum=3).decide(Load(0.5, 0.3, 0.2), 4, 4, 0) == 3
    strict = scaler(limits=Limits(cpu=0.5, memory=0.5, loop_lag=0.01))
    assert strict.decide(Load(0.1, 0.1, 0.02), 10, 10, 0) == 5
    assert strict.decide(Load(0.45, 0.1, 0.002), 10, 10, 5) == 10
    with pytest.raises(ValueError):
        scaler(minimum=0)
    with pytest.raises(ValueError):
        scaler(aim=1.2)


# The autoscaler, driven by scripted loads


class ScriptedSampler:
    """Hands out the given loads one per `next_load`, then sets `drained` and waits."""

    def __init__(self, loads: Iterable[Load]) -> None:
        self.loads = list(loads)
        self.latest = IDLE
        self.drained = asyncio.Event()

    def load(self) -> Load:
        return self.latest

    async def next_load(self) -> Load:
        await asyncio.sleep(0)
        if not self.loads:
            self.drained.set()
            await asyncio.Event().wait()
        self.latest = self.loads.pop(0)
        return self.latest


async def test_with_demand_and_room_it_grows_within_a_few_periods(
    crowd: Callable[[AdjustableLimit], Crowd],
) -> None:
    limit = AdjustableLimit(2)
    people = crowd(limit)
    people.arrive(*range(100))
    await settle()
    autoscaler = scaler(limit, maximum=100)
    sizes = []
    for _ in range(4):
        sizes.append(autoscaler.adjust(ROOMY))
        await settle()
    assert sizes == [8, 32, 100, 100]
    assert (limit.in_use, limit.waiting) == (100, 0)


async def test_overloaded_it_shrinks_relative_to_the_runs_and_waits_before_growing(
    crowd: Callable[[AdjustableLimit], Crowd],
) -> None:
    limit = AdjustableLimit(20)
    people = crowd(limit)
    people.arrive(*range(30))
    await settle()
    autoscaler = scaler(limit)
    lagging = Load(cpu=0.6, memory=0.3, loop_lag=0.06)
    assert autoscaler.adjust(lagging) == 16
    assert autoscaler.adjust(lagging) == 16, "nobody has finished: no further shrink"
    assert limit.in_use == 20, "nobody was interrupted"

    await people.leave(*range(4))
    assert (limit.in_use, people.admitted[-1]) == (16, 19), "nobody admitted below 16"
    assert autoscaler.adjust(lagging) == 12, "still overloaded with fewer runs: shrinks again"
    assert autoscaler.adjust(ROOMY) == 12, "cooling down after a shrink"
    assert autoscaler.adjust(ROOMY) == 26, "then grows: to the 16 running and 10 waiting"


async def test_without_demand_it_holds(crowd: Callable[[AdjustableLimit], Crowd]) -> None:
    limit = AdjustableLimit(4)
    people = crowd(limit)
    people.arrive(1, 2)
    await settle()
    autoscaler = scaler(limit)
    for load in (IDLE, ROOMY, Load(0.9, 0.5, 0.02), Load(1.0, 0.2, 0.01)):
        assert autoscaler.adjust(load) == 4


async def test_the_background_loop_decides_once_per_load_and_logs_the_changes(
    crowd: Callable[[AdjustableLimit], Crowd], caplog: pytest.LogCaptureFixture
) -> None:
    limit = AdjustableLimit(2)
    people = crowd(limit)
    people.arrive(*range(40))
    await settle()
    sampler = ScriptedSampler([ROOMY, ROOMY, Load(0.5, 0.3, 0.12)])
    autoscaler = Autoscaler(limit, sampler=sampler, maximum=40)
    caplog.set_level(logging.INFO, logger="warmup.autoscale")
    autoscaler.start()
    try:
        async with asyncio.timeout(5):
            await sampler.drained.wait()
        assert limit.size == 16, "2 → 8 → 32, then halved from the 32 running"
        changes = [r.getMessage() for r in caplog.records if "concurrency" in r.getMessage()]
        assert [c.split(":")[0] for c in changes] == [
            "concurrency 2 → 8",
            "concurrency 8 → 32",
            "concurrency 32 → 16",
        ]
        assert "loop lag 120 ms" in changes[-1]
        assert autoscaler.describe().startswith("concurrency 16 (1..40): 32 running, 8 waiting")
    finally:
        await autoscaler.close()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "autoscaler"]


async def test_an_autoscaler_without_a_sampler_runs_and_closes_its_own() -> None:
    autoscaler = Autoscaler(AdjustableLimit(0), minimum=2, maximum=8, period=0.02)
    autoscaler.start()
    assert autoscaler.limit.size == 2, "brought within its bounds"
    try:
        assert any(t.get_name() == "load-sampler" for t in asyncio.all_tasks())
    finally:
        await autoscaler.close()
    assert not [t for t in asyncio.all_tasks() if t.get_name() in ("load-sampler", "autoscaler")]


# The sampler, on the real loop


def block_the_loop(seconds: float) -> None:
    time.sleep(seconds)


async def test_the_sampler_sees_a_blocked_loop_and_closes_its_task() -> None:
    sampler = LoadSampler(period=0.05)
    sampler.start()
    try:
        async with asyncio.timeout(10):
            first = await sampler.next_load()
            assert 0 <= first.cpu <= 1
            assert 0 < first.memory < 1
            block_the_loop(0.2)
            while (load := await sampler.next_load()).loop_lag < 0.15:
                pass
        assert load.loop_lag >= 0.15
        assert sampler.load() is load
    finally:
        await sampler.close()
    assert not sampler.running
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "load-sampler"]


async def test_the_sampler_measures_memory_against_its_budget() -> None:
    sampler = LoadSampler(period=0.02, memory_budget=1024 * 1024)
    sampler.start()
    try:
        async with asyncio.timeout(10):
            load = await sampler.next_load()
    finally:
        await sampler.close()
    assert load.memory > 1, "this process uses more than 1 MiB"


# A simulated fleet: the autoscaler against a sweep of fixed sizes


@dataclass(frozen=True)
class Fleet:
    jobs: int
    phases: tuple[tuple[float, float, bool], ...]
    """(seconds when alone, share of the machine's CPU, whether it only waits)."""
    memory: float
    """Share of the memory budget each running job takes."""


SHORT = Fleet(  # ~3 s, mostly page loads and clicks
    40,
    ((0.8, 0.45, False), (0.4, 0.02, True), (0.6, 0.45, False), (0.4, 0.02, True)),
    memory=0.01,
)
DWELL = Fleet(  # ~20 s, mostly waiting
    100, ((0.5, 0.1, False), (19.0, 0.005, True), (0.5, 0.1, False)), memory=0.005
)
TICKS = 10
"""Simulated ticks per period (the period is one simulated second)."""


class Machine:
    """What the jobs cost: CPU shared in time, slower than that when oversubscribed, and
    a starved event loop, late by 2 ms plus 40 ms per job's worth of oversubscription."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.running: dict[int, list[tuple[float, float, bool]]] = {}
        self._cpu = 0.0
        self._lag = 0.0

    def tick(self) -> list[int]:
        """One tick of simulated time; returns the jobs that have finished."""
        demand = 0.05 + sum(phases[0][1] for phases in self.running.values())
        speed = 1.0 if demand <= 1 else 1 / (demand * (1 + 0.1 * (demand - 1)))
        self._cpu += min(1.0, demand) / TICKS
        self._lag = max(self._lag, 0.002 + 0.04 * max(0.0, demand - 1))
        finished = []
        for job, phases in self.running.items():
            left, share, waits = phases[0]
            left -= 1 / TICKS if waits else speed / TICKS
            phases[0] = (left, share, waits)
            if left <= 1e-9:
                phases.pop(0)
                if not phases:
                    finished.append(job)
        return finished

    def period(self) -> Load:
        load = Load(self._cpu, 0.03 + self.fleet.memory * len(self.running), self._lag)
        self._cpu, self._lag = 0.0, 0.0
        return load


async def simulate(fleet: Fleet, *, fixed: int | None = None) -> tuple[float, list[int]]:
    """Seconds to play the fleet, and the size at each period."""
    limit = AdjustableLimit(fixed or 2)
    autoscaler = Autoscaler(limit, sampler=ScriptedSampler([]), maximum=200)
    machine = Machine(fleet)
    done = {job: asyncio.Event() for job in range(fleet.jobs)}

    async def play(job: int) -> None:
        async with limit:
            machine.running[job] = list(fleet.phases)
            await done[job].wait()
            del machine.running[job]

    jobs = [asyncio.create_task(play(job)) for job in done]
    await settle()
    ticks, sizes = 0, []
    while not all(event.is_set() for event in done.values()):
        for job in machine.tick():
            done[job].set()
        ticks += 1
        await settle()
        if ticks % TICKS == 0:
            load = machine.period()
            if fixed is None:
                autoscaler.adjust(load)
            sizes.append(limit.size)
    await asyncio.gather(*jobs)
    return ticks / TICKS, sizes


@pytest.mark.parametrize(
    ("fleet", "sweep"),
    [(SHORT, (2, 3, 4, 5, 6, 8, 10, 16, 40)), (DWELL, (10, 20, 32, 50, 64, 100))],
    ids=["short", "dwell"],
)
async def test_auto_finishes_within_ten_percent_of_the_best_fixed_size(
    fleet: Fleet, sweep: tuple[int, ...]
) -> None:
    fixed = {size: (await simulate(fleet, fixed=size))[0] for size in sweep}
    best = min(fixed, key=fixed.__getitem__)
    auto, sizes = await simulate(fleet)
    assert auto <= 1.1 * fixed[best], (fixed, auto, sizes)


async def test_auto_reaches_the_best_size_of_a_steady_load_and_stays_there(
    crowd: Callable[[AdjustableLimit], Crowd],
) -> None:
    """Runs that never end, each costing 12% of the CPU (6 are below the hold band, 7
    within it, 8 would saturate it) or 2% of the memory (38 below the band, 39 within it,
    43 over the limit)."""

    async def sizes(load_of: Callable[[int], Load]) -> list[int]:
        limit = AdjustableLimit(2)
        people = crowd(limit)
        people.arrive(*range(60))
        await settle()
        autoscaler = scaler(limit, maximum=60)
        seen = []
        for _ in range(12):
            seen.append(autoscaler.adjust(load_of(limit.in_use)))
            await settle()
        return seen

    def cpu_bound(running: int) -> Load:
        demand = 0.05 + 0.12 * running
        return Load(min(1.0, demand), 0.03, 0.002 + 0.04 * max(0.0, demand - 1))

    def memory_bound(running: int) -> Load:
        return Load(0.05 + 0.005 * running, 0.04 + 0.02 * running, 0.002)

    assert await sizes(cpu_bound) == [5, 6] + [7] * 10
    assert await sizes(memory_bound) == [8, 32, 38] + [39] * 9
