"""Every other command, bad input and forged buttons, typed into a chat like an operator would."""

from __future__ import annotations

from pathlib import Path

from models import TaskStatus, WarmupTask
from tests.conftest import CHAT_ID, SMOKE, StartBot

INVALID = """
steps:
  - goto: "{site}/feed"
  - clik: "a.item"
"""

TYPOS = """
steps:
  - goto: "{site}/feed"
  - clik: "a.item"
  - wait: -1
    optionl: true
"""

NEEDS_HOME = """
steps:
  - goto: "{home}/feed"
"""

SLOW = """
steps:
  - goto: "{site}/feed?p={profile}"
  - wait: 30
"""


async def test_help_lists_the_commands_and_they_are_registered(start_bot: StartBot) -> None:
    harness = await start_bot()
    await harness.chat.send("/start")
    reply = await harness.chat.wait_for_reply()
    for command in (
        "/warmup",
        "/status",
        "/tasks",
        "/cancel",
        "/profiles",
        "/scenarios",
        "/reload",
    ):
        assert command in reply.text
    registered = [call for call in harness.fake.calls if call.method == "setMyCommands"]
    assert registered and "warmup" in str(registered[-1].params["commands"])


async def test_bad_warmup_arguments_say_what_was_wrong_and_what_would_be_right(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(
        profiles=["alice", "bob"],
        scenarios={"smoke": SMOKE, "other": SMOKE, "broken": INVALID, "needs_home": NEEDS_HOME},
    )
    chat = harness.chat
    expectations = {
        "/warmup": "name the profiles to warm up",
        "/warmup all": "name a scenario: needs_home, other, smoke",
        "/warmup zed smoke": "unknown profile: zed; known: alice, bob",
        "/warmup tag:asia smoke": "no profile has the tag 'asia'",
        "/warmup all nosuch": "unknown scenario 'nosuch'; available: needs_home, other, smoke",
        "/warmup all smoke extra": "too many words",
    }
    for command, reason in expectations.items():
        await chat.send(command)
        reply = await chat.wait_for_reply()
        assert reason in reply.text, (command, reply.text)
        assert "Usage: /warmup <target> [scenario]" in reply.text

    await chat.send("/warmup all needs_home")
    reply = await chat.wait_for_reply()
    assert "scenario 'needs_home' uses {home}, which profile 'alice' does not define" in reply.text

    await chat.send("/warmup all broken")
    reply = await chat.wait_for_reply()
    assert "scenario 'broken' is invalid: broken.yaml" in reply.text
    assert "steps[1]: unknown action 'clik'" in reply.text
    assert harness.site.visits == []
    with harness.db():
        assert await WarmupTask.all().count() == 0


async def test_scenarios_and_profiles_show_what_is_configured(start_bot: StartBot) -> None:
    harness = await start_bot(
        profiles=[{"name": "alice", "tags": ["eu"]}, "bob"],
        scenarios={"smoke": SMOKE, "broken": INVALID, "typos": TYPOS},
    )
    chat = harness.chat
    await chat.send("/scenarios")
    reply = await chat.wait_for_reply()
    assert "✅ smoke — Open the feed, scroll, read a story" in reply.text
    assert "❌ broken — broken.yaml" in reply.text and "unknown action 'clik'" in reply.text
    # A file with several mistakes: its first one, and how many more.
    assert (
        "❌ typos — typos.yaml, line 4: steps[1]: unknown action 'clik'; expected one of goto,"
        " wait, scroll, click, type, press, expect, repeat (and 2 more problems)"
    ) in reply.text

    await chat.send("/warmup alice smoke")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "Completed", timeout=60)
    await chat.send("/profiles")
    reply = await chat.wait_for_reply()
    assert "• alice [eu] — ✅ succeeded in task #1" in reply.text
    assert "• bob — never run" in reply.text


async def test_reload_picks_up_new_profiles_and_keeps_the_old_ones_on_a_broken_file(
    start_bot: StartBot, tmp_path: Path
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    chat = harness.chat
    profiles_file = tmp_path / "profiles.yaml"
    profiles_file.write_text(
        profiles_file.read_text().replace("- name: alice", "- name: alice\n- name: bob"),
    )
    await chat.send("/reload")
    assert "Reloaded: 2 profiles, 1 valid scenario." in (await chat.wait_for_reply()).text

    profiles_file.write_text("profiles: [{name: 'no spaces allowed'}, {name: a}, {name: a}]")
    await chat.send("/reload")
    reply = await chat.wait_for_reply()
    assert "Reloaded: 2 profiles," in reply.text
    assert "profiles file was not loaded, the previous profiles stay:\n• profiles.yaml: " in (
        reply.text
    )
    assert "\n• profiles.yaml: profiles[0].name: expected a name of letters, digits" in reply.text
    assert "\n• profiles.yaml: profiles[2]: duplicate name 'a'" in reply.text

    profiles_file.unlink()
    await chat.send("/reload")
    reply = await chat.wait_for_reply()
    assert "Reloaded: 2 profiles," in reply.text
    assert "profiles.yaml: the file is gone" in reply.text

    await chat.send("/warmup bob smoke")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "Completed", timeout=60)
    assert harness.site.profiles_on("/feed") == ["bob"]


async def test_status_and_tasks_show_running_and_latest_tasks(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE, "slow": SLOW})
    chat = harness.chat
    await chat.send("/status")
    assert "Nothing is running" in (await chat.wait_for_reply()).text
    await chat.send("/tasks")
    assert "No tasks yet" in (await chat.wait_for_reply()).text

    await chat.send("/warmup alice slow")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "wait 30", timeout=30)
    await chat.send("/status")
    reply = await chat.wait_for_reply()
    assert "<b>#1</b> slow · alice — Running" in reply.html
    assert "▶️ running 1" in reply.text

    await chat.send("/status 1")
    reply = await chat.wait_for_reply()
    assert "alice: running, attempts 1" in reply.text
    await chat.send("/status 99")
    assert "No task #99 in this chat" in (await chat.wait_for_reply()).text
    await chat.send("/status abc")
    assert "give a task number" in (await chat.wait_for_reply()).text
    await chat.send("/cancel")
    assert "Usage: /cancel <task>" in (await chat.wait_for_reply()).text

    await chat.send("/cancel 1")
    await chat.wait_for_reply()
    await chat.send("/tasks")
    reply = await chat.wait_for_reply()
    assert "#1 slow · alice — Cancelled" in reply.text


async def test_forged_stale_and_foreign_buttons_do_nothing(start_bot: StartBot) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"slow": SLOW})
    chat = harness.chat
    await chat.send("/warmup alice")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "wait 30", timeout=30)

    assert await chat.press_data(progress, "garbage") == "This button is no longer valid."
    assert await chat.press_data(progress, "t:x:1") == "This button is no longer valid."
    stale = await chat.press_data(progress, "t:c:999")
    assert stale == "This button is no longer valid: no such task in this chat."
    retry = await chat.press_data(progress, "r:999")
    assert retry is not None and retry.startswith("This button is no longer valid")

    other = harness.chat_for(CHAT_ID + 5)
    await other.send("/help")
    help_message = await other.wait_for_reply()
    foreign = await other.press_data(help_message, "t:c:1")
    assert foreign == "This button is no longer valid: no such task in this chat."
    with harness.db():
        assert (await WarmupTask.get(id=1)).status == TaskStatus.running

    await chat.send("hello")
    assert "I only understand commands" in (await chat.wait_for_reply()).text
    await chat.send("/frobnicate")
    assert "Unknown command" in (await chat.wait_for_reply()).text
