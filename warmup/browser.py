"""The shared Chromium and the contexts opened in it, every operation bounded.

One browser takes the new contexts at a time. It is retired after a number of contexts or
once its processes use too much memory: the next context goes to a fresh one, and the
retired browser is closed when its last context closes, so nothing playing in it fails.
Chromium runs at a lower CPU priority than the bot, which needs the CPU to drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from playwright.async_api import Browser, BrowserContext, Playwright
from playwright.async_api import Error as PlaywrightError

logger = logging.getLogger(__name__)

LAUNCH_ARGS = (
    # Running as root inside a container leaves Chromium's sandbox no way to start.
    "--no-sandbox",
    # A closed network: keep Chromium from calling home at every start.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
SYSTEM_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

MARKER_SWITCH = "--warmup-bot-browser"
"""Chromium ignores switches it does not know: this one, with a fresh id per launch, is how
the pool finds the browser's processes (to kill, renice or measure them), since Playwright's
API gives no pid."""
OPERATION_TIMEOUT = 30.0
"""Seconds a launch, a new context or the closing of a browser may take by default."""
CLOSE_TIMEOUT = 5.0
"""Seconds closing one context may take by default (a healthy browser needs a fraction)."""
KILL_WAIT = 5.0
"""Seconds to wait for killed processes to be gone."""
NICE = 10
"""The niceness Chromium runs at by default: the bot (at 0) wins the CPU it needs."""
MEMORY_CHECK_INTERVAL = 5.0
"""Seconds between two measurements of the browser's memory, at the least."""
MIB = 1024 * 1024

_CAP_SETPCAP = 8
_CAP_SYS_NICE = 23


class BrowserNotFound(RuntimeError):
    pass


def find_executable(playwright: Playwright, configured: str) -> str:
    """Resolve BROWSER_EXECUTABLE: a path, else Playwright's own build, else the system's."""
    if configured != "auto":
        if not Path(configured).is_file():
            raise BrowserNotFound(f"BROWSER_EXECUTABLE: no file at {configured}")
        return configured
    bundled = playwright.chromium.executable_path
    if bundled and Path(bundled).is_file():
        return bundled
    for name in SYSTEM_CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotFound(
        "no Chromium found: run `make install` (or `python -m playwright install chromium`, "
        "or `apt-get install chromium`), or set BROWSER_EXECUTABLE"
    )


@dataclass(eq=False)
class _Launched:
    """One launched Chromium and what the pool knows of it."""

    browser: Browser
    marker: str
    """The marker switch of its launch."""
    number: int
    """Which launch of the pool it was, for the logs."""
    contexts: set[BrowserContext] = field(default_factory=set)
    """Its open contexts."""
    opened: int = 0
    """Contexts handed out, or being created, in it so far."""
    creating: int = 0
    """Contexts being created in it."""
    retired: str | None = None
    """Why it takes no new contexts, once retired."""
    closing: asyncio.Task[None] | None = None


