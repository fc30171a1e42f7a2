"""The one shared Chromium and the contexts opened in it."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    tests prove that nothing leaks. When Chromium dies, the next context asks
    for a new one: the runs that were in it fail their attempt and are retried.
    """

    def __init__(self, playwright: Playwright, *, executable: str, headless: bool) -> None:
        self._playwright = playwright
        self._executable = executable
        self._headless = headless
        self._browser: Browser | None = None
        self._contexts: set[BrowserContext] = set()
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
            browser = await self._playwright.chromium.launch(
                executable_path=self._executable,
                headless=self._headless,
                args=list(LAUNCH_ARGS),
            )
            browser.on("disconnected", self._on_disconnected)
            self._browser = browser
            self.launches += 1
            logger.info("browser started: %s %s", self._executable, browser.version)
            return browser

    def _on_disconnected(self, browser: Browser) -> None:
        if browser is self._browser:
            logger.warning("the browser disconnected; its %d contexts are gone", self.open_contexts)
            self._contexts.clear()

    async def new_context(self, options: Mapping[str, Any]) -> BrowserContext:
        browser = await self._ensure_browser()
        context = await browser.new_context(**options)
        self._contexts.add(context)
        context.on("close", self._forget)
        return context

    def _forget(self, context: BrowserContext) -> None:
        self._contexts.discard(context)

    async def close_context(self, context: BrowserContext) -> None:
        """Close, tolerating a browser that has already died with the context in it."""
        try:
            await context.close()
        except PlaywrightError as error:
            logger.info("context already closed: %s", error.message.splitlines()[0])
        self._contexts.discard(context)

    async def close(self) -> None:
        for context in list(self._contexts):
            await self.close_context(context)
        if self._browser is not None:
            browser, self._browser = self._browser, None
            await browser.close()
