"""Bad input everywhere: what operators type, what buttons carry, what files hold.

Each bad input gets a clear message, nothing crashes, and nothing already stored is lost. The
pure parsers are fuzzed with hypothesis; a few end-to-end tests push the worst cases through
the whole bot (fake Telegram, real Chromium, SQLite).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.arguments import MAX_ID, ArgumentError, WarmupArgs, parse_task_id, parse_warmup_args
from handlers.callbacks import RunAction, TaskAction
from models import Profile, RunStatus, WarmupRun, WarmupTask
from tests.conftest import CHAT_ID, SMOKE, StartBot
from warmup.profiles import MAX_FILE_BYTES, ProfileConfig, ProfilesError, load_profiles
from warmup.scenario import SCENARIO_NAME
from warmup.state_store import UNREADABLE_SUFFIX, StateStore, UnusableState, check_state
from warmup.targets import TargetError, resolve_target

FUZZ = settings(max_examples=150, deadline=None)
FUZZ_FILES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NO_LONGER_VALID = "This button is no longer valid"
SOMETHING_WRONG = "Something went wrong"
ERROR_LIMIT = 1500
"""An error about what was typed stays far below a message's 4096 characters."""

PROFILES = {
    "alice": ProfileConfig(name="alice", tags=("eu", "fresh")),
    "bob": ProfileConfig(name="bob", tags=("us",)),
    "carol-2": ProfileConfig(name="carol-2", tags=("eu",)),
}

COUNTER = """
steps:
  - goto: "{site}/visit-counter?p={profile}"
  - expect: "#count"
"""

# --------------------------------------------------------------------------- strategies

HOSTILE_TOKENS = st.sampled_from(
    [
        *"<>&;/#,:  \t\n\r\x00\x1f\x7f\u200b\u202e\ufeff²\u0661\u0662ab-_",
        "tag:",
        "all",
        "alice",
        "bob",
        "carol-2",
        "eu",
        "&amp;",
        "<b>",
        "</b>",
        "<script>",
        ",,,",
        "#12",
        "99999999999999999999",
    ]
)

TEXTS = st.one_of(
    st.text(),
    st.lists(HOSTILE_TOKENS, max_size=12).map("".join),
    # very long: a short piece repeated, up to ~8000 characters
    st.tuples(st.text(min_size=1, max_size=8), st.integers(200, 1000)).map(
        lambda piece: piece[0] * piece[1]
    ),
)


def _one_line_error(error: Exception, limit: int = ERROR_LIMIT) -> str:
    message = str(error)
    assert message, f"{type(error).__name__} without a message"
    assert "\n" not in message and "\r" not in message, message
    assert len(message) <= limit, f"{len(message)} characters: {message[:200]}…"
    return message


# --------------------------------------------------------------------------- typed arguments


@FUZZ
@given(st.one_of(st.none(), TEXTS))
def test_parse_warmup_args_returns_arguments_or_argument_error(text: str | None) -> None:
    try:
        args = parse_warmup_args(text)
    except ArgumentError as error:
        _one_line_error(error)
        return
    assert isinstance(args, WarmupArgs)
    assert args.target and not any(char.isspace() for char in args.target)
    assert not args.target.startswith(",") and not args.target.endswith(",")
    assert args.scenario is None or SCENARIO_NAME.fullmatch(args.scenario)


@FUZZ
@given(st.one_of(st.none(), TEXTS))
def test_parse_task_id_returns_an_id_or_argument_error(text: str | None) -> None:
    try:
        task_id = parse_task_id(text)
    except ArgumentError as error:
        assert "task number" in _one_line_error(error)
        return
    assert isinstance(task_id, int) and 0 <= task_id <= MAX_ID
    assert text is not None
    value = text.strip().removeprefix("#")
    assert value.isascii() and value.isdigit() and int(value) == task_id


@FUZZ
@given(st.integers(0, MAX_ID), st.sampled_from(["", "#"]), st.sampled_from(["", " ", "\t"]))
def test_every_task_id_is_read_back(task_id: int, prefix: str, space: str) -> None:
    assert parse_task_id(f"{space}{prefix}{task_id}{space}") == task_id


