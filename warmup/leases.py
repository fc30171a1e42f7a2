"""Profile leases: a profile plays in one run at a time, across processes and machines.

A lease is a row in `profile_lease` (one per profile at most, by a unique key). A run
takes its profile's lease before its first attempt and keeps it until its last; its
process renews every lease it holds in one UPDATE every third of the time to live. A
process that dies stops renewing, its leases expire, and the next taker takes them over.
Taking a lease is a compare-and-set too: an UPDATE of an expired row, else an INSERT
that the unique key refuses when somebody holds it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from models import ProfileLease
from models.writes import retry_write
from warmup.clock import utcnow, wait_set

logger = logging.getLogger(__name__)

POLL_INTERVAL = 0.5
"""Seconds between two looks at a lease held by another process."""


def bot_owner() -> str:
    """The bot's name as a lease holder. It is the same in every life of the bot on this
    host: a lease under this name found at start was left by a bot that is gone (one bot
    polls Telegram per token, so one bot uses a database)."""
    return f"bot@{socket.gethostname()}"[:128]


def process_owner(role: str) -> str:
    """A name for a short-lived process such as `python -m bot try`: unique while it lives."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}"[:128]


class LeaseKeeper:
    """This process's leases: taking, renewing and giving them back."""

    def __init__(
        self,
        owner: str,
        *,
        ttl: float,
        on_lost: Callable[[int], None] | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.owner = owner
        self._ttl = timedelta(seconds=ttl)
        self.on_lost = on_lost
        """Told the run id of each lease another process took over while this one held it."""
        self._now = now
        self._held: dict[int, int | None] = {}
        """profile id → the run holding its lease here (None: no run, e.g. an import)."""
        self._released: dict[int, asyncio.Event] = {}
        """Wakes the runs of this process that wait for a profile another run here holds."""
        self._renewer: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        return len(self._held)

    def start(self) -> None:
        self._renewer = asyncio.create_task(self._renew_loop(), name="lease-renewal")

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None

    async def try_acquire(self, profile_id: int, run_id: int | None) -> bool:
        """Take the profile's lease for this run (None: for work that is no run, such as
        writing an imported session) if nobody holds it, or its holder let it expire."""
        now = self._now()
        fields = {
            "owner": self.owner,
            "run_id": run_id,
            "acquired_at": now,
            "expires_at": now + self._ttl,
        }
        taken = await retry_write(
            lambda: ProfileLease.filter(profile_id=profile_id, expires_at__lt=now).update(**fields),
            what=f"lease of profile {profile_id}",
        )
        if taken:
            logger.warning("profile %d: took over a lease its holder let expire", profile_id)
        else:
            try:
                await retry_write(
                    lambda: ProfileLease.create(profile_id=profile_id, **fields),
                    what=f"lease of profile {profile_id}",
                )
            except IntegrityError:
                return False
        self._held[profile_id] = run_id
        return True

    async def acquire(self, profile_id: int, run_id: int) -> bool:
        """Wait until this run holds the profile's lease; False, at once, when another
        process holds it for this very run (a message delivered twice: it plays it)."""
        while not await self.try_acquire(profile_id, run_id):
            if await ProfileLease.exists(
                profile_id=profile_id, run_id=run_id, expires_at__gte=self._now()
            ):
                return False
            released = self._released.setdefault(profile_id, asyncio.Event())
            await wait_set(released, POLL_INTERVAL)
        return True

    async def release(self, profile_id: int, run_id: int | None) -> None:
        """Give the lease back; a lease lost meanwhile (taken over) is left to its taker."""
        self._held.pop(profile_id, None)
        holder = {"run_id": run_id} if run_id is not None else {"run_id__isnull": True}
        try:
            await retry_write(
                lambda: ProfileLease.filter(
                    profile_id=profile_id, owner=self.owner, **holder
                ).delete(),
                what=f"release of the lease of profile {profile_id}",
            )
        finally:
            released = self._released.pop(profile_id, None)
            if released is not None:
                released.set()

    async def renew(self) -> None:
        """Push every lease of this process's forward; report the ones another took over."""
        if not self._held:
            return
        now = self._now()
        renewed = await ProfileLease.filter(owner=self.owner).update(expires_at=now + self._ttl)
        if renewed >= len(self._held):
            return
        still = set(
            await ProfileLease.filter(owner=self.owner).values_list("profile_id", flat=True)
        )
        for profile_id, run_id in list(self._held.items()):
            if profile_id not in still:
                logger.error("profile %d: its lease was lost (run %s)", profile_id, run_id)
                del self._held[profile_id]
                if self.on_lost is not None and run_id is not None:
                    self.on_lost(run_id)

    async def _renew_loop(self) -> None:
        period = self._ttl.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            try:
                await self.renew()
            except Exception:
                logger.exception("leases not renewed; trying again in %.0f s", period)
