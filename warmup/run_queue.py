"""The queue of runs between the bot and its workers: taskiq on a Redis stream.

The bot sends one message per run to play, naming only the run; the database holds the
rest (the profile, the scenario's text, the attempts so far). A worker takes a message
only when it has room for one more run, and acknowledges it once the run's result is in
the database, or at once when the run needs nobody (it ended, its task was stopped,
another worker plays it). A run whose worker died while it played is given to another
worker with a new message once its lease expires (`Dispatch`); a message a worker took
and never acknowledged goes back to the stream after `idle_timeout`, or sooner when that
worker is gone (`return_stale`), and finds the run taken, or plays it.

taskiq-redis's `RedisStreamBroker` keeps each message in its stream until a consumer of
the group acknowledges it (its `ListQueueBroker` would lose the message of a worker that
dies). Another taskiq broker (NATS, RabbitMQ) would fit behind `create_broker`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

from redis.asyncio import Redis
from taskiq import AckableMessage, AsyncBroker
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisStreamBroker

logger = logging.getLogger(__name__)

PLAY_RUN = "warmup.play_run"
"""The one kind of message: play the run named by `run_id`."""
STREAM = "warmup:runs"
GROUP = "warmup-workers"
STREAM_MAXLEN = 1_000_000
"""Entries the stream keeps (acknowledged ones are trimmed first, approximately)."""
RECLAIMER = "bot"
"""The consumer name under which the bot takes stale messages back (`return_stale`)."""
PENDING_BATCH = 1000
"""Taken messages looked at per check: far more than the workers play at once."""
REDELIVERY_SLACK = 120.0
"""Seconds on top of a run's longest possible play before its message is redelivered."""


class UnsupportedBroker(ValueError):
    """BROKER_URL names a broker this version does not speak."""


def redelivery_timeout(run_timeout: float, max_attempts: int, retry_delay: float) -> float:
    """Seconds a message may stay unacknowledged before another worker gets it: longer
    than the longest play of a run, its every attempt timed out, so that a healthy
    worker's message is never given to a second one."""
    retries = sum(retry_delay * attempt for attempt in range(1, max_attempts))
    return max_attempts * (run_timeout + REDELIVERY_SLACK) + retries


def create_broker(url: str, *, consumer: str, idle_timeout: float) -> AsyncBroker:
    """The broker of BROKER_URL. `consumer`: this process's name in the consumer group."""
    if not url.startswith(("redis://", "rediss://")):
        raise UnsupportedBroker("BROKER_URL: only redis:// (or rediss://) is supported")
    return RedisStreamBroker(
        url,
        queue_name=STREAM,
        consumer_group_name=GROUP,
        consumer_name=consumer,
        # A group created after the bot sent its first messages still reads them.
        consumer_id="0",
        maxlen=STREAM_MAXLEN,
        idle_timeout=int(idle_timeout * 1000),
        # One message per read: a worker takes a run only when it has room for it, and
        # never holds messages that another worker with room could play.
        xread_count=1,
        unacknowledged_batch_size=1,
    )


async def send_run(broker: AsyncBroker, run_id: int) -> None:
    await AsyncKicker(PLAY_RUN, broker, labels={}).kiq(run_id=run_id)


async def return_stale(
    broker: AsyncBroker, *, idle_timeout: float, alive: Collection[str], alive_within: float
) -> int:
    """Put back at the end of the stream, for any worker, the messages a worker took and
    did not acknowledge; how many. A message goes back once `idle_timeout` has passed since
    it was taken (its worker died, or hangs), or `alive_within` when its worker is not one
    of the `alive` ones: a worker that died between taking a message and claiming its run
    leaves no trace in the database, so the run would wait for the whole idle timeout.

    taskiq-redis reclaims such a message only after its worker has read a new one, so
    on a quiet stream it would wait for the next task. The bot does it instead.
    """
    assert isinstance(broker, RedisStreamBroker)
    returned = 0
    shortest = int(min(idle_timeout, alive_within) * 1000)
    async with Redis(connection_pool=broker.connection_pool) as redis:
        pending = await redis.xpending_range(STREAM, GROUP, "-", "+", PENDING_BATCH, idle=shortest)
        stale = [
            entry["message_id"]
            for entry in pending
            if entry["time_since_delivered"] >= idle_timeout * 1000
            or (
                _text(entry["consumer"]) not in alive
                and entry["time_since_delivered"] >= alive_within * 1000
            )
        ]
        if not stale:
            return 0
        claimed = await redis.xclaim(
            STREAM, GROUP, RECLAIMER, min_idle_time=shortest, message_ids=stale
        )
        for message_id, fields in claimed:
            if fields:
                await redis.xadd(STREAM, fields, maxlen=STREAM_MAXLEN, approximate=True)
                returned += 1
            await redis.xack(STREAM, GROUP, message_id)
    if returned:
        logger.warning("%d messages of a worker that stopped went back to the queue", returned)
    return returned


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class RunMessage:
    run_id: int
    message: AckableMessage

    async def ack(self) -> None:
        await self.message.ack()  # type: ignore[misc]


def read_message(broker: AsyncBroker, message: AckableMessage) -> RunMessage | None:
    """The run a delivered message names; None for one that is not ours (logged)."""
    try:
        parsed = broker.formatter.loads(message.data)
        if parsed.task_name != PLAY_RUN:
            raise ValueError(f"unknown task {parsed.task_name!r}")
        run_id = int(parsed.kwargs["run_id"])
    except (ValueError, KeyError, TypeError) as error:
        logger.warning("dropping a message that is no run: %s", error)
        return None
    return RunMessage(run_id, message)
