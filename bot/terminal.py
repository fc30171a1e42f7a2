"""The terminal display of `python -m bot try`: an engine event listener, like the Telegram
progress reporter, drawn with rich.

On a terminal, each step is printed once it is over, with its duration, above a live
footer: the step being played (highlighted), a spinner, the steps played against an
estimate, and the elapsed time. Elsewhere (a pipe, a file, CI) there is no footer and
each step is printed as a plain line when it starts, so the output reads and greps as it
comes. Either way the result ends with plain `result:`, `error:` and `screenshot:` lines.

How many steps a run plays is not known in advance: repeats pick their count and steps
with a probability may be skipped. The bar measures the steps played against the
average a run of the scenario plays (`expected_steps`), and never fills before the end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.logging import RichHandler
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from models import RunStatus
from warmup.events import Event, RunFailed, RunFinished, RunStarted, StepStarted
from warmup.scenario import RepeatStep, Step

REFRESH_SECONDS = 0.125


def expected_steps(steps: Sequence[Step]) -> float:
    """The number of steps a run plays on average: each step weighs its probability, and a
    repeat adds its average count of rounds times its own steps."""
    total = 0.0
    for step in steps:
        inner = 0.0
        if isinstance(step, RepeatStep):
            inner = (step.times.low + step.times.high) / 2 * expected_steps(step.steps)
        total += step.probability * (1 + inner)
    return total


class TerminalConsole(Console):
    """rich's console, plain to grep when it is not a terminal (no highlighting, no emoji
    codes, no wrapping), and quiet rather than exiting when its reader goes away.

    Whether it is a terminal is asked of stdout itself: FORCE_COLOR or TTY_COMPATIBLE in the
    environment would otherwise bring the live footer's escape codes into a pipe or a log.
    """

    def __init__(self) -> None:
        super().__init__(
            force_terminal=sys.stdout.isatty(), highlight=False, emoji=False, soft_wrap=True
        )

    def on_broken_pipe(self) -> None:
        # rich raises SystemExit here; raised inside an event listener, it would stop the
        # event loop with the browser and the database still open (`try … | head`).
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def log_handler(console: Console) -> logging.Handler | None:
    """On a terminal, log lines go through the console, above the live footer; elsewhere
    None keeps the usual handler on stderr."""
    if not console.is_terminal:
        return None
    handler = RichHandler(console=console, show_time=False, show_path=False, markup=False)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    return handler


@dataclass
class _Current:
    number: int
    path: str
    label: str
    is_repeat: bool
    started: float


class TerminalDisplay:
    """Listens to the engine's events for one run and shows it; `close()` stops the footer."""

    def __init__(self, console: Console, *, expected: float) -> None:
        self._console = console
        self._expected = expected
        self._live: Live | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._spinner = Spinner("dots", style="cyan")
        self._current: _Current | None = None
        self._played = 0
        self._started: float | None = None

    def __call__(self, event: Event) -> None:
        match event:
            case RunStarted(attempt=attempt):
                self._on_run_started(attempt)
            case StepStarted(path=path, label=label):
                self._on_step(path, label)
            case RunFailed():
                self._on_failed(event)
            case RunFinished(status=status):
                self._on_finished(status)

    def close(self) -> None:
        self._stop_live()

    # ---- events

    def _on_run_started(self, attempt: int) -> None:
        if self._started is None:
            self._started = time.monotonic()
        self._current = None
        self._played = 0
        if attempt > 1:
            self._print(Text(f"attempt {attempt}", style="bold"))
        self._start_live()

    def _on_step(self, path: str, label: str) -> None:
        self._end_step(ok=True)
        self._played += 1
        is_repeat = label.startswith("repeat ")  # it lasts as long as its steps: no duration
        self._current = _Current(self._played, path, label, is_repeat, time.monotonic())
        if self._live is None:
            self._print(Text(f"{self._played:>4}. {path} · {label}"))
        self._refresh()

    def _on_failed(self, event: RunFailed) -> None:
        self._end_step(ok=False)
        where = f" at {event.step}" if event.step else ""
        if not event.final:
            self._print(Text(f"attempt {event.attempt} failed{where}: {event.error}; trying again"))
            return
        self._stop_live()
        self._print(Text(f"result: failed{where} after {self._elapsed()}", style="bold red"))
        self._print(Text(f"error: {event.error}"))
        if event.screenshot is not None:
            self._print(Text(f"screenshot: {event.screenshot}"))

    def _on_finished(self, status: RunStatus) -> None:
        self._end_step(ok=status == RunStatus.succeeded)
        self._stop_live()
        if status == RunStatus.succeeded:
            line = f"result: succeeded, {self._played} steps in {self._elapsed()}"
            self._print(Text(line, style="bold green"))
        else:
            self._print(Text(f"result: {status.value}", style="bold yellow"))

    # ---- the step list

    def _end_step(self, *, ok: bool) -> None:
        """On a terminal, print the step that was being played, now that it is over."""
        current, self._current = self._current, None
        if current is None or self._live is None:
            return
        mark = Text("✓ ", style="green") if ok else Text("✗ ", style="bold red")
        line = Text.assemble(mark, f"{current.number:>4}. {current.path} · {current.label}")
        if not current.is_repeat:
            line.append(f"  {time.monotonic() - current.started:.1f} s", style="dim")
        if not ok:
            line.stylize("red", 2)
        self._print(line)

    # ---- the live footer

    def _start_live(self) -> None:
        if not self._console.is_terminal or self._live is not None:
            return
        self._live = Live(
            console=self._console,
            auto_refresh=False,
            transient=True,
            get_renderable=self._footer,
        )
        self._live.start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="terminal-tick")

    def _stop_live(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._live is not None:
            self._live.stop()
            self._live = None

    async def _tick(self) -> None:
        """Refresh from the event loop (rich's own refresh would start a thread)."""
        while True:
            self._refresh()
            await asyncio.sleep(REFRESH_SECONDS)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def _footer(self) -> RenderableType:
        current = self._current
        if current is None:
            playing = Text("starting…", style="dim")
        else:
            playing = Text(
                f"▶ {current.number:>4}. {current.path} · {current.label}", style="bold cyan"
            )
        # Never full before the end: a run may play more steps than the average.
        total = max(self._expected, self._played + 1)
        status = Table.grid(padding=(0, 1))
        status.add_row(
            self._spinner,
            Text(f"{self._played} steps played"),
            ProgressBar(total=total, completed=self._played, width=30),
            Text(f"~{self._expected:.0f} expected · {self._elapsed()}", style="dim"),
        )
        return Group(playing, status)

    # ---- output

    def _elapsed(self) -> str:
        seconds = 0.0 if self._started is None else time.monotonic() - self._started
        return f"{seconds:.1f} s"

    def _print(self, text: Text) -> None:
        self._console.print(text, soft_wrap=True)
