"""The player against a real headless Chromium and a tiny local site."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from warmup.player import SessionExpired, StepFailed, play
from warmup.scenario import Scenario, Step, parse_scenario

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

FEED = """<!doctype html><html><head><title>Feed</title></head><body>
<div id="feed">Hello feed</div>
<ul>
  <li><a class="item" href="/item/1">First</a></li>
  <li><a class="item" href="/item/2">Second</a></li>
</ul>
<div style="height: 5000px">tall</div>
<p>The end</p>
</body></html>"""

SEARCH = """<!doctype html><html><body>
<input id="q" autocomplete="off">
<div id="echo"></div>
<script>
  const q = document.getElementById("q");
  q.addEventListener("input", () => {
    document.getElementById("echo").textContent = q.value;
  });
</script>
</body></html>"""

SLOW = """<!doctype html><html><body>
<div id="box"></div>
<script>
  setTimeout(() => { document.getElementById("box").textContent = "Ready now"; }, 300);
  setTimeout(() => { history.pushState({}, "", "/slow/done"); }, 700);
</script>
</body></html>"""


def _html(body: str) -> web.Response:
    return web.Response(text=body, content_type="text/html")


async def _feed(request: web.Request) -> web.Response:
    return _html(FEED)


async def _item(request: web.Request) -> web.Response:
    number = request.match_info["number"]
    return _html(f"<!doctype html><html><body><h1 id='item'>Item {number}</h1></body></html>")


async def _search(request: web.Request) -> web.Response:
    return _html(SEARCH)


async def _slow(request: web.Request) -> web.Response:
    return _html(SLOW)


async def _broken(request: web.Request) -> web.Response:
    return web.Response(status=500, text="boom")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def home() -> AsyncIterator[str]:
    """Base URL of the local test site."""
    app = web.Application()
    app.router.add_get("/feed", _feed)
    app.router.add_get("/item/{number}", _item)
    app.router.add_get("/search", _search)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/broken", _broken)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    try:
        yield await context.new_page()
    finally:
        await context.close()


def scenario(*steps: dict[str, Any], variables: dict[str, str] | None = None) -> Scenario:
    data: dict[str, Any] = {"steps": list(steps)}
    if variables:
        data["vars"] = variables
    return parse_scenario(data, source="test.yaml", default_name="test")


async def run(page: Page, home: str, *steps: dict[str, Any], seen: list[Step] | None = None) -> int:
    """Play the steps with ``{home}`` set; record started steps in ``seen``."""
    return await play(
        page,
        scenario(*steps),
        {"home": home, "profile": "alice"},
        rng=random.Random(7),
        on_step=seen.append if seen is not None else None,
        default_timeout=5,
        typing_delay_ms=0,
    )


async def scroll_y(page: Page) -> float:
    return float(await page.evaluate("window.scrollY"))


async def test_goto_and_expect_selector(page: Page, home: str) -> None:
    executed = await run(page, home, {"goto": "{home}/feed"}, {"expect": "#feed"})
    assert executed == 2
    assert page.url == f"{home}/feed"


async def test_goto_http_error_fails_with_status(page: Page, home: str) -> None:
    with pytest.raises(StepFailed) as caught:
        await run(page, home, {"wait": 0}, {"goto": "{home}/broken"})
    assert caught.value.path == "steps[1]"
    assert caught.value.label == "goto {home}/broken"
    assert caught.value.reason == f"HTTP 500 at {home}/broken"


def closed_port() -> int:
    """A local port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_http_error_reason_has_no_credentials(page: Page, home: str) -> None:
    with_credentials = home.replace("http://", "http://user:secret@")
    with pytest.raises(StepFailed) as caught:
        await run(page, home, {"goto": f"{with_credentials}/broken"})
    assert caught.value.reason == f"HTTP 500 at {home}/broken"
    assert "secret" not in str(caught.value.reason)


async def test_goto_unreachable_gives_first_line_of_error(page: Page, home: str) -> None:
    with pytest.raises(StepFailed) as caught:
        await run(page, home, {"goto": f"http://127.0.0.1:{closed_port()}/nothing"})
    assert "ERR_CONNECTION_REFUSED" in caught.value.reason
    assert "\n" not in caught.value.reason
    assert not caught.value.reason.startswith("Page.goto")


async def test_click_navigates(page: Page, home: str) -> None:
    await run(page, home, {"goto": "{home}/feed"}, {"click": "a.item"}, {"expect": "#item"})
    assert page.url == f"{home}/item/1"
    assert await page.text_content("#item") == "Item 1"


async def test_type_lands_in_input(page: Page, home: str) -> None:
    await run(
        page,
        home,
        {"goto": "{home}/search"},
        {"type": {"selector": "#q", "text": "news for {profile} {{x}}"}},
    )
    assert await page.input_value("#q") == "news for alice {x}"
    assert await page.text_content("#echo") == "news for alice {x}"


async def test_scroll_moves_the_page(page: Page, home: str) -> None:
    await run(page, home, {"goto": "{home}/feed"}, {"scroll": [400, 600]})
    await page.wait_for_function("window.scrollY > 0", timeout=3000)
    assert await scroll_y(page) > 0


