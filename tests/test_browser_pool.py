"""The browser pool against a real Chromium: recycling, memory limit, niceness, shutdown.

The processes are found as the pool finds them, by the marker switch of each launch; a
browser "closed" is one whose processes are gone, waited for rather than slept on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psutil
import pytest
from playwright.async_api import BrowserContext, Playwright, async_playwright

import warmup.browser
from tests.processes import alive, chromium_below, kill_all
from tests.site import LocalSite
from warmup.browser import MARKER_SWITCH, BrowserPool, find_executable

HANG_GUARD = 60
"""Seconds after which something awaited counts as hung."""

MakePool = Callable[..., Awaitable[BrowserPool]]


@pytest.fixture
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as started:
        yield started


@pytest.fixture
async def make_pool(playwright: Playwright) -> AsyncIterator[MakePool]:
    """Started pools with the given options; each closed after the test, and whatever
    Chromium a failed test left behind is killed."""
    pools: list[BrowserPool] = []

    async def make(**options: Any) -> BrowserPool:
        pool = BrowserPool(
            playwright, executable=find_executable(playwright, "auto"), headless=True, **options
        )
        pools.append(pool)
        await pool.start()
        return pool

    try:
        yield make
    finally:
        for pool in pools:
            await pool.close()
        kill_all(chromium_below())


def browser_roots() -> dict[str, psutil.Process]:
    """The browser processes below this test, by the marker of their launch."""
    roots: dict[str, psutil.Process] = {}
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            for argument in process.cmdline():
                if argument.startswith(f"{MARKER_SWITCH}="):
                    roots[argument] = process
    return roots


def the_root() -> psutil.Process:
    roots = browser_roots()
    assert len(roots) == 1, roots
    return next(iter(roots.values()))


def running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def tree(root: psutil.Process) -> list[psutil.Process]:
    with contextlib.suppress(psutil.NoSuchProcess):
        return [root, *root.children(recursive=True)]
    return []


async def eventually(condition: Callable[[], bool], timeout: float = HANG_GUARD) -> None:
    """Until `condition` holds: the positive signal a test waits for (processes are
    polled: nothing tells when one has gone)."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.05)


async def visit(
    context: BrowserContext, site: LocalSite, profile: str, path: str = "/feed"
) -> None:
    """Play a page in the context: it fails the test unless the page loads."""
    async with asyncio.timeout(HANG_GUARD):
        page = context.pages[0] if context.pages else await context.new_page()
        response = await page.goto(f"{site.url}{path}?p={profile}")
        assert response is not None and response.ok


def retirements(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "warmup.browser"
        and record.levelno == logging.INFO
        and " retired: " in record.getMessage()
    ]


# --------------------------------------------------------------------------- recycling


async def test_recycling_after_n_contexts_lets_the_old_browser_finish_its_context(
    make_pool: MakePool, site: LocalSite, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="warmup.browser")
    pool = await make_pool(recycle_after=2)
    (old_marker,) = browser_roots()
    old_root = browser_roots()[old_marker]

    first = await pool.new_context({})
    await visit(first, site, "one")
    assert await pool.close_context(first)
    second = await pool.new_context({})  # the old browser's second and last context
    await visit(second, site, "two")
    assert pool.launches == 1

    third = await pool.new_context({})
    await visit(third, site, "three")

    assert pool.launches == 2
    assert third.browser is not second.browser
    assert retirements(caplog) == [
        "browser 1 retired: it has taken 2 contexts (open contexts in it: 1)"
    ]
    assert pool.open_contexts == 2 and pool.browsers == 2
    # The new browser is up and playing: the old one still plays its context to the end.
    assert running(old_root)
    await visit(second, site, "two", "/article/1")
    assert set(browser_roots()) > {old_marker}

    assert await pool.close_context(second)
    await eventually(lambda: not any(running(process) for process in tree(old_root)))
    await eventually(lambda: pool.browsers == 1)
    assert old_marker not in browser_roots()
    assert second.browser is not None and not second.browser.is_connected()

    await visit(third, site, "three", "/article/2")
    assert await pool.close_context(third)
    assert pool.open_contexts == 0
    assert site.profiles_on("/feed") == ["one", "two", "three"]
    assert site.profiles_on("/article/1") == ["two"]
    assert site.profiles_on("/article/2") == ["three"]


async def test_contexts_opened_together_each_finish_in_their_own_retired_browser(
    make_pool: MakePool, site: LocalSite
) -> None:
    """With one context per browser, each browser is retired while its context is still
    being created: it must wait for that context, not close under it."""
    pool = await make_pool(recycle_after=1)

    async with asyncio.timeout(HANG_GUARD):
        contexts = await asyncio.gather(*(pool.new_context({}) for _ in range(3)))
    await asyncio.gather(*(visit(context, site, f"p{n}") for n, context in enumerate(contexts)))

    assert pool.launches == 3
    assert len({context.browser for context in contexts}) == 3
    assert pool.open_contexts == 3
    for context in contexts:
        assert await pool.close_context(context)
    await eventually(lambda: pool.browsers == 0 and not browser_roots())
    assert sorted(site.profiles_on("/feed")) == ["p0", "p1", "p2"]

    # The next context gets a fresh browser, as after any retirement.
    fresh = await pool.new_context({})
    await visit(fresh, site, "p3")
    assert pool.launches == 4