def test_task_ids_that_only_look_like_numbers_are_refused() -> None:
    for text in ("²", "\u0661\u0662", "1\u00a02", "+1", "1_000", "0x1", "1.0", "-1", "\u0663"):
        with pytest.raises(ArgumentError, match="give a task number"):
            parse_task_id(text)
    with pytest.raises(ArgumentError, match="no task has a number that large"):
        parse_task_id(str(MAX_ID + 1))


TARGETS = st.one_of(
    TEXTS,
    st.lists(st.sampled_from([*PROFILES, "zed", " ", "", "tag:eu", "all"]), max_size=6).map(
        ",".join
    ),
    st.builds(lambda tag: f"tag:{tag}", TEXTS),
)


@FUZZ
@given(TARGETS, st.booleans())
def test_resolve_target_returns_known_profiles_or_target_error(
    target: str, configured: bool
) -> None:
    profiles = PROFILES if configured else {}
    try:
        names = resolve_target(target, profiles)
    except TargetError as error:
        _one_line_error(error)
        return
    assert names, "an empty selection must be an error, not an empty task"
    assert set(names) <= set(profiles)
    assert len(names) == len(set(names))


def test_target_errors_quote_what_was_typed_shortened_and_on_one_line() -> None:
    with pytest.raises(TargetError) as raised:
        resolve_target("x" * 5000, PROFILES)
    assert str(raised.value).startswith("unknown profile: xxx")
    assert "…; known: alice, bob, carol-2" in _one_line_error(raised.value, 200)
    with pytest.raises(TargetError, match=r"unknown profile: a\\nb;"):
        resolve_target("a\nb", PROFILES)
    with pytest.raises(TargetError, match="name a tag after tag:, like tag:eu"):
        resolve_target("tag:", PROFILES)


# --------------------------------------------------------------------------- button payloads

PAYLOADS = st.one_of(
    st.text(max_size=100),
    st.builds(
        lambda prefix, action, value: f"{prefix}:{action}:{value}",
        st.sampled_from(["t", "r", "x", ""]),
        st.sampled_from([*"cfadrtx", "", "restart"]),
        st.one_of(st.integers(), st.text(max_size=30), st.lists(HOSTILE_TOKENS).map("".join)),
    ),
    st.builds(lambda value: f"r:{value}", st.one_of(st.integers(), st.text(max_size=30))),
)


@FUZZ
@given(PAYLOADS)
def test_only_canonical_payloads_unpack(data: str) -> None:
    """A payload is taken only as the bot itself writes it: `t:c:1.0` or `t:c:+1` must not
    act on task 1, and no id outside the id columns may reach a query."""
    for factory in (TaskAction, RunAction):
        try:
            unpacked = factory.unpack(data)
        except (TypeError, ValueError):
            continue
        assert unpacked.pack() == data
        record_id = unpacked.task_id if isinstance(unpacked, TaskAction) else unpacked.run_id
        assert 1 <= record_id <= MAX_ID


# --------------------------------------------------------------------------- profiles file

FIELDS = ("name", "tags", "vars", "storage_state", "proxy", "locale", "timezone", "viewport")

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.text(max_size=20),
)
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
SHORT_TEXT = st.text(max_size=12)
ENTRY = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(["alice", "bob", "a-1", "x_y"]), SHORT_TEXT, JUNK),
        "tags": st.one_of(st.lists(SHORT_TEXT, max_size=3), JUNK),
        "vars": st.one_of(
            st.dictionaries(SHORT_TEXT, st.one_of(SHORT_TEXT, st.integers(), st.floats())),
            JUNK,
        ),
        "storage_state": st.one_of(SHORT_TEXT, JUNK),
        "proxy": st.one_of(
            st.fixed_dictionaries(
                {"server": SHORT_TEXT}, optional={"username": SHORT_TEXT, "password": JUNK}
            ),
            JUNK,
        ),
        "locale": st.one_of(SHORT_TEXT, JUNK),
        "timezone": st.one_of(SHORT_TEXT, JUNK),
        "viewport": st.one_of(
            st.fixed_dictionaries(
                {"width": st.integers(0, 10_000), "height": st.integers(0, 10_000)}
            ),
            JUNK,
        ),
    },
)
UNKNOWN_KEYS = st.dictionaries(
    st.text(max_size=10).filter(lambda key: key not in FIELDS), JUNK, max_size=1
)
ENTRIES = st.lists(
    st.tuples(ENTRY, UNKNOWN_KEYS).map(lambda pair: {**pair[0], **pair[1]}), max_size=4
)
DOCUMENTS = st.one_of(
    st.fixed_dictionaries({"profiles": st.one_of(ENTRIES, JUNK)}, optional={"extra": JUNK}),
    JUNK,
)