async def test_press_end_scrolls_to_bottom(page: Page, home: str) -> None:
    await run(page, home, {"goto": "{home}/feed"}, {"press": "End"})
    await page.wait_for_function("window.scrollY > 1000", timeout=3000)
    assert await scroll_y(page) > 1000


async def test_expect_text_and_url_wait_for_the_page(page: Page, home: str) -> None:
    executed = await run(
        page,
        home,
        {"goto": "{home}/slow"},
        {"expect": {"text": "Ready now"}, "timeout": 3},
        {"expect": {"url": "/slow/done"}, "timeout": 3},
    )
    assert executed == 3
    assert page.url == f"{home}/slow/done"


async def test_click_missing_selector_fails_within_timeout(page: Page, home: str) -> None:
    await run(page, home, {"goto": "{home}/feed"})
    started = time.monotonic()
    with pytest.raises(StepFailed) as caught:
        await run(page, home, {"click": "a.missing", "timeout": 1})
    elapsed = time.monotonic() - started
    assert elapsed < 2.5
    assert caught.value.path == "steps[0]"
    assert caught.value.label == "click a.missing"
    assert caught.value.reason == "timed out after 1 s waiting for 'a.missing' to be clickable"


async def test_expect_missing_text_reason(page: Page, home: str) -> None:
    await run(page, home, {"goto": "{home}/feed"})
    with pytest.raises(StepFailed) as caught:
        await run(page, home, {"expect": {"text": "Nowhere"}, "timeout": 0.3})
    assert (
        caught.value.reason == "timed out after 0.3 s waiting for the text 'Nowhere' to be visible"
    )


async def test_bad_selector_reason_is_one_line(page: Page, home: str) -> None:
    await run(page, home, {"goto": "{home}/feed"})
    with pytest.raises(StepFailed) as caught:
        await run(page, home, {"click": "a[", "timeout": 1})
    assert caught.value.reason
    assert "\n" not in caught.value.reason
    assert "Call log" not in caught.value.reason


async def test_wait_longer_than_its_timeout_fails(page: Page, home: str) -> None:
    with pytest.raises(StepFailed) as caught:
        await run(page, home, {"wait": 5, "timeout": 0.2})
    assert caught.value.reason == "timed out after 0.2 s"


async def test_optional_failure_does_not_fail_the_run(
    page: Page, home: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="warmup.player"):
        executed = await run(
            page,
            home,
            {"goto": "{home}/feed"},
            {"click": "a.missing", "timeout": 0.3, "optional": True},
            {"expect": "#feed"},
        )
    assert executed == 3
    assert "steps[1]" in caplog.text
    assert "a.missing" in caplog.text


async def test_failure_inside_repeat_has_the_nested_path(page: Page, home: str) -> None:
    await run(page, home, {"goto": "{home}/feed"})
    with pytest.raises(StepFailed) as caught:
        await run(
            page,
            home,
            {"wait": 0},
            {"repeat": 2, "steps": [{"wait": 0}, {"expect": "#nothing", "timeout": 0.2}]},
        )
    assert caught.value.path == "steps[1].repeat.steps[1]"


async def test_probability_zero_skips_and_one_runs(page: Page, home: str) -> None:
    seen: list[Step] = []
    executed = await run(
        page,
        home,
        {"wait": 0, "probability": 0},
        {"wait": 0, "probability": 1},
        seen=seen,
    )
    assert executed == 1
    assert [step.path for step in seen] == ["steps[1]"]


async def test_repeat_runs_the_picked_count(page: Page, home: str) -> None:
    seen: list[Step] = []
    executed = await run(page, home, {"repeat": [2, 9], "steps": [{"wait": 0}]}, seen=seen)
    expected = random.Random(7).randint(2, 9)
    inner = [step for step in seen if step.path == "steps[0].repeat.steps[0]"]
    assert len(inner) == expected
    assert executed == expected + 1  # the repeat itself counts too


async def test_scenario_vars_are_defaults_and_caller_vars_win(page: Page, home: str) -> None:
    defaults = scenario(
        {"goto": "{home}/{where}"}, variables={"home": "http://127.0.0.1:9", "where": "feed"}
    )
    await play(page, defaults, {"home": home}, rng=random.Random(1), default_timeout=5)
    assert page.url == f"{home}/feed"


async def test_unknown_variable_fails_the_step(page: Page, home: str) -> None:
    with pytest.raises(StepFailed) as caught:
        await run(page, home, {"goto": "{nope}/feed"})
    assert caught.value.reason == "unknown variable {nope}"


async def test_cancel_during_wait_propagates_promptly(page: Page, home: str) -> None:
    task = asyncio.create_task(run(page, home, {"wait": 30, "optional": True}))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1


async def test_cancel_during_browser_action_propagates(page: Page, home: str) -> None:
    await run(page, home, {"goto": "{home}/feed"})
    task = asyncio.create_task(run(page, home, {"expect": "#never", "optional": True}))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    # The page is still usable afterwards.
    assert await page.text_content("#feed") == "Hello feed"


# --------------------------------------------------------------------------- logged_in


