"""What one mode's run of one fleet in one round measured."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModeRun:
    mode: str
    """A (bare Playwright), B (the engine) or C (the whole bot)."""
    round: int
    wall_s: float | None = None
    """From the start of the fleet to its end: for C, until the engine's TaskFinished."""
    runs: int = 0
    failed_runs: int = 0
    retries: int = 0
    """Attempts that failed and were played again (B and C)."""
    error: str | None = None
    """Why the run did not complete: a refused setting, a crash, a time-out."""
    measures: dict[str, Any] = field(default_factory=dict)
    """Loop lag, PSS, database writes, and for C the chat's and Telegram's numbers."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.wall_s is not None