class BrowserPool:
    """Owns the browsers and every context opened in them.

    Tracking the contexts lets shutdown close whatever is still open and lets
    tests prove that nothing leaks. When Chromium dies, or is killed because it
    stopped answering (`kill`), the next context asks for a new one: the runs that
    were in it fail their attempt and are retried.

    A stuck page can make Playwright wait forever, even for calls that take a
    timeout, so every operation here has a bound of its own.

    Recycling keeps the memory flat over thousands of runs: the current browser is
    retired after `recycle_after` contexts, or when its whole process tree uses more
    than `memory_limit_mb` (PSS, measured at a `new_context` at most every
    `memory_check_interval` seconds). A retired browser takes no new contexts; the
    next `new_context` launches a fresh one, and the retired one is closed once its
    last context has closed: the runs playing in it finish normally.

    After each launch the whole process tree of Chromium, every thread of it, gets
    the niceness `nice` (never a higher priority than it has). The renderers started
    later are forked by the zygote, and inherit it. A Chromium that holds
    CAP_SYS_NICE (run as root) would set its renderers and threads back to 0 or
    below: it is then launched without that capability (through `setpriv`).
    """

    def __init__(
        self,
        playwright: Playwright,
        *,
        executable: str,
        headless: bool,
        operation_timeout: float = OPERATION_TIMEOUT,
        recycle_after: int | None = None,
        memory_limit_mb: float | None = None,
        memory_check_interval: float = MEMORY_CHECK_INTERVAL,
        nice: int | None = NICE,
    ) -> None:
        if recycle_after is not None and recycle_after < 1:
            raise ValueError(f"recycle_after must be at least 1, not {recycle_after}")
        if memory_limit_mb is not None and memory_limit_mb <= 0:
            raise ValueError(f"memory_limit_mb must be positive, not {memory_limit_mb}")
        self._playwright = playwright
        self._executable = executable
        self._headless = headless
        self._operation_timeout = operation_timeout
        self._recycle_after = recycle_after
        self._memory_limit_mb = memory_limit_mb
        self._memory_check_interval = memory_check_interval
        self._nice = nice
        self._current: _Launched | None = None
        """The browser that takes the new contexts."""
        self._browsers: dict[Browser, _Launched] = {}
        """Every browser not yet closed or killed: the current one and the retired ones."""
        self._contexts: dict[BrowserContext, _Launched] = {}
        """The open contexts, in every browser, each with its browser."""
        self._closing: dict[BrowserContext, asyncio.Task[None]] = {}
        """Closes under way: each goes on even when its caller stops waiting for it."""
        self._late: set[asyncio.Task[BrowserContext]] = set()
        """New contexts whose caller left before they came; closed when they come."""
        self._launching = asyncio.Lock()
        self._memory_checked: float | None = None
        """When the memory was last measured (monotonic)."""
        self._launcher: str | None = None
        """What Playwright starts: the executable, or a script that drops CAP_SYS_NICE."""
        self._launcher_dir: Path | None = None
        self._renice_failed = False
        """A failure to renice is logged once."""
        self.launches = 0

    @property
    def open_contexts(self) -> int:
        """Contexts open in every browser of the pool, retired ones included."""
        return len(self._contexts)

    @property
    def browsers(self) -> int:
        """Browsers running: the current one and the retired ones not yet closed."""
        return len(self._browsers)

    async def start(self) -> None:
        async with self._launching:
            await self._ensure_browser()

    async def _ensure_browser(self) -> _Launched:
        """The current browser, launched when there is none; the caller holds `_launching`."""
        current = self._current
        if current is not None and current.browser.is_connected():
            return current
        if current is not None:
            logger.warning("the browser is gone; starting a new one")
            self._forget_browser(current)
        current = await self._launch()
        self._current = current
        return current

    async def _launch(self) -> _Launched:
        marker = f"{MARKER_SWITCH}={uuid.uuid4().hex}"
        launcher = await self._get_launcher()
        try:
            # Playwright's own launch timeout kills a Chromium that never answers; this
            # bound is for a driver that does not answer either.
            async with asyncio.timeout(self._operation_timeout + KILL_WAIT):
                browser = await self._playwright.chromium.launch(
                    executable_path=launcher,
                    headless=self._headless,
                    args=[*LAUNCH_ARGS, marker],
                    timeout=self._operation_timeout * 1000,
                )
        except BaseException:
            # A launch given up halfway may have left a Chromium nobody will close.
            await asyncio.shield(asyncio.to_thread(_kill_process_tree, marker, KILL_WAIT))
            raise
        self.launches += 1
        launched = _Launched(browser, marker, self.launches)
        self._browsers[browser] = launched
        browser.on("disconnected", self._on_disconnected)
        logger.info("browser started: %s %s", self._executable, browser.version)
        if self._nice is not None:
            await self._lower_priority(launched, self._nice)
        return launched

    async def _get_launcher(self) -> str:
        if self._launcher is None:
            self._launcher_dir = None
            self._launcher = self._executable
            if self._nice is not None and _holds_capability(_CAP_SYS_NICE):
                try:
                    script = await asyncio.to_thread(_write_launcher, self._executable)
                except OSError as error:
                    logger.warning("could not write the launcher of Chromium: %s", error)
                    script = None
                if script is None:
                    logger.warning(
                        "Chromium may restore the priority of its renderers: it runs with "
                        "CAP_SYS_NICE, and setpriv (or CAP_SETPCAP) is missing to drop it"
                    )
                else:
                    self._launcher_dir = script.parent
                    self._launcher = str(script)
        return self._launcher

    async def _lower_priority(self, launched: _Launched, nice: int) -> None:
        """Renice the process tree of the browser just launched; failures are logged once."""
        threads = 0
        try:
            async with asyncio.timeout(KILL_WAIT):
                threads, denied = await asyncio.to_thread(_renice_tree, launched.marker, nice)
        except TimeoutError:
            denied = f"no answer within {KILL_WAIT:g} s"
        except Exception as error:
            denied = f"{type(error).__name__}: {error}"
        if denied is not None and not self._renice_failed:
            self._renice_failed = True
            logger.warning("could not lower the priority of Chromium: %s", denied)
        logger.debug("browser %d: %d threads niced to %d", launched.number, threads, nice)

    def _on_disconnected(self, browser: Browser) -> None:
        launched = self._browsers.get(browser)
        if launched is None or launched.closing is not None:
            return
        logger.warning("the browser disconnected; its %d contexts are gone", len(launched.contexts))
        self._drop_contexts(launched)
        if launched is not self._current:
            # The current one is replaced, with a warning, at the next new context.
            self._forget_browser(launched)

    async def new_context(self, options: Mapping[str, Any]) -> BrowserContext:
        """A fresh context with `options` (Browser.new_context's keyword arguments).

        Bounded by the operation timeout. A caller that stops waiting (a time-out, a
        cancel) does not leak the context: it is closed as soon as it arrives.
        """
        await self._check_memory()
        async with self._launching:
            launched = await self._ensure_browser()
            launched.opened += 1
            launched.creating += 1
            if self._recycle_after is not None and launched.opened >= self._recycle_after:
                self._retire(launched, f"it has taken {launched.opened} contexts")
        creating = asyncio.create_task(self._create_context(launched, options))
        try:
            async with asyncio.timeout(self._operation_timeout):
                return await asyncio.shield(creating)
        except BaseException:
            if not creating.done():
                self._late.add(creating)
                creating.add_done_callback(self._close_late)
            raise

    async def _create_context(
        self, launched: _Launched, options: Mapping[str, Any]
    ) -> BrowserContext:
        try:
            context = await launched.browser.new_context(**options)
            self._contexts[context] = launched
            launched.contexts.add(context)
            context.on("close", self._forget)
        finally:
            launched.creating -= 1
            # A retired browser whose last context failed to come has nothing left to do.
            self._close_if_done(launched)
        return context

    def _close_late(self, creating: asyncio.Task[BrowserContext]) -> None:
        self._late.discard(creating)
        if creating.cancelled() or creating.exception() is not None:
            return
        self._start_closing(creating.result())

    def _forget(self, context: BrowserContext) -> None:
        launched = self._contexts.pop(context, None)
        if launched is not None:
            launched.contexts.discard(context)
            self._close_if_done(launched)

    async def _check_memory(self) -> None:
        """Retire the current browser when its processes use more than the limit.

        Measured at most every `memory_check_interval` seconds, in a worker thread, and
        only in a browser that has taken a context: a fresh one is never retired for it.
        """
        limit = self._memory_limit_mb
        launched = self._current
        if limit is None or launched is None or launched.opened == 0:
            return
        now = time.monotonic()
        checked = self._memory_checked
        if checked is not None and now - checked < self._memory_check_interval:
            return
        self._memory_checked = now
        try:
            async with asyncio.timeout(self._operation_timeout):
                used = await asyncio.to_thread(_tree_pss, launched.marker)
        except TimeoutError:
            logger.warning("the browser's memory was not measured within the time limit")
            return
        except Exception:
            # Recycling never fails a run: the next check may do better.
            logger.exception("could not measure the browser's memory")
            return
        if used is None:
            return
        logger.debug("browser %d uses %.0f MB", launched.number, used / MIB)
        if used > limit * MIB and launched is self._current:
            self._retire(
                launched, f"its processes use {used / MIB:.0f} MB, over the {limit:g} MB limit"
            )

    def _retire(self, launched: _Launched, reason: str) -> None:
        """Take no new context in the browser; close it once the last one in it closed."""
        launched.retired = reason
        if self._current is launched:
            self._current = None
        logger.info(
            "browser %d retired: %s (open contexts in it: %d)",
            launched.number,
            reason,
            len(launched.contexts) + launched.creating,
        )
        self._close_if_done(launched)

    def _close_if_done(self, launched: _Launched) -> None:
        """Start closing a retired browser with no context left in it."""
        if (
            launched.retired is not None
            and not launched.contexts
            and not launched.creating
            and launched.closing is None
            and self._browsers.get(launched.browser) is launched
        ):
            self._start_closing_browser(launched, None)

    def _start_closing_browser(self, launched: _Launched, kill: str | None) -> asyncio.Task[None]:
        """Close the browser, bounded, or kill it now when `kill` says why."""
        if launched.closing is None:
            launched.closing = asyncio.create_task(self._close_browser(launched, kill))
        return launched.closing

    async def _close_browser(self, launched: _Launched, kill: str | None) -> None:
        if self._current is launched:
            self._current = None
        try:
            if kill is not None:
                await self._kill(launched, kill)
                return
            try:
                async with asyncio.timeout(self._operation_timeout):
                    await launched.browser.close()
            except TimeoutError:
                reason = f"it did not close within {self._operation_timeout:g} s"
                await self._kill(launched, reason)
            except PlaywrightError as error:
                logger.info("browser already closed: %s", first_line(error.message))
            else:
                logger.info("browser %d closed", launched.number)
        finally:
            self._forget_browser(launched)

    def _forget_browser(self, launched: _Launched) -> None:
        """The browser is gone, or as good as gone: so are its contexts."""
        if self._browsers.get(launched.browser) is launched:
            del self._browsers[launched.browser]
        if self._current is launched:
            self._current = None
        self._drop_contexts(launched)

    def _drop_contexts(self, launched: _Launched) -> None:
        for context in launched.contexts:
            self._contexts.pop(context, None)
        launched.contexts.clear()

    def _start_closing(self, context: BrowserContext) -> asyncio.Task[None]:
        closing = self._closing.get(context)
        if closing is None:
            closing = asyncio.create_task(self._close_quietly(context))
            self._closing[context] = closing
            closing.add_done_callback(lambda _: self._closing.pop(context, None))
        return closing

    async def _close_quietly(self, context: BrowserContext) -> None:
        """Close, tolerating a browser that has already died with the context in it."""
        try:
            await context.close()
        except PlaywrightError as error:
            logger.info("context already closed: %s", first_line(error.message))
        self._forget(context)

    async def close_context(self, context: BrowserContext, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Close the context; False when it did not close within `timeout` seconds.

        The close goes on after a time-out or a cancel of this call, so a context
        closes whenever its browser gets to it. A context that never does means the
        browser no longer answers: the caller decides whether to `kill` it.
        """
        closing = self._start_closing(context)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(closing)
        except TimeoutError:
            logger.warning("a context did not close within %g s", timeout)
            return False
        return True

    async def kill(self, reason: str, *, browser: Browser | None = None) -> None:
        """Kill the current Chromium for real, and forget it: the next `new_context` launches
        a new one.

        For a browser that no longer answers (a context that will not close): its whole
        process tree gets SIGKILL. Every context in it is gone, and the runs playing in
        them fail their attempt. The process is found by the marker switch of its launch,
        its children by their parent links.

        With `browser` (say, the one a stuck context was in), that browser is killed if it
        still runs, current or retired: two callers that saw the same browser hang kill it
        once, and never the new one launched since.
        """
        async with self._launching:
            launched = self._current if browser is None else self._browsers.get(browser)
            if launched is None:
                return
            self._forget_browser(launched)
        await self._kill(launched, reason)

    async def _kill(self, launched: _Launched, reason: str) -> None:
        """SIGKILL the process tree of the browser, forgotten by the pool."""
        logger.warning("killing the browser: %s", reason)
        self._forget_browser(launched)
        try:
            async with asyncio.timeout(KILL_WAIT + 1):
                killed = await asyncio.to_thread(_kill_process_tree, launched.marker, KILL_WAIT)
        except TimeoutError:
            logger.error("the browser's processes did not go within %g s", KILL_WAIT)
        else:
            logger.info("killed %d browser processes", killed)
        # Playwright learns of the death on its own; closing lets it forget the browser now.
        with contextlib.suppress(PlaywrightError, TimeoutError):
            async with asyncio.timeout(self._operation_timeout):
                await launched.browser.close()

    async def close(self) -> None:
        """Close every context, then every browser (retired ones too), each bounded; a
        browser that does not close in time, or keeps a context open, is killed."""
        contexts = dict(self._contexts)
        closed = await asyncio.gather(*(self.close_context(context) for context in contexts))
        stuck = {contexts[context] for context, ok in zip(contexts, closed, strict=True) if not ok}
        async with self._launching:
            self._current = None
            closes = [
                self._start_closing_browser(
                    launched, "a context did not close at shutdown" if launched in stuck else None
                )
                for launched in list(self._browsers.values())
            ]
        await asyncio.gather(*closes, return_exceptions=True)
        pending = [*self._closing.values(), *self._late]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._contexts.clear()
        if self._launcher_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._launcher_dir, ignore_errors=True)
        self._launcher = self._launcher_dir = None


def _marked_tree(marker: str) -> list[psutil.Process]:
    """The processes launched with `marker`, then everything below them."""
    roots = [
        process
        for process in psutil.process_iter(["cmdline"])
        if marker in (process.info.get("cmdline") or ())
    ]
    tree: list[psutil.Process] = []
    for root in roots:
        tree.append(root)
        with contextlib.suppress(psutil.Error):
            tree.extend(root.children(recursive=True))
    return tree


def _kill_process_tree(marker: str, wait: float) -> int:
    """SIGKILL the process launched with `marker` and everything below it; how many got it.

    Runs in a worker thread: it walks every process of the machine, then waits.
    """
    # Collected before the kill: once their parent dies they are reparented.
    victims = _marked_tree(marker)
    for victim in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.kill()
    deadline = time.monotonic() + wait
    alive = victims
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [process for process in alive if _running(process)]
    if alive:
        logger.error("browser processes still alive after SIGKILL: %s", [p.pid for p in alive])
    return len(victims)


def _tree_pss(marker: str) -> int | None:
    """Bytes of memory (PSS) of the process tree launched with `marker`; None if none runs.

    PSS shares each page among the processes that map it, so the sum over the tree counts
    Chromium's shared code and memory once. Runs in a worker thread.
    """
    total, found = 0, False
    for process in _marked_tree(marker):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += process.memory_full_info().pss
            found = True
    return total if found else None


def _renice_tree(marker: str, nice: int) -> tuple[int, str | None]:
    """Give every thread of the tree launched with `marker` at least niceness `nice`.

    On Linux a niceness belongs to a thread (psutil's `nice()` sets the main one only),
    and a new thread or process inherits the niceness of the thread that made it: so
    every thread is reniced, again until a pass finds none left behind by one started
    meanwhile. A niceness is only ever raised (a lower priority). Runs in a worker
    thread; returns how many threads were reniced and the first refusal, if any.
    """
    reniced, denied = 0, None
    for _ in range(3):
        changed = 0
        for process in _marked_tree(marker):
            try:
                threads = [thread.id for thread in process.threads()]
            except psutil.NoSuchProcess:
                continue
            except psutil.AccessDenied as error:
                denied = denied or str(error)
                continue
            for thread in threads:
                try:
                    if os.getpriority(os.PRIO_PROCESS, thread) < nice:
                        os.setpriority(os.PRIO_PROCESS, thread, nice)
                        changed += 1
                except ProcessLookupError:
                    pass
                except OSError as error:
                    denied = denied or f"pid {process.pid}: {error}"
        reniced += changed
        if not changed or denied is not None:
            break
    return reniced, denied


def _holds_capability(capability: int) -> bool:
    """True when this process has `capability` in its effective set (Linux)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> capability & 1)
    return False


def _write_launcher(executable: str) -> Path | None:
    """A script that starts `executable` without CAP_SYS_NICE, or None when none can.

    With the capability, Chromium sets the niceness of its renderers and threads (0 for
    a visible page, -8 for the compositor): what the pool lowered would not stay so.
    Dropping it from the bounding set, which needs CAP_SETPCAP, takes it from every
    process below. Runs in a worker thread.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or not _holds_capability(_CAP_SETPCAP):
        return None
    directory = Path(tempfile.mkdtemp(prefix="warmup-chromium-"))
    script = directory / "chromium"
    command = [setpriv, "--inh-caps=-sys_nice", "--bounding-set=-sys_nice", "--", executable]
    script.write_text(f'#!/bin/sh\nexec {shlex.join(command)} "$@"\n')
    script.chmod(0o700)
    return script


def _running(process: psutil.Process) -> bool:
    """True until the process is gone or a zombie (dead; only its parent can reap it).

    psutil's own checks tell a reused pid apart by the start time.
    """
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def first_line(message: str) -> str:
    """The first line of a browser error's message: Playwright's carry a call log below."""
    lines = message.strip().splitlines()
    return lines[0] if lines else "browser error"