def _acceptable(document: Any) -> bool:
    """The oracle: a document the profiles file format accepts as it stands."""
    if not isinstance(document, dict) or set(document) - {"profiles"}:
        return False
    entries = document.get("profiles", [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        return False
    names = [entry.get("name") for entry in entries]
    return (
        all(set(entry) <= set(FIELDS) for entry in entries)
        and all(isinstance(name, str) and name for name in names)
        and len(set(names)) == len(names)
    )


def _load(directory: Path, content: bytes) -> dict[str, ProfileConfig] | ProfilesError:
    path = directory / "profiles.yaml"
    path.write_bytes(content)
    try:
        profiles = load_profiles(path)
    except ProfilesError as error:
        assert error.problems and str(error), "ProfilesError without a problem"
        for line in [*error.problems, *str(error).splitlines()]:
            assert len(line) <= 400, f"{len(line)} characters: {line[:200]}…"
            assert line.startswith("profiles.yaml: ") or line.startswith("profiles.yaml, line ")
        return error
    assert all(isinstance(profile, ProfileConfig) for profile in profiles.values())
    assert all(name == profile.name for name, profile in profiles.items())
    return profiles


@FUZZ_FILES
@given(DOCUMENTS, st.booleans())
def test_profiles_documents_load_whole_or_are_refused_with_located_reasons(
    tmp_path_factory: pytest.TempPathFactory, document: Any, unicode: bool
) -> None:
    directory = tmp_path_factory.mktemp("profiles")
    text = yaml.safe_dump(document, allow_unicode=unicode)
    loaded = _load(directory, text.encode("utf-8"))
    if not (_acceptable(document) or document is None or document == {}):
        assert isinstance(loaded, ProfilesError), (document, loaded)
        return
    if isinstance(loaded, ProfilesError):
        return  # the outline is right, a value is not (a bad name, a proxy without a server…)
    entries = document.get("profiles", []) if isinstance(document, dict) else []
    # nothing in the file is dropped: every entry is a profile, in the file's order
    assert list(loaded) == [entry["name"] for entry in entries]


NAMES = st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True)
# Without control characters and line separators: PyYAML's own dumper writes a NEL (\x85)
# raw inside quotes, and any reader then folds it to a space.
PLAIN_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=12)
VALID_ENTRY = st.fixed_dictionaries(
    {"name": NAMES},
    optional={
        "tags": st.lists(PLAIN_TEXT, max_size=3),
        "vars": st.dictionaries(PLAIN_TEXT, st.one_of(PLAIN_TEXT, st.integers())),
        "proxy": st.fixed_dictionaries(
            {"server": PLAIN_TEXT}, optional={"username": PLAIN_TEXT, "password": PLAIN_TEXT}
        ),
        "locale": PLAIN_TEXT,
        "timezone": PLAIN_TEXT,
        "viewport": st.fixed_dictionaries(
            {"width": st.integers(200, 8000), "height": st.integers(200, 8000)}
        ),
    },
)


@FUZZ_FILES
@given(st.lists(VALID_ENTRY, max_size=6, unique_by=lambda entry: entry["name"]), st.booleans())
def test_valid_profiles_documents_load_every_entry_as_written(
    tmp_path_factory: pytest.TempPathFactory, entries: list[dict[str, Any]], unicode: bool
) -> None:
    text = yaml.safe_dump({"profiles": entries}, allow_unicode=unicode)
    loaded = _load(tmp_path_factory.mktemp("profiles"), text.encode("utf-8"))
    assert not isinstance(loaded, ProfilesError), (entries, loaded)
    assert list(loaded) == [entry["name"] for entry in entries]
    for entry in entries:
        profile = loaded[entry["name"]]
        assert profile.tags == tuple(entry.get("tags", ()))
        assert profile.vars == {key: str(value) for key, value in entry.get("vars", {}).items()}


