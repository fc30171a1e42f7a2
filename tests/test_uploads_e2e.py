"""/scenario and /profiles_file: a scenario or the profiles file sent as a document.

End to end: the document goes through the fake Telegram's getFile and download route, the
bot judges it with the loader /reload uses, replaces the file on disk and reloads; a real
Chromium then plays the new scenario against the local site.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.chat_client import ChatClient
from tests.conftest import SMOKE, StartBot
from warmup.scenario import MAX_FILE_BYTES, ScenarioError, load_scenario

OLD = """
description: The feed
steps:
  - goto: "{site}/feed?p={profile}"
"""

NEW = """
description: One article
steps:
  - goto: "{site}/article/7?p={profile}"
  - repeat: 2
    steps:
      - scroll: 200
  - expect: "#article"
"""

NEEDS_HOME = """
steps:
  - goto: "{home}/feed"
"""

BROKEN = """
steps:
  - goto: "{site}/feed?p={profile}"
  - clik: "a.item"
  - wait: [5, 2]
  - scroll: lots
"""


def folder_state(folder: Path) -> dict[str, bytes]:
    """Every entry of the folder (hidden ones too) with its bytes: what a refusal must keep."""
    return {
        path.name: path.read_bytes() if path.is_file() else b"<dir>" for path in folder.iterdir()
    }


async def send(chat: ChatClient, name: str, content: bytes | str, caption: str) -> str:
    data = content.encode() if isinstance(content, str) else content
    await chat.send_document(name, data, caption)
    return (await chat.wait_for_reply()).text


def scenario_problems(tmp_path: Path, name: str, content: str) -> list[str]:
    """What the loader says of the document, as /reload would say it: the reply's lines."""
    path = tmp_path / "expected" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(content)
    try:
        load_scenario(path)
    except ScenarioError as error:
        return str(error).splitlines()
    raise AssertionError(f"{name} is valid")


async def test_a_sent_scenario_replaces_the_old_one_keeps_a_backup_and_plays(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"browse": OLD})
    chat = harness.chat
    folder = harness.settings.scenarios_dir

    reply = await send(chat, "browse.yaml", NEW, "/scenario")
    assert (
        "Scenario browse replaced (the previous version is kept as browse.yaml.bak); 4 steps."
        in reply
    ), reply
    assert "⚠️" not in reply
    assert (folder / "browse.yaml").read_text() == NEW
    assert (folder / "browse.yaml.bak").read_text() == OLD
    assert sorted(folder_state(folder)) == ["browse.yaml", "browse.yaml.bak"]

    await chat.send("/warmup alice browse")
    progress = await chat.wait_for_reply()
    finished = await chat.wait_until(
        progress, lambda m: "Completed" in m.text or "Failed" in m.text, timeout=60
    )
    assert "✅ done 1" in finished.text, finished.text
    assert [(visit.path, visit.profile) for visit in harness.site.visits] == [
        ("/article/7", "alice")
    ]

    # A new name adds a scenario; the caption's name wins over the file's. It uses a {var}
    # that alice lacks: applied, with a warning.
    reply = await send(chat, "draft.yml", NEEDS_HOME, "/scenario reader")
    assert "Scenario reader added (reader.yaml); 1 step." in reply, reply
    assert "It is applied, but /warmup refuses the profiles that lack a variable" in reply
    assert "scenario 'reader' uses {home}, which profile 'alice' does not define" in reply
    assert (folder / "reader.yaml").read_text() == NEEDS_HOME
    assert not (folder / "reader.yaml.bak").exists()
    await chat.send("/scenarios")
    listed = (await chat.wait_for_reply()).text
    assert "✅ browse — One article" in listed, listed
    assert "✅ reader" in listed


