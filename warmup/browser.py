"""The one shared Chromium and the contexts opened in it, every operation bounded."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import uuid
from collections.abc import Mapping
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
`BrowserPool.kill` finds the process, since Playwright's API gives no pid."""
OPERATION_TIMEOUT = 30.0
"""Seconds a launch, a new context or the closing of the whole pool may take by default."""
CLOSE_TIMEOUT = 5.0
"""Seconds closing one context may take by default (a healthy browser needs a fraction)."""
KILL_WAIT = 5.0
"""Seconds to wait for killed processes to be gone."""


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


class BrowserPool:
    """Owns the shared Browser and every context opened in it.

    Tracking the contexts lets shutdown close whatever is still open and lets
    tests prove that nothing leaks. When Chromium dies, or is killed because it
    stopped answering (`kill`), the next context asks for a new one: the runs that
    were in it fail their attempt and are retried.

    A stuck page can make Playwright wait forever, even for calls that take a
    timeout, so every operation here has a bound of its own.
    """

    def __init__(
        self,
        playwright: Playwright,
        *,
        executable: str,
        headless: bool,
        operation_timeout: float = OPERATION_TIMEOUT,
    ) -> None:
        self._playwright = playwright
        self._executable = executable
        self._headless = headless
        self._operation_timeout = operation_timeout
        self._browser: Browser | None = None
        self._marker: str | None = None
        """The marker switch of the current browser's launch."""
        self._contexts: set[BrowserContext] = set()
        self._closing: dict[BrowserContext, asyncio.Task[None]] = {}
        """Closes under way: each goes on even when its caller stops waiting for it."""
        self._late: set[asyncio.Task[BrowserContext]] = set()
        """New contexts whose caller left before they came; closed when they come."""
        self._launching = asyncio.Lock()
        self.launches = 0

    @property
    def open_contexts(self) -> int:
        return len(self._contexts)

    async def start(self) -> None:
        await self._ensure_browser()

    async def _ensure_browser(self) -> Browser:
        async with self._launching:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._browser is not None:
                logger.warning("the browser is gone; starting a new one")
            marker = f"{MARKER_SWITCH}={uuid.uuid4().hex}"
            try:
                # Playwright's own launch timeout kills a Chromium that never answers; this
                # bound is for a driver that does not answer either.
                async with asyncio.timeout(self._operation_timeout + KILL_WAIT):
                    browser = await self._playwright.chromium.launch(
                        executable_path=self._executable,
                        headless=self._headless,
                        args=[*LAUNCH_ARGS, marker],
                        timeout=self._operation_timeout * 1000,
                    )
            except BaseException:
                # A launch given up halfway may have left a Chromium nobody will close.
                await asyncio.shield(asyncio.to_thread(_kill_process_tree, marker, KILL_WAIT))
                raise
            browser.on("disconnected", self._on_disconnected)
            self._browser, self._marker = browser, marker
            self.launches += 1
            logger.info("browser started: %s %s", self._executable, browser.version)
            return browser

    def _on_disconnected(self, browser: Browser) -> None:
        if browser is self._browser:
            logger.warning("the browser disconnected; its %d contexts are gone", self.open_contexts)
            self._contexts.clear()

    async def new_context(self, options: Mapping[str, Any]) -> BrowserContext:
        """A fresh context with `options` (Browser.new_context's keyword arguments).

        Bounded by the operation timeout. A caller that stops waiting (a time-out, a
        cancel) does not leak the context: it is closed as soon as it arrives.
        """
        browser = await self._ensure_browser()
        creating = asyncio.ensure_future(browser.new_context(**options))
        try:
            async with asyncio.timeout(self._operation_timeout):
                context = await asyncio.shield(creating)
        except BaseException:
            if not creating.done():
                self._late.add(creating)
                creating.add_done_callback(self._close_late)
            raise
        self._contexts.add(context)
        context.on("close", self._forget)
        return context

    def _close_late(self, creating: asyncio.Task[BrowserContext]) -> None:
        self._late.discard(creating)
        if creating.cancelled() or creating.exception() is not None:
            return
        context = creating.result()
        self._contexts.add(context)
        context.on("close", self._forget)
        self._start_closing(context)

    def _forget(self, context: BrowserContext) -> None:
        self._contexts.discard(context)

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
        self._contexts.discard(context)

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

        With `browser` (say, the one a stuck context was in), nothing is killed unless it is
        still the current one: two callers that saw the same browser hang kill it once, and
        never the new one launched since.
        """
        async with self._launching:
            current, marker = self._browser, self._marker
            if (
                current is None
                or marker is None
                or (browser is not None and browser is not current)
            ):
                return
            self._browser = self._marker = None
        await self._kill(current, marker, reason)

    async def _kill(self, browser: Browser, marker: str, reason: str) -> None:
        """SIGKILL the process tree of `browser`, already forgotten by the pool."""
        logger.warning("killing the browser: %s", reason)
        self._contexts = {context for context in self._contexts if context.browser is not browser}
        try:
            async with asyncio.timeout(KILL_WAIT + 1):
                killed = await asyncio.to_thread(_kill_process_tree, marker, KILL_WAIT)
        except TimeoutError:
            logger.error("the browser's processes did not go within %g s", KILL_WAIT)
        else:
            logger.info("killed %d browser processes", killed)
        # Playwright learns of the death on its own; closing lets it forget the browser now.
        with contextlib.suppress(PlaywrightError, TimeoutError):
            async with asyncio.timeout(self._operation_timeout):
                await browser.close()

    async def close(self) -> None:
        """Close every context, then the browser, each bounded; a browser that does not
        close in time, or keeps a context open, is killed."""
        contexts = list(self._contexts)
        closed = await asyncio.gather(*(self.close_context(context) for context in contexts))
        async with self._launching:
            browser, marker = self._browser, self._marker
            self._browser = self._marker = None
        if browser is not None and marker is not None:
            if not all(closed):
                await self._kill(browser, marker, "a context did not close at shutdown")
            else:
                try:
                    async with asyncio.timeout(self._operation_timeout):
                        await browser.close()
                except TimeoutError:
                    reason = f"it did not close within {self._operation_timeout:g} s"
                    await self._kill(browser, marker, reason)
                except PlaywrightError as error:
                    logger.info("browser already closed: %s", first_line(error.message))
        pending = [*self._closing.values(), *self._late]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._contexts.clear()


def _kill_process_tree(marker: str, wait: float) -> int:
    """SIGKILL the process launched with `marker` and everything below it; how many got it.

    Runs in a worker thread: it walks every process of the machine, then waits.
    """
    roots = [
        process
        for process in psutil.process_iter(["cmdline"])
        if marker in (process.info.get("cmdline") or ())
    ]
    victims: list[psutil.Process] = []
    for root in roots:
        with contextlib.suppress(psutil.Error):
            # Collected before the kill: once their parent dies they are reparented.
            victims.extend(root.children(recursive=True))
        victims.append(root)
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