@FUZZ_FILES
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda text: text.encode("utf-8")),
        st.tuples(DOCUMENTS, st.integers(0, 400), st.text(min_size=1, max_size=5)).map(
            lambda mutation: _insert(yaml.safe_dump(mutation[0]), *mutation[1:]).encode()
        ),
    )
)
def test_any_bytes_as_profiles_file_load_or_are_refused_with_located_reasons(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    _load(tmp_path_factory.mktemp("profiles"), content)


def _insert(text: str, position: int, piece: str) -> str:
    position %= len(text) + 1
    return text[:position] + piece + text[position:]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            b"profiles: [{name: a}]\n" + b"#" * MAX_FILE_BYTES,
            "profiles.yaml: file too large: at most 1024 KiB",
        ),
        (b"profiles: [{name: \xff}]", "profiles.yaml, line 1: not UTF-8 text (byte 0xff)"),
        (
            b"profiles: []\nprofiles: [{name: a}]",
            "line 2: invalid YAML: found duplicate key 'profiles'",
        ),
        (b"profiles: [{name: a, name: b}]", "duplicate key 'name'"),
        (b"profiles: [{name: a}, {name: a}]", "profiles[1]: duplicate name 'a'"),
        (b"profiles: " + b"[" * 5000, "profiles.yaml: invalid YAML: nested too deeply"),
        (b"profiles: [{name: a, tags: [2001-13-45]}]", "invalid YAML: month must be in 1..12"),
        (b"profiles: [{name: a, tags: [" + b"9" * 5000 + b"]}]", "invalid YAML: Exceeds"),
        (b"profiles: [{name: a, tags: [!!int x]}]", "invalid YAML: invalid literal"),
        (b"profiles: [{name: a, tags: ['\x07']}]", "line 1: invalid YAML: special characters"),
        (b'profiles: [{name: a, tags: ["\\ud800"]}]', "lone surrogate"),
        (b'profiles: [{name: a, "x\\ny": 1}]', "profiles[0]: unknown key 'x\\ny'; expected name"),
        (b"profiles: [{name: a, " + b"k" * 500 + b": 1}]", "kkk…; expected name"),
        (b"profiles: [{name: a, storage_state: " + b"s" * 1100 + b"}]", "at most 1024"),
        (b"profiles: [{name: a, viewport: {width: 1e400, height: 800}}]", "viewport.width"),
        (b"profiles: &x [*x]", "profiles.yaml: profiles[0]"),
        (b"!!python/object:os.system {}", "could not determine a constructor"),
    ],
)
def test_bad_profiles_files_are_refused_with_where_and_why(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    loaded = _load(tmp_path, content)
    assert isinstance(loaded, ProfilesError), loaded
    assert reason in str(loaded)


def test_a_profiles_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "profiles.yaml").mkdir()
    with pytest.raises(ProfilesError, match=r"^profiles\.yaml: cannot read the file"):
        load_profiles(tmp_path / "profiles.yaml")


# --------------------------------------------------------------------------- storage states

VALID_STATE = {
    "cookies": [
        {
            "name": "visits",
            "value": "5",
            "domain": "127.0.0.1",
            "path": "/",
            "expires": -1,
            "httpOnly": False,
            "secure": False,
            "sameSite": "Lax",
        }
    ],
    "origins": [{"origin": "http://127.0.0.1", "localStorage": [{"name": "k", "value": "v"}]}],
}

STATE_CONTENTS = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda value: json.dumps(value).encode(), JUNK),
    st.builds(
        lambda cookies: json.dumps({"cookies": cookies, "origins": []}).encode(),
        st.lists(st.dictionaries(st.sampled_from(["name", "value", "domain", "path"]), JUNK)),
    ),
    st.builds(lambda cut: json.dumps(VALID_STATE).encode()[:cut], st.integers(0, 300)),  # truncated
)


def _usable(content: bytes) -> bool:
    try:
        check_state(json.loads(content.decode("utf-8")))
    except (ValueError, RecursionError):  # UnusableState and JSONDecodeError are ValueErrors
        return False
    return True


