"""Finding the processes a test started, through /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    return stat[stat.rindex(")") + 2 :].split()


def is_alive(pid: int) -> bool:
    """Running, sleeping or stopped; a zombie has already exited."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def chromium_processes(root: int | None = None) -> list[int]:
    """Chromium processes below `root` (this process by default)."""
    below = descendants(os.getpid() if root is None else root)
    return [pid for pid in below if "chrom" in command_line(pid) and is_alive(pid)]


def main_browser_process(root: int | None = None) -> int:
    """The browser process itself, parent of the renderers (which carry --type=...)."""
    browsers = [pid for pid in chromium_processes(root) if "--type=" not in command_line(pid)]
    assert len(browsers) == 1, f"expected one browser process, found {browsers}"
    return browsers[0]
