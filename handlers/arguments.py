"""Parsing what the operator typed after a command, kept apart so handlers stay short."""

from __future__ import annotations

import re
from dataclasses import dataclass

WARMUP_USAGE = (
    "Usage: /warmup &lt;target&gt; [scenario]\n"
    "target: <code>all</code>, a profile name, names separated by commas, or "
    "<code>tag:&lt;tag&gt;</code>\n"
    "Example: <code>/warmup all browse</code>"
)


class ArgumentError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class WarmupArgs:
    target: str
    scenario: str | None


def parse_warmup_args(text: str | None) -> WarmupArgs:
    """`all`, `alice smoke`, `alice, bob smoke`, `tag:eu` …"""
    normalized = re.sub(r"\s*,\s*", ",", (text or "").strip())
    words = normalized.split()
    if not words:
        raise ArgumentError("name the profiles to warm up")
    if len(words) > 2:
        raise ArgumentError(f"too many words: {' '.join(words)}")
    target = words[0].strip(",")
    if not target:
        raise ArgumentError("name the profiles to warm up")
    return WarmupArgs(target=target, scenario=words[1] if len(words) == 2 else None)


def parse_task_id(text: str | None) -> int:
    """`12` or `#12`."""
    value = (text or "").strip().removeprefix("#")
    if not value.isdigit() or len(value) > 12:
        raise ArgumentError("give a task number, like 12 or #12")
    return int(value)