async def test_bad_scenario_documents_are_refused_and_change_nothing(
    start_bot: StartBot, tmp_path: Path
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"browse": OLD})
    chat = harness.chat
    folder = harness.settings.scenarios_dir
    before = folder_state(folder)

    reply = await send(chat, "browse.yaml", BROKEN, "/scenario")
    assert "Scenario browse has mistakes; nothing was changed:" in reply, reply
    problems = scenario_problems(tmp_path, "browse.yaml", BROKEN)
    assert len(problems) == 3, problems
    assert "browse.yaml, line 4: steps[1]: unknown action 'clik'" in problems[0]
    assert "line 5: steps[2]: wait: range [5, 2] has min above max" in problems[1]
    assert "line 6: steps[3]: scroll: expected a whole number" in problems[2]
    for problem in problems:
        assert f"• {problem}" in reply, (problem, reply)
    assert folder_state(folder) == before

    cases: list[tuple[str, bytes | str, str, str]] = [
        ("browse.txt", NEW, "/scenario", "browse.txt is not a YAML file"),
        ("browse.yaml", NEW, "/scenario bad.name", "bad.name is not a valid scenario name"),
        ("my browse.yaml", NEW, "/scenario", "my browse is not a valid scenario name"),
        ("browse.yaml", NEW, "/scenario a b", "too many words: a b"),
        ("browse.yaml", b"steps:\n  - goto: \xff\n", "/scenario", "not UTF-8 text (byte 0xff)"),
        ("browse.yaml", "steps: [goto: x\n", "/scenario", "browse.yaml, line 2: invalid YAML"),
        ("browse.yaml", "name: other\n" + NEW, "/scenario", "'other' does not match the file"),
        ("x.yaml", " " * (MAX_FILE_BYTES + 1), "/scenario", "the file is too large (262,145"),
    ]
    for name, content, caption, expected in cases:
        reply = await send(chat, name, content, caption)
        assert expected in reply, (name, caption, reply)
        assert folder_state(folder) == before, (name, caption)
    assert "a scenario file may be at most 256 KiB" in reply

    await chat.send("/scenario browse")
    reply = (await chat.wait_for_reply()).text
    assert "no file: send the YAML file as a document with this caption" in reply
    assert "Usage: send a scenario's YAML file as a document" in reply
    assert folder_state(folder) == before


async def test_a_sent_profiles_file_replaces_the_profiles_and_a_broken_one_changes_nothing(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice", "bob"], scenarios={"smoke": SMOKE})
    chat = harness.chat
    path = harness.settings.profiles_file
    old = path.read_bytes()
    site = {"site": harness.site.url}
    new = yaml.safe_dump(
        {
            "profiles": [
                {"name": "alice", "vars": site},
                {"name": "carol", "tags": ["eu"], "vars": site},
                {"name": "dave"},
            ]
        }
    )

    reply = await send(chat, "profiles.yaml", new, "/profiles_file")
    assert (
        "Profiles file replaced: 3 profiles (2 new, 1 removed); the previous version is kept "
        "as profiles.yaml.bak." in reply
    ), reply
    assert "scenario 'smoke' uses {site}, which profile 'dave' does not define" in reply
    assert path.read_text() == new
    assert path.with_name("profiles.yaml.bak").read_bytes() == old
    await chat.send("/profiles")
    listed = (await chat.wait_for_reply()).text
    assert "carol [eu]" in listed and "dave" in listed and "bob" not in listed, listed

    current = path.read_bytes()
    backup = path.with_name("profiles.yaml.bak").read_bytes()
    broken = "profiles:\n  - name: alice\n  - name: 'c d'\n  - {name: erin, colour: red}\n"
    broken += "  - name: alice\n"
    reply = await send(chat, "mine.yml", broken, "/profiles_file")
    assert "The profiles file has mistakes; nothing was changed, the profiles stay:" in reply
    for problem in (
        "• profiles.yaml: profiles[1].name: expected a name of letters, digits, _ and - (at most"
        " 32 characters), got the string 'c d'",
        "• profiles.yaml: profiles[2]: unknown key 'colour'; expected name, tags, vars,",
        "• profiles.yaml: profiles[3]: duplicate name 'alice'",
    ):
        assert problem in reply, (problem, reply)
    assert path.read_bytes() == current
    assert path.with_name("profiles.yaml.bak").read_bytes() == backup
    assert not list(path.parent.glob(".upload-*"))

    cases: list[tuple[str, bytes | str, str, str]] = [
        ("profiles.json", new, "/profiles_file", "profiles.json is not a YAML file"),
        ("profiles.yaml", new, "/profiles_file now", "/profiles_file takes no argument, not now"),
        ("profiles.yaml", b"profiles: [{name: \xff}]", "/profiles_file", "not UTF-8 text"),
        ("profiles.yaml", "profiles: [\n", "/profiles_file", "profiles.yaml, line 2:"),
        ("profiles.yaml", b"#" * (1024 * 1024 + 1), "/profiles_file", "the file is too large"),
    ]
    for name, content, caption, expected in cases:
        reply = await send(chat, name, content, caption)
        assert expected in reply, (name, caption, reply)
        assert path.read_bytes() == current, (name, caption)
        assert path.with_name("profiles.yaml.bak").read_bytes() == backup, (name, caption)
        assert not list(path.parent.glob(".upload-*")), (name, caption)
    await chat.send("/profiles_file")
    reply = (await chat.wait_for_reply()).text
    assert "Usage: send the profiles file (YAML) as a document" in reply

    await chat.send("/profiles")
    listed = (await chat.wait_for_reply()).text
    assert "carol [eu]" in listed and "bob" not in listed, listed
