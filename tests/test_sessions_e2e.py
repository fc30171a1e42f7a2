"""Sessions from the chat: /import of a storage-state file, and the scenario's logged_in check.

End to end: the file goes through the fake Telegram's getFile and download route, the state
is written by the bot, and a real Chromium shows the imported cookie to the local site.
"""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from models import Profile, RunStatus, WarmupRun
from tests.chat_client import ChatClient
from tests.conftest import ADMIN_ID, CHAT_ID, Harness, StartBot
from tests.site import SESSION_SECRET

SECRET = f"{SESSION_SECRET}-imported"

ACCOUNT = """
steps:
  - goto: "{site}/account?p={profile}"
  - expect: "#account"
"""

CHECKED = """
logged_in: {selector: "#account", timeout: 2}
steps:
  - goto: "{site}/account?p={profile}"
  - expect: "#account"
"""

SLOW = """
steps:
  - goto: "{site}/feed?p={profile}"
  - wait: 30
"""


def storage_state(value: str = SECRET) -> bytes:
    """A Playwright storage state with one session cookie for the local site."""
    cookie = {
        "name": "session",
        "value": value,
        "domain": "127.0.0.1",
        "path": "/",
        "expires": -1,
        "httpOnly": True,
        "secure": False,
        "sameSite": "Lax",
    }
    return json.dumps({"cookies": [cookie], "origins": []}).encode()


def state_file(harness: Harness, profile: str = "alice") -> Path:
    return harness.settings.states_dir / f"{profile}.json"


async def import_state(
    chat: ChatClient, content: bytes, caption: str | None = "/import alice"
) -> str:
    await chat.send_document("state.json", content, caption)
    return (await chat.wait_for_reply()).text


async def warm_up(chat: ChatClient, command: str) -> str:
    await chat.send(command)
    progress = await chat.wait_for_reply()
    finished = await chat.wait_until(
        progress, lambda m: "Completed" in m.text or "Failed" in m.text, timeout=60
    )
    return finished.text


async def test_an_imported_state_is_stored_privately_and_used_by_the_next_run(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    harness = await start_bot(profiles=["alice"], scenarios={"account": ACCOUNT})
    chat = harness.chat

    reply = await import_state(chat, storage_state())
    assert "Session imported for alice: 1 cookie, 0 origins" in reply
    assert SESSION_SECRET not in reply
    path = state_file(harness)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_bytes())["cookies"][0]["value"] == SECRET

    assert "✅ done 1" in await warm_up(chat, "/warmup alice account")
    (visit,) = [v for v in harness.site.visits if v.path == "/account"]
    assert visit.cookies.get("session") == SECRET
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SESSION_SECRET not in caplog.text
    for message in chat.bot_messages:
        assert SESSION_SECRET not in message.text


async def test_bad_imports_are_explained_and_keep_the_previous_state(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    harness = await start_bot(profiles=["alice", "bob"], scenarios={"slow": SLOW})
    chat = harness.chat
    assert "1 cookie, 0 origins" in await import_state(chat, storage_state())
    previous = state_file(harness).read_bytes()
    stray = b'{"cookies": [{"name": "session", "value": "LeakedValue42"}]}'

    usage_errors: list[tuple[bytes | None, str, str]] = [
        (None, "/import alice", "no file: send the storage state of alice as a document"),
        (storage_state("x"), "/import zed", "unknown profile: zed; known: alice, bob"),
        (storage_state("x"), "/import", "name the profile the session is for"),
        (storage_state("x"), "/import alice bob", "too many words: alice bob"),
    ]
    file_errors: list[tuple[bytes | None, str, str]] = [
        (b"cookies = [1, 2]", "/import alice", "the file is not JSON (Expecting value"),
        (b"\xff\xfe{\x00}\x00", "/import alice", "the file is not UTF-8 text"),
        (b"[1, 2]", "/import alice", "not a storage state: not a JSON object"),
        (b'{"cookies": {}}', "/import alice", "not a storage state: cookies is not a list"),
        (stray, "/import alice", "not a storage state: a cookie has neither a url nor a domain"),
        (b'{"name": "x"}', "/import alice", "it has neither cookies nor origins"),
    ]
    for content, caption, expected in [*usage_errors, *file_errors]:
        if content is None:
            await chat.send(caption)
            reply = (await chat.wait_for_reply()).text
        else:
            reply = await import_state(chat, content, caption)
        assert expected in reply, (caption, expected, reply)
        if (content, caption, expected) in usage_errors:
            assert "/import <profile>" in reply, reply
        else:
            assert "Playwright's format is" in reply, reply
        assert state_file(harness).read_bytes() == previous, expected
    reply = await import_state(chat, b" " * (5 * 1024 * 1024 + 1))
    assert "the file is too large (5,242,881 bytes); a storage state may be at most 5 MiB" in reply
    assert state_file(harness).read_bytes() == previous
    assert not state_file(harness, "bob").exists()
    assert not state_file(harness, "zed").exists()
    assert "LeakedValue42" not in caplog.text
    assert all("LeakedValue42" not in message.text for message in chat.bot_messages)

    stranger = harness.chat_for(CHAT_ID + 3, user_id=ADMIN_ID + 3)
    reply = await import_state(stranger, storage_state("stranger"))
    assert "private" in reply
    assert state_file(harness).read_bytes() == previous

    await chat.send("/warmup alice slow")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "wait 30", timeout=30)
    reply = await import_state(chat, storage_state("during the run"))
    assert "alice is running; import after it finishes (task #1" in reply
    assert state_file(harness).read_bytes() == previous
    assert "1 cookie" in await import_state(chat, storage_state("bob's"), "/import bob")
    await chat.send("/cancel 1")
    # The reply comes once the run has stopped and given its profile back; the progress
    # message may show "Cancelled" a moment before.
    assert "Task #1 cancelled." in (await chat.wait_for_reply(timeout=30)).text
    await chat.wait_until(progress, "Cancelled", timeout=30)
    assert state_file(harness).read_bytes() == previous

    assert "Session imported for alice" in await import_state(chat, storage_state("after"))
    assert b"after" in state_file(harness).read_bytes()


async def test_an_expired_session_fails_at_once_is_marked_and_an_import_clears_it(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"checked": CHECKED}, max_attempts=2)
    chat = harness.chat

    await chat.send("/warmup alice checked")
    progress = await chat.wait_for_reply()
    failure = await chat.wait_for_message(lambda m: m.photo is not None, timeout=60)
    assert "session expired" in failure.text
    assert "/import alice" in failure.text
    await chat.wait_until(progress, "Failed", timeout=60)
    with harness.db():
        run = await WarmupRun.get(task_id=1)
        assert (run.status, run.attempts) == (RunStatus.failed, 1)
        assert (await Profile.get(name="alice")).session_expired
    assert len([v for v in harness.site.visits if v.path == "/account"]) == 1

    await chat.send("/profiles")
    reply = await chat.wait_for_reply()
    assert "alice — ❌ failed in task #1 · 🔑 session expired: /import alice" in reply.text

    reply = await import_state(chat, storage_state())
    assert "Session imported for alice: 1 cookie, 0 origins" in reply
    assert "mark is cleared" in reply
    await chat.send("/profiles")
    assert "session expired" not in (await chat.wait_for_reply()).text

    assert "✅ done 1" in await warm_up(chat, "/warmup alice checked")
    with harness.db():
        assert not (await Profile.get(name="alice")).session_expired
    await chat.send("/profiles")
    reply = await chat.wait_for_reply()
    assert "alice — ✅ succeeded in task #2" in reply.text
    assert "session expired" not in reply.text