@FUZZ_FILES
@given(STATE_CONTENTS, st.booleans())
def test_state_store_load_never_raises_and_keeps_an_unusable_file_aside(
    tmp_path_factory: pytest.TempPathFactory, content: bytes, seeded: bool
) -> None:
    directory = tmp_path_factory.mktemp("states")
    seed = directory / "seed.json"
    seed.write_text(json.dumps(VALID_STATE), encoding="utf-8")
    store = StateStore(directory)
    store.path_for("alice").write_bytes(content)

    state = store.load("alice", seed if seeded else None)

    aside = directory / f"alice.json{UNREADABLE_SUFFIX}"
    if _usable(content):
        assert state == json.loads(content)
        assert not aside.exists()
    else:
        assert state == (VALID_STATE if seeded else None)
        assert aside.read_bytes() == content, "the unusable file must be kept, not dropped"
        assert not store.path_for("alice").exists()


def test_state_checks_refuse_what_playwright_would_refuse() -> None:
    for bad in (
        [],
        {"cookies": "x"},
        {"cookies": [{"name": "a"}]},
        {"cookies": [{"name": "a", "value": "b", "domain": "x.org"}]},
        {"cookies": [{**VALID_STATE["cookies"][0], "sameSite": "bad"}]},
        {"cookies": [{**VALID_STATE["cookies"][0], "expires": "1"}]},
        {"origins": 5},
        {"origins": [{"origin": "http://x.org"}]},
        {"origins": [{"origin": "http://x.org", "localStorage": [{"name": "a"}]}]},
    ):
        with pytest.raises(UnusableState):
            check_state(bad)
    check_state({})
    check_state(VALID_STATE)


# --------------------------------------------------------------------------- end to end


