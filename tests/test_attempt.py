"""One attempt in one context, against a real Chromium and the local site.

`BrowserAttempt` is driven directly, with a real `BrowserPool` and a `StateStore` in the
test's folder: no database, no bot. The faults are real too (a page stuck in
`while(true){}`), except the context that never closes, which Chromium does not do on
demand: its `close` is replaced by one that never returns (`never_closing`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.async_api import BrowserContext, async_playwright

import warmup.state_store
from tests.processes import ProcessId, alive, chromium_below
from tests.site import IDB_TOKEN, LocalSite
from warmup.attempt import (
    AttemptConfig,
    AttemptFailure,
    AttemptPlan,
    BrowserAttempt,
    ProfileSpec,
    TraceMode,
    records_trace,
)
from warmup.browser import MARKER_SWITCH, BrowserPool, find_executable
from warmup.scenario import Scenario, Step, parse_scenario
from warmup.state_store import StateStore, UnusableState, check_state

logger = logging.getLogger(__name__)

HANG_GUARD = 60
"""Seconds after which an attempt that has not returned counts as hung."""

IDB_LOGIN = """
steps:
  - goto: "{site}/idb-login?p={profile}"
  - expect: "#welcome"
"""

IDB_ACCOUNT = """
logged_in:
  selector: "#account"
  timeout: 3
steps:
  - goto: "{site}/idb-account?p={profile}"
  - expect: "#account"
"""

FEED = """
steps:
  - goto: "{site}/feed?p={profile}"
  - expect: "#feed"
"""

BROKEN = """
steps:
  - goto: "{site}/feed?p={profile}"
  - goto: "{site}/broken?p={profile}"
"""

STUCK = """
steps:
  - goto: "{site}/stuck?p={profile}"
  - expect: "#never"
"""

COUNT_THEN_WAIT = """
steps:
  - goto: "{site}/visit-counter?p={profile}"
  - wait: 60
"""

STUCK_THEN_WAIT = """
steps:
  - goto: "{site}/stuck?p={profile}"
  - wait: 60
"""


@pytest.fixture
async def pool() -> AsyncIterator[BrowserPool]:
    async with async_playwright() as playwright:
        browser = BrowserPool(
            playwright, executable=find_executable(playwright, "auto"), headless=True
        )
        await browser.start()
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "states")


def make_attempt(
    pool: BrowserPool, store: StateStore, tmp_path: Path, busy: Any = None, **config: Any
) -> BrowserAttempt:
    settings: dict[str, Any] = {"run_timeout": 30, "step_timeout": 10, "teardown_timeout": 5}
    settings.update(config)
    return BrowserAttempt(
        pool, store, AttemptConfig(artifacts_dir=tmp_path / "art", **settings), busy
    )


def make_plan(
    site: LocalSite,
    text: str,
    *,
    profile: str = "alice",
    attempt: int = 1,
    trace_path: Path | None = None,
) -> AttemptPlan:
    scenario: Scenario = parse_scenario(
        yaml.safe_load(text), source="test.yaml", default_name="test"
    )
    spec = ProfileSpec(
        name=profile, options={"locale": "en-US"}, vars={"site": site.url}, seed_state=None
    )
    return AttemptPlan(
        task_id=7,
        run_id=70,
        attempt=attempt,
        profile=spec,
        scenario=scenario,
        trace_path=trace_path,
    )


async def play(
    attempt: BrowserAttempt, plan: AttemptPlan, seen: list[Step] | None = None
) -> AttemptFailure | None:
    """The attempt, which must return (not hang) within HANG_GUARD seconds."""
    async with asyncio.timeout(HANG_GUARD):
        return await attempt(plan, (seen if seen is not None else []).append)


def marked_browsers() -> list[ProcessId]:
    """The living browser processes below this test, each launched with its pool's marker."""
    return [process for process in alive(chromium_below()) if MARKER_SWITCH in process.cmdline]


def saved(store: StateStore, profile: str) -> dict[str, Any]:
    return json.loads(store.path_for(profile).read_text(encoding="utf-8"))


def idb_tokens(state: Mapping[str, Any]) -> list[Any]:
    """Every value stored under the key "token" in the state's IndexedDB databases."""
    return [
        record.get("value")
        for origin in state.get("origins", [])
        for database in origin.get("indexedDB", [])
        for store in database["stores"]
        for record in store["records"]
        if record.get("key") == "token"
    ]


