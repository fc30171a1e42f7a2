"""Finding the processes a test started, through /proc (Linux)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessId:
    """A process as it was seen; the start time tells it apart from a later one with its pid."""

    pid: int
    start_time: int
    cmdline: str
    exe: str

    @property
    def is_chromium(self) -> bool:
        """Chromium's own processes; some (the network service) show `/proc/self/exe` as
        their command, so the executable is looked at too."""
        return "chrom" in self.cmdline.lower() or "chrom" in self.exe.lower()

    def describe(self) -> str:
        return f"{self.pid} {self.cmdline[:120]}"


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) from /proc/<pid>/stat, or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def descendants(root: int) -> list[ProcessId]:
    """Every living process below ``root``, by the ppid links of /proc/*/stat."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is not None:
            children.setdefault(stat[1], []).append((int(entry.name), stat[2]))
    found: list[ProcessId] = []
    pending = [root]
    while pending:
        for pid, start_time in children.get(pending.pop(), []):
            found.append(ProcessId(pid, start_time, _cmdline(pid), _exe(pid)))
            pending.append(pid)
    return found


def is_alive(process: ProcessId) -> bool:
    """True while the very process seen runs; a zombie or a reused pid counts as gone."""
    stat = _stat(process.pid)
    return stat is not None and stat[2] == process.start_time and stat[0] not in ("Z", "X")


def alive(processes: Iterable[ProcessId]) -> list[ProcessId]:
    return [process for process in processes if is_alive(process)]


def kill_all(processes: Iterable[ProcessId]) -> None:
    """SIGKILL those still alive, by pid."""
    for process in alive(processes):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)


async def wait_gone(
    processes: Iterable[ProcessId], timeout: float
) -> tuple[list[ProcessId], float]:
    """Wait up to ``timeout`` s for the processes to end: (those still alive, seconds waited)."""
    watched = list(processes)
    started = time.monotonic()
    while True:
        survivors = alive(watched)
        waited = time.monotonic() - started
        if not survivors or waited >= timeout:
            return survivors, waited
        await asyncio.sleep(0.05)


def chromium_below(root: int | None = None) -> list[ProcessId]:
    """Chromium processes alive below `root` (this process by default)."""
    return [p for p in descendants(os.getpid() if root is None else root) if p.is_chromium]


def main_browser_process(root: int | None = None) -> ProcessId:
    """The browser process itself, parent of the renderers and services (`--type=...`)."""
    browsers = [p for p in chromium_below(root) if "--type=" not in p.cmdline]
    assert len(browsers) == 1, f"expected one browser process, found {browsers}"
    return browsers[0]
