"""Concurrency that follows the machine: a limit that can be resized, and what resizes it.

`AdjustableLimit` is a FIFO semaphore whose size may change at any time. `LoadSampler`
measures, on the running loop, how busy the machine is (CPU, memory) and how late the
loop wakes (lag). `Autoscaler` takes one fresh `Load` per period and resizes the limit
between `minimum` and `maximum` by the rule in `Autoscaler.decide`.

Crawlee's pool (`crawlee/_autoscaling`) steps 5% every 10 s on a yes/no "is the system
idle": from 2 slots it needs minutes to reach 30. Here each period's step is sized by how
far the load is from its limits, so the size reaches its level within a few periods, and
an overload stops admission at once (holders are never interrupted).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import psutil

logger = logging.getLogger(__name__)


class AdjustableLimit:
    """An asyncio limiter (use it as `async with limit:`) whose size can change.

    Growing admits waiters at once; shrinking interrupts no holder, it only admits nobody
    until fewer than the new size hold a place. Waiters are admitted first come, first
    served, and a newcomer never overtakes a waiter."""

    def __init__(self, size: int) -> None:
        self._size = _checked(size)
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def size(self) -> int:
        return self._size

    @property
    def in_use(self) -> int:
        """Places held now; more than `size` just after a shrink."""
        return self._in_use

    @property
    def waiting(self) -> int:
        """Tasks waiting for a place."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    def resize(self, size: int) -> None:
        self._size = _checked(size)
        self._admit()

    async def acquire(self) -> None:
        if self._in_use < self._size and not self._waiters:
            self._in_use += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # admitted as it was cancelled: the place goes to the next
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        if self._in_use <= 0:
            raise RuntimeError("AdjustableLimit released more often than acquired")
        self._in_use -= 1
        self._admit()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<AdjustableLimit size={self._size} in_use={self._in_use} waiting={self.waiting}>"

    def _admit(self) -> None:
        # Afterwards either nobody waits or every place is taken: `acquire`'s fast path
        # relies on it. Cancelled waiters still queued are dropped on the way.
        while self._waiters and self._in_use < self._size:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)


def _checked(size: int) -> int:
    if size < 0:
        raise ValueError(f"a limit's size cannot be negative: {size}")
    return size


@dataclass(frozen=True, slots=True)
class Load:
    cpu: float
    """The machine's CPU busy fraction (all cores) over the last period, 0..1."""
    memory: float
    """Memory in use of what the process may use, 0..1 (see `LoadSampler`)."""
    loop_lag: float
    """Seconds: the worst overshoot of a short sleep on the event loop over the period."""


IDLE = Load(cpu=0.0, memory=0.0, loop_lag=0.0)


class LoadSource(Protocol):
    """What `Autoscaler` reads: `LoadSampler`, or a scripted fake in tests."""

    def load(self) -> Load: ...

    async def next_load(self) -> Load: ...


