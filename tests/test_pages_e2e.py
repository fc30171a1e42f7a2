"""Long lists in the chat: a fleet of 5,000 profiles, a task's runs, the tasks and the
schedules, each one message turned page by page with ◀ ▶ and narrowed with filters."""

from __future__ import annotations

import re

from models import Profile, RunStatus, TaskStatus, WarmupRun, WarmupTask
from tests.chat_client import BotMessage, ChatClient
from tests.conftest import CHAT_ID, SMOKE, StartBot
from tests.fake_telegram import TEXT_LIMIT

FLEET = 5000
PAGE_LINE = re.compile(r"page (\d+) of (\d+)")
PROFILE_LINE = re.compile(r"^• (\S+)", re.MULTILINE)

FAILS = """
steps:
  - goto: "{site}/feed?p={profile}"
  - expect: "#missing"
    timeout: 1
"""

BY_PAGE_VAR = """
steps:
  - goto: "{site}/{page}?p={profile}"
"""


def page_of(message: BotMessage) -> tuple[int, int]:
    match = PAGE_LINE.search(message.text)
    assert match, message.text
    return int(match[1]), int(match[2])


async def walk_pages(chat: ChatClient, message: BotMessage) -> list[str]:
    """Press ▶ until the last page; every page's text, in order."""
    texts = [message.text]
    while "▶" in message.buttons:
        number, _ = page_of(message)
        await chat.press(message, "▶")
        assert page_of(message)[0] == number + 1
        texts.append(message.text)
    return texts


def fleet_profiles() -> list[dict[str, object]]:
    return [
        {"name": f"p{index:04}", "tags": ["eu"] if index % 3 == 0 else ["us", "mobile"]}
        for index in range(FLEET)
    ]


