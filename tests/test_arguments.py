"""What operators type: /warmup arguments, task ids and targets."""

from __future__ import annotations

import pytest

from handlers.arguments import ArgumentError, WarmupArgs, parse_task_id, parse_warmup_args
from warmup.profiles import ProfileConfig
from warmup.targets import TargetError, resolve_target

PROFILES = {
    "alice": ProfileConfig(name="alice", tags=("eu",)),
    "bob": ProfileConfig(name="bob", tags=("us",)),
    "carol": ProfileConfig(name="carol", tags=("eu",)),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all", WarmupArgs("all", None)),
        ("all smoke", WarmupArgs("all", "smoke")),
        ("alice,bob smoke", WarmupArgs("alice,bob", "smoke")),
        ("alice, bob  smoke", WarmupArgs("alice,bob", "smoke")),
        ("tag:eu", WarmupArgs("tag:eu", None)),
    ],
)
def test_warmup_arguments(text: str, expected: WarmupArgs) -> None:
    assert parse_warmup_args(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [(None, "name the profiles"), ("", "name the profiles"), ("a b c", "too many words")],
)
def test_bad_warmup_arguments(text: str | None, reason: str) -> None:
    with pytest.raises(ArgumentError, match=reason):
        parse_warmup_args(text)


def test_task_ids() -> None:
    assert parse_task_id("12") == 12
    assert parse_task_id(" #12 ") == 12
    for bad in (None, "", "x", "-1", "1.5", "9" * 20):
        with pytest.raises(ArgumentError, match="task number"):
            parse_task_id(bad)


def test_targets_resolve_in_file_order_without_duplicates() -> None:
    assert resolve_target("all", PROFILES) == ["alice", "bob", "carol"]
    assert resolve_target("tag:eu", PROFILES) == ["alice", "carol"]
    assert resolve_target("bob", PROFILES) == ["bob"]
    assert resolve_target("carol,alice,carol", PROFILES) == ["carol", "alice"]


def test_unknown_targets_say_what_exists() -> None:
    with pytest.raises(TargetError, match="unknown profile: zed; known: alice, bob, carol"):
        resolve_target("zed", PROFILES)
    with pytest.raises(TargetError, match="unknown profiles: x, y"):
        resolve_target("alice,x,y", PROFILES)
    with pytest.raises(TargetError, match="no profile has the tag 'asia'; tags in use: eu, us"):
        resolve_target("tag:asia", PROFILES)
    with pytest.raises(TargetError, match="no profiles are configured"):
        resolve_target("all", {})