class LoadSampler:
    """Measures the machine's load from inside the running event loop.

    A background task sleeps `tick` seconds again and again and records how late it woke:
    the worst overshoot of a period is its `loop_lag`. Once per `period` it publishes a
    `Load` with the CPU busy fraction since the previous one (`psutil.cpu_percent`,
    system-wide, non-blocking) and the memory fraction: the resident memory of this
    process and all its children (the browsers) over what the process may use, that is
    what it uses plus what `psutil.virtual_memory()` says is still available (the page
    cache counts as available), or `memory_budget` bytes when that is less. Other
    programs' memory is thus left out of the fraction, but as they grow, what is
    available, and so the room, shrinks. Listing the children walks /proc, so it runs in
    a worker thread; pages that processes share are counted once per process, which errs
    on the safe side.
    """

    def __init__(
        self, *, period: float = 1.0, tick: float = 0.01, memory_budget: int | None = None
    ) -> None:
        if period <= 0 or tick <= 0:
            raise ValueError("period and tick must be positive")
        if memory_budget is not None and memory_budget <= 0:
            raise ValueError("memory_budget must be positive")
        self.period = period
        self.tick = tick
        self.memory_budget = memory_budget
        self._load = IDLE
        self._published = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the sampler is already running")
        psutil.cpu_percent(interval=None)  # the first call only starts the count
        self._task = asyncio.create_task(self._run(), name="load-sampler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def load(self) -> Load:
        """The latest published load (`IDLE` before the first)."""
        return self._load

    async def next_load(self) -> Load:
        """Wait for the next load to be published (after `start`) and return it."""
        await self._published.wait()
        return self._load

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        worst = 0.0
        window_end = loop.time() + self.period
        while True:
            before = loop.time()
            await asyncio.sleep(self.tick)
            woke = loop.time()
            worst = max(worst, woke - before - self.tick)
            if woke < window_end:
                continue
            cpu = psutil.cpu_percent(interval=None) / 100
            try:
                memory = await self._memory()
            except (psutil.Error, OSError):
                logger.warning("could not read the memory in use", exc_info=True)
                memory = self._load.memory
            self._publish(Load(cpu=min(1.0, cpu), memory=memory, loop_lag=max(0.0, worst)))
            worst = 0.0
            window_end = loop.time() + self.period

    def _publish(self, load: Load) -> None:
        self._load = load
        published, self._published = self._published, asyncio.Event()
        published.set()

    async def _memory(self) -> float:
        used = await asyncio.to_thread(_process_tree_rss)
        allowed = used + psutil.virtual_memory().available
        if self.memory_budget is not None:
            allowed = min(allowed, self.memory_budget)
        return used / allowed


def _process_tree_rss() -> int:
    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue  # ended meanwhile
    return total


@dataclass(frozen=True, slots=True)
class Limits:
    """Where each resource is at its limit (Crawlee's defaults)."""

    cpu: float = 0.95
    memory: float = 0.9
    loop_lag: float = 0.05

    def pressure(self, load: Load) -> float:
        """The worst resource as a fraction of its limit: what decides the room to grow."""
        return max(load.cpu / self.cpu, self.overload(load))

    def overload(self, load: Load) -> float:
        """The same, of memory and loop lag only: what decides a shrink, from 1 up.

        A saturated CPU alone stops growth but shrinks nothing: runs that wait in between
        (dwells, page loads) keep a CPU busy in bursts, and the throughput is highest
        there; shrinking then only leaves it idle in between. When the CPU is so
        oversubscribed that it does harm, this process is starved too, and that shows
        as loop lag."""
        return max(load.memory / self.memory, load.loop_lag / self.loop_lag)


class Autoscaler:
    """Resizes an `AdjustableLimit` to what the machine can take, once per fresh load.

    Without a `sampler` it makes and owns a `LoadSampler(period=period)`; either way it
    decides once per published load, so every period. The rule is `decide`; on top of
    it, for `cooldown` periods after a shrink nothing grows (the loads measured then
    still show the runs that caused the overload)."""

    def __init__(
        self,
        limit: AdjustableLimit,
        *,
        maximum: int,
        minimum: int = 1,
        sampler: LoadSource | None = None,
        period: float = 1.0,
        limits: Limits | None = None,
        aim: float = 0.9,
        max_growth: float = 4.0,
        shrink: float = 0.8,
        max_shrink: float = 0.5,
        cooldown: int = 1,
    ) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError(f"need 1 <= minimum <= maximum, not {minimum}, {maximum}")
        if not 0 < aim < 1 or max_growth < 1 or not 0 < max_shrink <= shrink < 1:
            raise ValueError("need 0 < aim < 1, max_growth >= 1, 0 < max_shrink <= shrink < 1")
        self.limit = limit
        self.minimum = minimum
        self.maximum = maximum
        self.limits = limits or Limits()
        self.aim = aim
        """Grow only while the pressure is below this; between it and 1, hold."""
        self.max_growth = max_growth
        """The most a size may be multiplied by in one period."""
        self.shrink = shrink
        """An overload keeps this fraction of the running places, or fewer when it is worse."""
        self.max_shrink = max_shrink
        """But never fewer than this fraction of them in one period."""
        self.cooldown = cooldown
        self._own_sampler: LoadSampler | None = None
        if sampler is None:
            sampler = self._own_sampler = LoadSampler(period=period)
        self._sampler = sampler
        self._cooling = 0
        self._last = IDLE
        self._task: asyncio.Task[None] | None = None

    def decide(self, load: Load, size: int, in_use: int, waiting: int) -> int:
        """The next size, from the load of the last period and the limit's state. Pure.

        - Overloaded (memory or loop lag at its limit, `Limits.overload` = o ≥ 1): keep
          `in_use * clamp(1/o, max_shrink, shrink)` places, at least one fewer than
          `in_use`, never more than `size`. Relative to the runs holding places, not to
          the size: an overload that lasts while nobody has finished yet asks for the
          same size again instead of shrinking it to nothing; once runs have finished and
          it still lasts, it shrinks again. A lag twice its limit halves at once.
        - Room (`Limits.pressure` = p < aim: every resource, CPU included, below `aim`
          of its limit) and runs waiting: grow to `in_use * aim / p`, the size that puts
          the worst resource at `aim` if each run costs what the running ones cost on
          average and the whole load were theirs. Counting the rest of the machine's
          load as theirs underestimates the room, so this errs low and the next period
          corrects it. Far from the limits the step is large (at most `max_growth` times),
          near them +1. Never more than `in_use + waiting`: places nobody would take
          would let a later burst in unmeasured.
        - Otherwise hold: nobody waits, or aim ≤ p with no overload (the hysteresis
          band; a saturated CPU stays here).

        The result is always between `minimum` and `maximum`."""
        overload = self.limits.overload(load)
        pressure = self.limits.pressure(load)
        if overload >= 1:
            keep = max(self.max_shrink, min(self.shrink, 1 / overload))
            proposed = min(size, math.floor(in_use * keep), in_use - 1)
        elif waiting > 0 and pressure < self.aim:
            running = max(in_use, 1)
            room = self.aim / pressure if pressure > 0 else math.inf
            grown = math.floor(running * min(room, self.max_growth))
            proposed = min(max(size + 1, grown), in_use + waiting)
        else:
            proposed = size
        return max(self.minimum, min(self.maximum, proposed))

    def adjust(self, load: Load) -> int:
        """Decide on one period's load and resize the limit; returns the new size."""
        limit = self.limit
        size, in_use, waiting = limit.size, limit.in_use, limit.waiting
        proposed = self.decide(load, size, in_use, waiting)
        if proposed > size and self._cooling > 0:
            proposed = size
        self._cooling = max(0, self._cooling - 1)
        if proposed < size:
            self._cooling = self.cooldown
        self._last = load
        if proposed != size:
            limit.resize(proposed)
            logger.info(
                "concurrency %d → %d: %d running, %d waiting; %s",
                size,
                proposed,
                in_use,
                waiting,
                _describe_load(load),
            )
        return proposed

    def describe(self) -> str:
        """One line for a status display."""
        limit = self.limit
        return (
            f"concurrency {limit.size} ({self.minimum}..{self.maximum}): "
            f"{limit.in_use} running, {limit.waiting} waiting; {_describe_load(self._last)}"
        )

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the autoscaler is already running")
        size = self.limit.size
        self.limit.resize(max(self.minimum, min(self.maximum, size)))
        if self._own_sampler is not None:
            self._own_sampler.start()
        self._task = asyncio.create_task(self._run(), name="autoscaler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._own_sampler is not None:
            await self._own_sampler.close()

    async def _run(self) -> None:
        while True:
            load = await self._sampler.next_load()
            try:
                self.adjust(load)
            except Exception:
                logger.exception("the autoscaler could not adjust the concurrency")


def _describe_load(load: Load) -> str:
    return f"cpu {load.cpu:.0%}, memory {load.memory:.0%}, loop lag {load.loop_lag * 1000:.0f} ms"