async def test_profiles_of_a_fleet_of_5000_page_by_page_and_by_filter(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(
        profiles=fleet_profiles(), scenarios={"smoke": SMOKE, "fails": FAILS}, max_attempts=1
    )
    chat = harness.chat
    await chat.send("/warmup p0001,p0003 smoke")
    await chat.wait_for_reply(timeout=30)
    await chat.send("/warmup p0002 fails")
    await chat.wait_for_reply(timeout=30)
    await harness.settled(timeout=60)
    with harness.db():
        await Profile.filter(name="p4999").update(session_expired=True)

    await chat.send("/profiles")
    listing = await chat.wait_for_reply(timeout=30)
    assert listing.text.startswith("Profiles · 5000 profiles"), listing.text
    assert "✅ 2 · ❌ 1 · never run 4997 · 🔑 1" in listing.text
    assert listing.buttons[:2] == ["▶", "• All (5000)"]
    assert "❌ Failed (1)" in listing.buttons and "🔑 Session expired (1)" in listing.buttons
    assert "🏷 us (3333)" not in listing.buttons, "tag buttons name the tag only"
    assert {"🏷 us", "🏷 mobile", "🏷 eu"} <= set(listing.buttons)
    pages = await walk_pages(chat, listing)
    assert len(pages) == page_of(listing)[1] == 250
    assert all(len(text) <= TEXT_LIMIT for text in pages)
    listed = [name for text in pages for name in PROFILE_LINE.findall(text)]
    assert listed == [f"p{index:04}" for index in range(FLEET)], "each once, in the file's order"
    assert "▶" not in listing.buttons and "◀" in listing.buttons
    await chat.press(listing, "◀")
    assert page_of(listing) == (249, 250)

    await chat.press(listing, "❌ Failed (1)")
    assert PROFILE_LINE.findall(listing.text) == ["p0002"]
    assert "❌ failed in task #2" in listing.text
    assert "Failed · 1 of 5000 profiles" in listing.text
    assert "• ❌ Failed (1)" in listing.buttons
    assert not PAGE_LINE.search(listing.text), "one page: no page line"

    await chat.send("/profiles expired")
    expired = await chat.wait_for_reply(timeout=30)
    assert PROFILE_LINE.findall(expired.text) == ["p4999"]
    assert "🔑 session expired: /import p4999" in expired.text

    await chat.send("/profiles tag:eu never")
    never_eu = await chat.wait_for_reply(timeout=30)
    assert "Never run · 🏷 eu · 1666 of 5000 profiles" in never_eu.text, never_eu.text
    names = [
        name for text in await walk_pages(chat, never_eu) for name in PROFILE_LINE.findall(text)
    ]
    assert names == [f"p{index:04}" for index in range(0, FLEET, 3) if index != 3]
    await chat.press(never_eu, "• 🏷 eu")  # pressed again: every tag
    assert "Never run · 4997 of 5000 profiles" in never_eu.text

    for typed, reason in {
        "/profiles faild": "unknown filter 'faild'",
        "/profiles tag:asia": "no profile has the tag 'asia'; tags in use: eu, mobile, us",
        "/profiles failed never": "give at most one of failed, expired, never, all",
        "/profiles tag:eu tag:us": "give at most one tag",
    }.items():
        await chat.send(typed)
        reply = await chat.wait_for_reply(timeout=30)
        assert reason in reply.text, (typed, reply.text)
        assert "Usage: /profiles [failed | expired | never] [tag:<tag>]" in reply.text
    for forged in ("pp:0:a:", "pp:1:z:", "pp:1:a:nothex", "pp:1:a:00000000"):
        answer = await chat.press_data(listing, forged)
        assert answer in (
            "This button is no longer valid.",
            "No profile has this tag any more: send /profiles again.",
        ), forged


async def test_a_tasks_runs_page_by_page_with_its_failures_and_their_retry(
    start_bot: StartBot,
) -> None:
    profiles = [
        {"name": f"r{index:02}", "vars": {"page": "broken" if index % 4 == 1 else "feed"}}
        for index in range(12)
    ]
    harness = await start_bot(
        profiles=profiles, scenarios={"by_page": BY_PAGE_VAR}, max_attempts=1, max_concurrency=6
    )
    chat = harness.chat
    await chat.send("/warmup all by_page")
    progress = await chat.wait_for_reply(timeout=30)
    await chat.wait_until(progress, "Completed", timeout=60)

    await chat.press(progress, "Details")
    details = await chat.wait_for_message("page 1 of 2", after=progress.message_id)
    assert details.buttons[:3] == ["▶", "• All (12)", "❌ Failed (3)"]
    assert [line for line in details.text.splitlines() if line.startswith("✅ r00")]
    pages = await walk_pages(chat, details)
    listed = [name for text in pages for name in re.findall(r"^\S+ (r\d\d):", text, re.M)]
    assert listed == [f"r{index:02}" for index in range(12)]

    await chat.press(details, "❌ Failed (3)")
    assert re.findall(r"^❌ (r\d\d): failed", details.text, re.M) == ["r01", "r05", "r09"]
    assert details.text.count("step: steps[0] (goto ") == 3
    assert details.text.count("error: HTTP 500 at ") == 3
    assert details.buttons == ["All (12)", "• ❌ Failed (3)", "🔁 r01", "🔁 r05", "🔁 r09"]

    assert await chat.press(details, "🔁 r05") == "Started task #2."
    retried = await chat.wait_for_message("Warmup #2", after=details.message_id)
    await chat.wait_until(retried, "Failed ·", timeout=60)
    assert harness.site.profiles_on("/broken").count("r05") == 2

    await chat.send("/status 1")
    status = await chat.wait_for_reply()
    assert page_of(status) == (1, 2) and status.text.startswith("Warmup #1 · by_page · all")
    await chat.send("/status 2")
    one = await chat.wait_for_reply()
    assert not PAGE_LINE.search(one.text) and "r05" in one.text
    assert await chat.press_data(details, "rp:99:1:0") == (
        "This button is no longer valid: no such task in this chat."
    )
    other = harness.chat_for(CHAT_ID + 1)
    await other.send("/tasks")
    empty = await other.wait_for_reply()
    assert await other.press_data(empty, "rp:1:1:1") == (
        "This button is no longer valid: no such task in this chat."
    )


async def test_tasks_and_schedules_page_by_page(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    with harness.db():
        alice = await Profile.get(name="alice")
        for number in range(1, 24):
            task = await WarmupTask.create(
                chat_id=CHAT_ID,
                target=f"target-{number}",
                scenario="smoke",
                status=TaskStatus.completed,
            )
            await WarmupRun.create(task=task, profile=alice, status=RunStatus.succeeded)
    chat = harness.chat

    await chat.send("/tasks")
    tasks = await chat.wait_for_reply()
    assert page_of(tasks) == (1, 3)
    assert re.findall(r"^#(\d+) ", tasks.text, re.M) == [str(n) for n in range(23, 13, -1)]
    assert tasks.buttons == ["▶", *(f"#{n}" for n in range(23, 13, -1))]
    pages = await walk_pages(chat, tasks)
    listed = [int(n) for text in pages for n in re.findall(r"^#(\d+) ", text, re.M)]
    assert listed == list(range(23, 0, -1))
    await chat.press(tasks, "#2")
    runs = await chat.wait_for_message("Warmup #2 · smoke · target-2", after=tasks.message_id)
    assert "alice: succeeded" in runs.text

    await chat.send("/status")
    assert "Nothing is running" in (await chat.wait_for_reply()).text

    for hour in range(7):
        await chat.send(f"/schedule alice smoke 0 {hour} * * *")
        await chat.wait_for_reply()
    await chat.send("/schedules")
    schedules = await chat.wait_for_reply()
    assert page_of(schedules) == (1, 2)
    assert re.findall(r"Schedule #(\d)", schedules.text) == ["1", "2", "3", "4", "5"]
    await chat.press(schedules, "▶")
    assert re.findall(r"Schedule #(\d)", schedules.text) == ["6", "7"]
    assert schedules.buttons == ["Pause #6", "Delete #6", "Pause #7", "Delete #7", "◀"]
    assert await chat.press(schedules, "Pause #7") == "Schedule #7 paused."
    assert page_of(schedules) == (2, 2) and "⏸ paused" in schedules.text
    assert await chat.press(schedules, "Delete #6") == "Schedule #6 deleted."
    assert await chat.press(schedules, "Delete #7") == "Schedule #7 deleted."
    assert re.findall(r"Schedule #(\d)", schedules.text) == ["1", "2", "3", "4", "5"]
    assert not PAGE_LINE.search(schedules.text), "back to one page"


async def test_a_scenarios_folder_of_many_long_scenarios_page_by_page(
    start_bot: StartBot,
) -> None:
    valid = {
        f"{index:02}-" + "v" * 61: SMOKE.replace("Open the feed", "Open the feed " * 20)
        for index in range(20)
    }
    invalid = {
        f"{index:02}-" + "x" * 61: f'steps:\n  - "{"<b>&amp;</b>" * 30}": 1\n'
        for index in range(20, 31)
    }
    harness = await start_bot(profiles=["alice"], scenarios={**valid, **invalid})
    chat = harness.chat

    await chat.send("/scenarios")
    listing = await chat.wait_for_reply()
    assert listing.text.startswith("Scenarios · 20 valid, 11 invalid"), listing.text
    assert page_of(listing) == (1, 4)
    pages = await walk_pages(chat, listing)
    assert all(len(text) <= TEXT_LIMIT for text in pages)
    listed = [name for text in pages for name in re.findall(r"^[✅❌] (\S+)", text, re.M)]
    assert listed == sorted(valid) + sorted(invalid)
    assert "line 2: steps[0]: unknown action '<b>&amp;</b><b>&amp;</b>" in pages[-1], pages[-1]

    for name in sorted(invalid):
        (harness.settings.scenarios_dir / f"{name}.yaml").unlink()
    await chat.send("/reload")
    await chat.wait_for_reply()
    await chat.press(listing, "◀")
    assert page_of(listing) == (3, 3), "the page is clamped to the pages there are now"
    await chat.press(listing, "◀")
    assert page_of(listing) == (2, 3)