async def test_hostile_command_arguments_get_a_clear_reply_and_start_nothing(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice", "bob"], scenarios={"smoke": SMOKE})
    chat = harness.chat
    expectations = {
        "/warmup <script>alert(1)</script>": "unknown profile: <script>alert(1)</script>; known",
        "/warmup &amp;": "unknown profile: &amp;; known: alice, bob",
        "/warmup <b>&": "unknown profile: <b>&; known",
        "/warmup " + "x" * 3000: "unknown profile: xxxxxxxxxx",
        "/warmup " + ",".join(["zed"] * 1000): "unknown profile: zed; known: alice, bob",
        "/warmup " + "a " * 1500: "too many words: a a a",
        "/warmup tag:": "name a tag after tag:, like tag:eu; tags in use: none",
        "/warmup tag:<i>": "no profile has the tag '<i>'",
        "/warmup ,,,": "name the profiles to warm up",
        "/warmup алиса": "unknown profile: алиса",
        "/warmup alice\x00bob": "unknown profile: alice\\x00bob",
        "/warmup alice <script>": "unknown scenario '<script>': scenario names are letters",
        "/warmup alice " + "s" * 3000: "unknown scenario 'sssss",
        "/cancel <script>": "give a task number, like 12 or #12. Usage: /cancel <task>",
        "/cancel &amp;": "give a task number",
        "/cancel ²": "give a task number",
        "/cancel -1": "give a task number",
        "/cancel 99999999999999999999": "give a task number",
        "/cancel 99999999999": "no task has a number that large",
        "/cancel " + "9" * 3000: "give a task number",
        "/status <b>": "give a task number, like 12 or #12. Usage: /status [task]",
        "/status \u0661\u0662": "give a task number",
        "/status 0": "No task #0 in this chat",
        "/status #2147483647": "No task #2147483647 in this chat",
    }
    for command, reason in expectations.items():
        await chat.send(command)
        reply = await chat.wait_for_reply()
        assert reason in reply.text, (command[:80], reply.text)
        assert len(reply.text) < ERROR_LIMIT, (command[:80], len(reply.text))
        if command.startswith("/warmup"):
            assert "Usage: /warmup <target> [scenario]" in reply.text

    await chat.send("/help")
    assert "/warmup" in (await chat.wait_for_reply()).text
    assert not [m for m in chat.bot_messages if SOMETHING_WRONG in m.text]
    assert harness.site.visits == []
    with harness.db():
        assert await WarmupTask.all().count() == 0


async def test_forged_stale_foreign_and_oversized_buttons_are_answered_and_do_nothing(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    chat = harness.chat
    await chat.send("/warmup alice")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "Completed", timeout=60)
    other = harness.chat_for(CHAT_ID + 5)
    await other.send("/warmup alice")
    foreign_progress = await other.wait_for_reply()
    await other.wait_until(foreign_progress, "Completed", timeout=60)
    with harness.db():
        foreign_task = await WarmupTask.get(chat_id=CHAT_ID + 5)
        foreign_run = await WarmupRun.get(task_id=foreign_task.id)
    visits = len(harness.site.visits)
    messages = len(chat.bot_messages)

    forged = [
        "garbage",
        "t:x:1",
        "t:restart:1",
        "t:c:99999999999999999999",
        f"t:a:{MAX_ID + 1}",
        "t:a:0",
        "t:a:-1",
        "t:a:1.0",
        "t:a:+1",
        "t:a: 1",
        "t:a:1_0",
        "t:a:\u0661",  # an Arabic-Indic digit one
        "t:a:1:1",
        "t:a:",
        "t::1",
        "r:",
        "r:-1",
        "r:99999999999999999999",
        "<b>&amp;</b>",
        "x" * 200,  # far over the 64 bytes the bot could ever have sent
        "t:a:" + "1" * 100,
        "t:a:1" + "\u00a0" * 60,
    ]
    stale = ["t:a:999", "t:c:999", "t:d:999", "r:999"]
    foreign = [f"t:{action}:{foreign_task.id}" for action in "cfadr"] + [f"r:{foreign_run.id}"]
    for data in forged:
        assert await chat.press_data(progress, data) == f"{NO_LONGER_VALID}.", data
    for data in [*stale, *foreign]:
        answer = await chat.press_data(progress, data)
        assert answer is not None and answer.startswith(NO_LONGER_VALID), (data, answer)
    # real ids of this chat, but for an action the task does not offer
    assert "is completed, not interrupted" in str(await chat.press_data(progress, "t:r:1"))
    assert "has no failed profile" in str(await chat.press_data(progress, "t:f:1"))

    await chat.send("/help")
    assert "/warmup" in (await chat.wait_for_reply()).text
    assert len(chat.bot_messages) == messages + 1, "a press sent a message"
    assert len(harness.site.visits) == visits
    with harness.db():
        assert await WarmupTask.all().count() == 2


BROKEN_PROFILES: list[tuple[bytes, str]] = [
    (b"profiles: [\n  - name: bob\n bad", "profiles.yaml, line 2: invalid YAML: expected the node"),
    (b"profiles: [{name: bob}]\n\xff\xfe", "profiles.yaml, line 2: not UTF-8 text"),
    (b"profiles: []\n" + b"#" * MAX_FILE_BYTES, "profiles.yaml: file too large: at most 1024 KiB"),
    (b"profiles: [{name: alice}, {name: alice}]", "profiles[1]: duplicate name 'alice'"),
    (b"profiles: [{name: alice}]\nprofiles: [{name: bob}]", "duplicate key 'profiles'"),
    (b"profiles: [{name: bob, tags: 5}]", "profiles[0].tags"),
    (b"profiles: [{name: bob, '<b>&amp;': 1}]", "profiles[0]: unknown key '<b>&amp;'"),
    (b"profiles: " + b"[" * 3000, "nested too deeply"),
    (b'profiles: [{name: bob, tags: ["\\udc80"]}]', "lone surrogate"),
]


async def test_a_broken_profiles_file_at_reload_keeps_the_profiles_already_loaded(
    start_bot: StartBot, tmp_path: Path
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    chat = harness.chat
    profiles_file = tmp_path / "profiles.yaml"
    for content, reason in BROKEN_PROFILES:
        profiles_file.write_bytes(content)
        await chat.send("/reload")
        reply = await chat.wait_for_reply()
        assert "Reloaded: 1 profile," in reply.text, reply.text
        assert "the previous profiles stay" in reply.text
        assert reason in reply.text, (content[:60], reply.text)
    profiles_file.unlink()
    profiles_file.mkdir()
    await chat.send("/reload")
    assert "profiles.yaml: cannot read the file" in (await chat.wait_for_reply()).text
    profiles_file.rmdir()

    await chat.send("/profiles")
    assert "• alice — never run" in (await chat.wait_for_reply()).text
    await chat.send("/warmup alice")
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "Completed", timeout=60)
    assert harness.site.profiles_on("/feed") == ["alice"]
    with harness.db():
        assert await Profile.filter(active=True).values_list("name", flat=True) == ["alice"]
    assert not [m for m in chat.bot_messages if SOMETHING_WRONG in m.text]


BROKEN_SCENARIOS: dict[str, tuple[bytes, str]] = {
    "huge": (b"steps:\n  - goto: x\n" + b"#" * 300_000, "huge.yaml: file too large"),
    "badyaml": (b"steps: [\n  - goto: x\n bad", "badyaml.yaml, line 2: invalid YAML"),
    "types": (b"steps: {goto: 5}", "types.yaml, line 1: steps: expected a non-empty list"),
    "binary": (b"steps:\n  - goto: \xff\xfe\x00", "binary.yaml, line 2: not UTF-8 text"),
    "html": (b"steps: [{'<b>&amp;': 1}]", "unknown action '<b>&amp;'"),
}


async def test_broken_scenario_files_are_listed_with_the_reason_and_the_others_still_run(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE})
    chat = harness.chat
    for name, (content, _) in BROKEN_SCENARIOS.items():
        (harness.settings.scenarios_dir / f"{name}.yaml").write_bytes(content)
    await chat.send("/reload")
    reply = await chat.wait_for_reply()
    assert "1 valid scenario, 5 invalid (see /scenarios)" in reply.text

    await chat.send("/scenarios")
    listing = (await chat.wait_for_reply()).text
    assert "✅ smoke" in listing
    for name, (_, reason) in BROKEN_SCENARIOS.items():
        assert f"❌ {name} — " in listing and reason in listing, (name, listing)

    await chat.send("/warmup alice huge")
    assert (
        "scenario 'huge' is invalid: huge.yaml: file too large"
        in (await chat.wait_for_reply()).text
    )
    await chat.send("/warmup alice")  # the only valid one
    progress = await chat.wait_for_reply()
    await chat.wait_until(progress, "Completed", timeout=60)
    assert "smoke" in progress.text
    assert harness.site.profiles_on("/feed") == ["alice"]