def patch_contexts(
    monkeypatch: pytest.MonkeyPatch, pool: BrowserPool, change: Callable[[BrowserContext], None]
) -> None:
    """Let `change` alter each context the pool opens from now on, before the attempt gets it."""
    original = pool.new_context

    async def new_context(options: Mapping[str, Any]) -> BrowserContext:
        context = await original(options)
        change(context)
        return context

    monkeypatch.setattr(pool, "new_context", new_context)


# --------------------------------------------------------------------------- state


async def test_success_saves_indexeddb_and_the_next_context_is_logged_in(
    pool: BrowserPool, store: StateStore, site: LocalSite, tmp_path: Path
) -> None:
    attempt = make_attempt(pool, store, tmp_path)
    seen: list[Step] = []

    assert await play(attempt, make_plan(site, IDB_LOGIN), seen) is None

    assert [step.path for step in seen] == ["steps[0]", "steps[1]"]
    state = saved(store, "alice")
    assert idb_tokens(state) == [f"{IDB_TOKEN}-alice"]
    assert state["cookies"] == [], "the login lives in IndexedDB only"
    assert os.stat(store.path_for("alice")).st_mode & 0o777 == 0o600
    assert store.load("alice", None) == state, "a state with IndexedDB is usable"
    assert pool.open_contexts == 0

    assert await play(attempt, make_plan(site, IDB_ACCOUNT, attempt=2)) is None
    assert site.profiles_on("/idb-account") == ["alice"]
    assert list(tmp_path.joinpath("art").glob("*")) == [], "a success keeps no artifacts"

    # The same page without the stored IndexedDB shows the login form.
    failure = await play(attempt, make_plan(site, IDB_ACCOUNT, profile="bob"))
    assert failure is not None and failure.session_expired
    assert pool.open_contexts == 0


async def test_a_failed_logged_in_check_leaves_the_stored_state_as_it_was(
    pool: BrowserPool, store: StateStore, site: LocalSite, tmp_path: Path
) -> None:
    attempt = make_attempt(pool, store, tmp_path)
    host = site.url.removeprefix("http://").split(":")[0]
    store.save(
        "alice",
        {
            "cookies": [{"name": "old", "value": "1", "domain": host, "path": "/"}],
            "origins": [],
        },
    )
    before = store.path_for("alice").read_bytes()

    failure = await play(attempt, make_plan(site, IDB_ACCOUNT))

    assert failure is not None and failure.session_expired
    assert failure.step == "logged_in (expect #account)"
    assert failure.error.startswith("session expired: '#account' was not visible")
    assert store.path_for("alice").read_bytes() == before
    assert site.visits[-1].cookies == {"old": "1"}, "the run did start from the stored state"
    assert pool.open_contexts == 0

    # A run that is no session failure does rewrite the file (Playwright writes every
    # field of a cookie): the file above stayed as it was only because of the check.
    assert await play(attempt, make_plan(site, FEED)) is None
    assert store.path_for("alice").read_bytes() != before