async def run_checked(
    page: Page,
    home: str,
    logged_in: dict[str, Any],
    *steps: dict[str, Any],
    seen: list[Step] | None = None,
) -> int:
    """Play the steps of a scenario that declares ``logged_in``."""
    checked = parse_scenario(
        {"logged_in": logged_in, "steps": list(steps)}, source="test.yaml", default_name="test"
    )
    return await play(
        page,
        checked,
        {"home": home, "profile": "alice", "marker": "feed"},
        rng=random.Random(7),
        on_step=seen.append if seen is not None else None,
        default_timeout=5,
        typing_delay_ms=0,
    )


async def test_logged_in_selector_passes_and_the_run_goes_on(page: Page, home: str) -> None:
    executed = await run_checked(
        page, home, {"selector": "#{marker}"}, {"goto": "{home}/feed"}, {"click": "a.item"}
    )
    assert executed == 2
    assert page.url == f"{home}/item/1"


async def test_logged_in_url_passes(page: Page, home: str) -> None:
    executed = await run_checked(page, home, {"url": "/feed"}, {"goto": "{home}/feed"})
    assert executed == 1


async def test_missing_selector_is_a_session_expired_and_stops_the_run(
    page: Page, home: str
) -> None:
    seen: list[Step] = []
    started = time.monotonic()
    with pytest.raises(SessionExpired) as caught:
        await run_checked(
            page,
            home,
            {"selector": "#account", "timeout": 0.3},
            {"goto": "{home}/feed"},
            {"click": "a.item"},
            seen=seen,
        )
    assert time.monotonic() - started < 3
    assert isinstance(caught.value, StepFailed)
    assert caught.value.path == "logged_in"
    assert caught.value.label == "expect #account"
    assert caught.value.reason == "session expired: '#account' was not visible within 0.3 s"
    assert [step.path for step in seen] == ["steps[0]"]


async def test_url_without_the_text_is_a_session_expired(page: Page, home: str) -> None:
    with pytest.raises(SessionExpired) as caught:
        await run_checked(
            page, home, {"url": "/dashboard", "timeout": 0.3}, {"goto": "{home}/feed"}
        )
    assert caught.value.path == "logged_in"
    assert caught.value.reason == (
        "session expired: the URL did not contain '/dashboard' within 0.3 s"
    )


async def test_logged_in_is_checked_after_the_first_goto_only(page: Page, home: str) -> None:
    # Before the goto the page is blank (no #feed); after the second one there is no #feed
    # either: only the page of the first goto is checked.
    executed = await run_checked(
        page,
        home,
        {"selector": "#feed", "timeout": 0.5},
        {"wait": 0},
        {"goto": "{home}/feed", "probability": 0},
        {"goto": "{home}/feed"},
        {"goto": "{home}/item/1"},
        {"expect": "#item"},
    )
    assert executed == 4


async def test_a_failed_optional_goto_does_not_count_as_the_first(page: Page, home: str) -> None:
    with pytest.raises(SessionExpired):
        await run_checked(
            page,
            home,
            {"selector": "#account", "timeout": 0.3},
            {"goto": "{home}/broken", "optional": True},
            {"goto": "{home}/feed"},
        )


async def test_session_expired_is_not_swallowed_by_an_optional_repeat(
    page: Page, home: str
) -> None:
    with pytest.raises(SessionExpired) as caught:
        await run_checked(
            page,
            home,
            {"selector": "#account", "timeout": 0.3},
            {"repeat": 1, "optional": True, "steps": [{"goto": "{home}/feed"}]},
            {"wait": 0},
        )
    assert caught.value.path == "logged_in"


async def test_a_malformed_check_selector_is_a_plain_step_failure(page: Page, home: str) -> None:
    with pytest.raises(StepFailed) as caught:
        await run_checked(page, home, {"selector": "!!!"}, {"goto": "{home}/feed"})
    assert not isinstance(caught.value, SessionExpired)
    assert caught.value.path == "logged_in"
    assert "\n" not in caught.value.reason


class BusyRecorder:
    """Stands for the engine's busy limit: records which steps it was entered for."""

    def __init__(self, seen: list[Step]) -> None:
        self._seen = seen
        self.entered: list[str] = []

    async def __aenter__(self) -> None:
        self.entered.append(self._seen[-1].label)

    async def __aexit__(self, *exc_info: object) -> None:
        return None


async def test_only_the_steps_that_make_the_browser_work_enter_the_busy_limit(
    page: Page, home: str
) -> None:
    seen: list[Step] = []
    busy = BusyRecorder(seen)
    await play(
        page,
        scenario(
            {"goto": "{home}/feed"},
            {"wait": 0.01},
            {"expect": "#feed"},
            {"scroll": 100},
            {"repeat": 1, "steps": [{"click": "a.item"}]},
        ),
        {"home": home, "profile": "alice"},
        rng=random.Random(7),
        on_step=seen.append,
        default_timeout=5,
        busy=busy,
    )
    assert [step.label for step in seen][:3] == ["goto {home}/feed", "wait 0.01 s", "expect #feed"]
    assert busy.entered == ["goto {home}/feed", "scroll 100 px", "click a.item"]