async def test_the_memory_limit_retires_the_browser_and_the_next_context_gets_a_new_one(
    make_pool: MakePool, site: LocalSite, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="warmup.browser")
    pool = await make_pool(memory_limit_mb=1)
    old_root = the_root()

    first = await pool.new_context({})
    await visit(first, site, "one")
    assert pool.launches == 1, "a fresh browser is not measured"

    second = await pool.new_context({})  # the first measurement: far over 1 MB
    await visit(second, site, "two")

    assert pool.launches == 2
    assert second.browser is not first.browser
    (retired,) = retirements(caplog)
    assert retired.startswith("browser 1 retired: its processes use ")
    assert retired.endswith(" MB, over the 1 MB limit (open contexts in it: 1)")
    used = int(retired.removeprefix("browser 1 retired: its processes use ").split()[0])
    assert 10 < used < 5000, "the whole tree is measured, in MB"

    await visit(first, site, "one", "/article/1")
    assert await pool.close_context(first)
    await eventually(lambda: not running(old_root) and pool.browsers == 1)
    assert await pool.close_context(second)
    assert site.profiles_on("/feed") == ["one", "two"]
    assert site.profiles_on("/article/1") == ["one"]


async def test_a_stuck_context_in_a_retired_browser_gets_that_browser_killed_only(
    make_pool: MakePool, site: LocalSite
) -> None:
    pool = await make_pool(recycle_after=1)
    old = await pool.new_context({})
    old_root = the_root()
    new = await pool.new_context({})
    assert pool.browsers == 2

    await pool.kill("a context did not close", browser=old.browser)

    assert not any(running(process) for process in tree(old_root))
    assert pool.open_contexts == 1 and pool.browsers == 1
    await visit(new, site, "new")
    await pool.kill("again, by a second caller", browser=old.browser)
    await visit(new, site, "new", "/article/1")
    assert pool.launches == 2


# --------------------------------------------------------------------------- priority


async def test_chromium_and_the_renderers_it_starts_later_run_at_the_lowered_niceness(
    make_pool: MakePool, site: LocalSite
) -> None:
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    pool = await make_pool(nice=10)
    root = the_root()
    assert root.nice() == 10
    before = {process.pid for process in tree(root)}
    assert not any("--type=renderer" in " ".join(process.cmdline()) for process in tree(root))

    context = await pool.new_context({})
    await visit(context, site, "alice")

    renderers = [
        process
        for process in tree(root)
        if process.pid not in before and "--type=renderer" in " ".join(process.cmdline())
    ]
    assert renderers, "the page runs in a renderer started after the launch"
    assert [process.nice() for process in renderers] == [10] * len(renderers)
    for process in tree(root):
        with contextlib.suppress(psutil.NoSuchProcess):
            for thread in process.threads():
                with contextlib.suppress(ProcessLookupError):
                    assert os.getpriority(os.PRIO_PROCESS, thread.id) >= 10, process.cmdline()
    assert root.parent().nice() == ours, "Playwright's driver keeps the bot's priority"
    assert await pool.close_context(context)


async def test_a_refused_renice_is_logged_once_and_the_browser_still_plays(
    make_pool: MakePool,
    site: LocalSite,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(which: int, who: int, priority: int) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(warmup.browser.os, "setpriority", refuse)
    caplog.set_level(logging.INFO, logger="warmup.browser")
    pool = await make_pool(recycle_after=1)
    first = await pool.new_context({})
    second = await pool.new_context({})
    await visit(first, site, "one")
    await visit(second, site, "two")

    assert pool.launches == 2
    refusals = [r for r in caplog.records if "could not lower the priority" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelno == logging.WARNING


# --------------------------------------------------------------------------- shutdown


async def test_close_leaves_no_chromium_process_retired_browsers_included(
    make_pool: MakePool, site: LocalSite
) -> None:
    pool = await make_pool(recycle_after=1)
    contexts = [await pool.new_context({}) for _ in range(2)]
    for number, context in enumerate(contexts):
        await visit(context, site, f"p{number}")
    roots = browser_roots()
    assert len(roots) == 2 and pool.browsers == 2
    processes = [process for root in roots.values() for process in tree(root)]

    async with asyncio.timeout(HANG_GUARD):
        await pool.close()

    assert pool.open_contexts == 0 and pool.browsers == 0
    await eventually(lambda: not any(running(process) for process in processes), timeout=10)
    assert browser_roots() == {}
    assert [p.describe() for p in alive(chromium_below())] == []