async def test_state_files_are_read_and_written_in_a_worker_thread(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        threads.append(threading.get_ident())
        fsync(descriptor)

    monkeypatch.setattr(warmup.state_store.os, "fsync", recording_fsync)
    state = {"cookies": [], "origins": [{"origin": "http://x.org", "localStorage": []}]}

    await store.save_state("alice", state)

    assert threads and threading.get_ident() not in threads
    assert await store.load_state("alice", None) == state
    assert [path.name for path in store.path_for("alice").parent.iterdir()] == ["alice.json"]


def test_indexeddb_origins_are_usable_and_only_lightly_checked() -> None:
    database = {
        "name": "session",
        "version": 1,
        "stores": [
            {
                "name": "kv",
                "autoIncrement": False,
                "records": [{"key": "token", "value": "t"}, {"key": "o", "valueEncoded": {}}],
                "indexes": [],
            }
        ],
    }
    origin = {"origin": "http://x.org", "localStorage": []}
    check_state({"origins": [{**origin, "indexedDB": [database]}]})
    check_state({"origins": [{**origin, "indexedDB": []}]})
    for bad in (5, "x", [5], [[]], {"name": "session"}):
        with pytest.raises(UnusableState, match="indexedDB"):
            check_state({"origins": [{**origin, "indexedDB": bad}]})


# --------------------------------------------------------------------------- failures


async def test_a_failing_step_leaves_a_screenshot_and_a_trace(
    pool: BrowserPool, store: StateStore, site: LocalSite, tmp_path: Path
) -> None:
    attempt = make_attempt(pool, store, tmp_path)

    failure = await play(attempt, make_plan(site, BROKEN, attempt=2))

    assert failure is not None and not failure.session_expired
    assert failure.step is not None and failure.step.startswith("steps[1] (goto")
    assert failure.error.startswith("HTTP 500 at ")
    artifacts = tmp_path / "art"
    assert failure.screenshot == artifacts / "task7-alice-2.png"
    assert failure.screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert failure.trace == artifacts / "task7-alice-2.zip"
    assert zipfile.is_zipfile(failure.trace)
    for path in (failure.screenshot, failure.trace):
        assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(artifacts).st_mode & 0o777 == 0o700
    assert store.path_for("alice").is_file(), "a failure that is not a session one saves"
    assert pool.open_contexts == 0


async def test_a_requested_trace_is_kept_after_a_success(
    pool: BrowserPool, store: StateStore, site: LocalSite, tmp_path: Path
) -> None:
    attempt = make_attempt(pool, store, tmp_path)
    wanted = tmp_path / "try" / "trace.zip"

    assert await play(attempt, make_plan(site, FEED, trace_path=wanted)) is None

    assert zipfile.is_zipfile(wanted)
    assert os.stat(wanted).st_mode & 0o777 == 0o600


async def test_a_stuck_page_ends_the_attempt_and_the_next_one_plays(
    pool: BrowserPool, store: StateStore, site: LocalSite, tmp_path: Path
) -> None:
    attempt = make_attempt(pool, store, tmp_path, run_timeout=3, teardown_timeout=2)
    started = time.monotonic()

    failure = await play(attempt, make_plan(site, STUCK))

    took = time.monotonic() - started
    logger.warning(
        "stuck page: returned after %.1f s, screenshot %s, trace %s",
        took,
        failure and failure.screenshot,
        failure and failure.trace,
    )
    assert failure is not None
    assert failure.error == "run timed out after 3 s"
    # Mostly the expect; on a busy machine the goto may not have seen its "load" in time.
    assert failure.step in ("steps[0] (goto {site}/stuck?p={profile})", "steps[1] (expect #never)")
    assert pool.open_contexts == 0

    assert await play(attempt, make_plan(site, FEED, profile="bob")) is None
    assert site.profiles_on("/feed") == ["bob"]
    assert pool.launches == 1, "a stuck page needs no new browser"


async def test_a_context_that_never_closes_gets_its_browser_killed_and_relaunched(
    pool: BrowserPool,
    store: StateStore,
    site: LocalSite,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The context's `close` is replaced on the Playwright object itself by a coroutine that
    never returns: the pool awaits it like a real close that Chromium never answers."""

    async def never_closing(reason: str | None = None) -> None:
        await asyncio.Event().wait()

    def make_unclosable(context: BrowserContext) -> None:
        context.close = never_closing  # type: ignore[method-assign]

    attempt = make_attempt(pool, store, tmp_path, teardown_timeout=2)
    old_browsers = marked_browsers()
    assert len(old_browsers) == 1
    old_processes = chromium_below()
    patch_contexts(monkeypatch, pool, make_unclosable)

    failure = await play(attempt, make_plan(site, FEED))

    assert failure == AttemptFailure(
        None, "the browser did not close the context within 2 s and was restarted"
    )
    assert pool.open_contexts == 0
    assert alive(old_browsers) == []
    assert alive(old_processes) == [], "the browser's whole process tree is killed"
    assert store.path_for("alice").is_file(), "the state was saved before the close"

    monkeypatch.undo()
    assert await play(attempt, make_plan(site, FEED, profile="bob")) is None
    assert pool.launches == 2
    new_browsers = marked_browsers()
    assert len(new_browsers) == 1 and new_browsers != old_browsers
    assert pool.open_contexts == 0


# --------------------------------------------------------------------------- cancellation


async def test_a_cancelled_attempt_saves_the_state_and_closes_the_context(
    pool: BrowserPool, store: StateStore, site: LocalSite, tmp_path: Path
) -> None:
    attempt = make_attempt(pool, store, tmp_path)
    waiting = asyncio.Event()

    def on_step(step: Step) -> None:
        if step.path == "steps[1]":
            waiting.set()

    plan = make_plan(site, COUNT_THEN_WAIT)
    running = asyncio.create_task(attempt(plan, on_step))
    async with asyncio.timeout(HANG_GUARD):
        await waiting.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    cookies = {cookie["name"]: cookie["value"] for cookie in saved(store, "alice")["cookies"]}
    assert cookies["visits"] == "1"
    assert pool.open_contexts == 0


async def test_a_second_cancel_during_the_clean_up_still_closes_the_context(
    pool: BrowserPool,
    store: StateStore,
    site: LocalSite,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page is stuck, so saving its state would wait the whole (long) teardown bound;
    the second cancel comes while it waits."""
    saving = asyncio.Event()

    def signal_saving(context: BrowserContext) -> None:
        original = context.storage_state

        async def storage_state(**options: Any) -> Any:
            saving.set()
            return await original(**options)

        context.storage_state = storage_state  # type: ignore[method-assign]

    patch_contexts(monkeypatch, pool, signal_saving)
    attempt = make_attempt(pool, store, tmp_path, teardown_timeout=HANG_GUARD * 2)
    waiting = asyncio.Event()

    def on_step(step: Step) -> None:
        if step.path == "steps[1]":
            waiting.set()

    running = asyncio.create_task(attempt(make_plan(site, STUCK_THEN_WAIT), on_step))
    async with asyncio.timeout(HANG_GUARD):
        await waiting.wait()
        running.cancel()
        await saving.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    assert pool.open_contexts == 0
    assert not store.path_for("alice").exists()


async def test_a_cancel_propagates_even_when_the_state_cannot_be_stored(
    pool: BrowserPool,
    store: StateStore,
    site: LocalSite,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def full_disk(profile: str, state: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "save_state", full_disk)
    attempt = make_attempt(pool, store, tmp_path)
    waiting = asyncio.Event()

    def on_step(step: Step) -> None:
        if step.path == "steps[1]":
            waiting.set()

    running = asyncio.create_task(attempt(make_plan(site, COUNT_THEN_WAIT), on_step))
    async with asyncio.timeout(HANG_GUARD):
        await waiting.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    assert pool.open_contexts == 0


async def test_an_unexpected_error_fails_the_attempt_only(
    pool: BrowserPool, store: StateStore, site: LocalSite, tmp_path: Path
) -> None:
    attempt = make_attempt(pool, store, tmp_path)

    def broken_listener(step: Step) -> None:
        raise RuntimeError("listener broke\nsecond line")

    async with asyncio.timeout(HANG_GUARD):
        failure = await attempt(make_plan(site, FEED), broken_listener)

    assert failure == AttemptFailure(None, "internal error: RuntimeError: listener broke")
    assert pool.open_contexts == 0


@pytest.mark.parametrize(
    ("mode", "traced"),
    [
        (TraceMode.off, []),
        (TraceMode.on_first_retry, [2]),
        (TraceMode.retain_on_failure, [1, 2, 3]),
        (TraceMode.on, [1, 2, 3]),
    ],
)
def test_which_attempts_record_a_trace(mode: TraceMode, traced: list[int]) -> None:
    assert [attempt for attempt in (1, 2, 3) if records_trace(mode, attempt)] == traced


class BusyWatcher:
    """Stands for the engine's busy limit: records what the pool was asked while inside."""

    def __init__(self, pool: BrowserPool) -> None:
        self.inside = False
        self.entries = 0
        self.outside: list[str] = []
        self._pool = pool

    async def __aenter__(self) -> None:
        self.inside = True
        self.entries += 1

    async def __aexit__(self, *exc_info: object) -> None:
        self.inside = False

    def watch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("new_context", "close_context"):
            original = getattr(self._pool, name)

            async def watched(*args: Any, _original: Any = original, _name: str = name) -> Any:
                if not self.inside:
                    self.outside.append(_name)
                return await _original(*args)

            monkeypatch.setattr(self._pool, name, watched)


async def test_opening_saving_and_closing_a_context_wait_for_the_busy_limit(
    pool: BrowserPool,
    store: StateStore,
    site: LocalSite,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    busy = BusyWatcher(pool)
    busy.watch(monkeypatch)
    attempt = make_attempt(pool, store, tmp_path, busy)
    scenario = 'steps:\n  - goto: "{site}/feed"\n  - wait: 0.01\n  - expect: "#feed"\n'

    assert await play(attempt, make_plan(site, scenario)) is None

    assert busy.outside == [], "the browser was asked to work outside the busy limit"
    # Opening (context and page), the goto, saving the state, closing: four entries; the
    # wait and the expect only wait.
    assert busy.entries == 4
    assert store.path_for("alice").exists()
    assert pool.open_contexts == 0