UNUSABLE_STATES: dict[str, bytes] = {
    "garbage": b"\x00\x01garbage\xff",
    "jsonlist": b'[{"name": "visits", "value": "9"}]',
    "truncated": json.dumps(VALID_STATE).encode()[:40],
    "latin1": '{"cookies": [], "origins": [], "note": "café"}'.encode("latin-1"),
    "wrongshape": b'{"cookies": "visits=9"}',
    "deep": b"[" * 100_000,
}


async def test_unusable_storage_states_start_the_run_afresh_and_are_rewritten(
    start_bot: StartBot, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "good.json").write_text(json.dumps(VALID_STATE), encoding="utf-8")
    (seeds / "bad.json").write_bytes(b"{not json")
    harness = await start_bot(
        profiles=[
            *UNUSABLE_STATES,
            {"name": "seeded", "storage_state": "seeds/good.json"},
            {"name": "badseed", "storage_state": "seeds/bad.json"},
        ],
        scenarios={"counter": COUNTER},
    )
    states = harness.settings.states_dir
    states.mkdir(parents=True, exist_ok=True)
    for name, content in {**UNUSABLE_STATES, "seeded": b"\xff\xfe not json"}.items():
        (states / f"{name}.json").write_bytes(content)

    await harness.chat.send("/warmup all")
    progress = await harness.chat.wait_for_reply()
    finished = await harness.chat.wait_until(progress, "Completed", timeout=90)
    assert "✅ done 8 · ❌ failed 0" in finished.text

    cookies = {
        visit.profile: visit.cookies
        for visit in harness.site.visits
        if visit.path == "/visit-counter"
    }
    assert cookies.pop("seeded") == {"visits": "5"}, "the seed is the fallback"
    assert cookies == {name: {} for name in [*UNUSABLE_STATES, "badseed"]}
    for name in [*UNUSABLE_STATES, "seeded", "badseed"]:
        saved = json.loads((states / f"{name}.json").read_text(encoding="utf-8"))
        check_state(saved)
        expected = "6" if name == "seeded" else "1"
        assert [c["value"] for c in saved["cookies"] if c["name"] == "visits"] == [expected]
        assert os.stat(states / f"{name}.json").st_mode & 0o777 == 0o600
    for name, content in UNUSABLE_STATES.items():
        assert (states / f"{name}.json{UNREADABLE_SUFFIX}").read_bytes() == content
    assert (seeds / "bad.json").read_bytes() == b"{not json", "a seed file is never touched"
    with harness.db():
        statuses = await WarmupRun.all().values_list("status", flat=True)
    assert statuses == [RunStatus.succeeded] * 8
