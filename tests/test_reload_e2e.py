"""A 1 MiB profiles file reloaded while runs are playing: no run fails.

The runs are in the middle of their scenario when the file is rewritten and /reload sent.
Parsing the file (about a second of CPU with libyaml, five with PyYAML's own parser) happens
in a worker thread and the database sync takes a few statements, so the event loop keeps
turning: it never stalls for long (a parse on the loop stalls it for the whole parse) and
every run ends within a tight RUN_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from models import Profile, RunStatus, WarmupRun
from tests.conftest import StartBot
from warmup.profiles import MAX_FILE_BYTES

RUNNERS = ["r1", "r2", "r3"]

READ_SLOWLY = """
steps:
  - goto: "{site}/feed?p={profile}"
  - wait: 2
  - click: "a.item"
  - expect: "#article"
"""

RUN_TIMEOUT = 15
"""Seconds a run may take. It plays in 3 to 4 s on a busy 2-core machine (6.5 s at most seen
with a load average of 16); the loop stalled by PyYAML's own parser for 5 to 14 s there."""
MAX_STALL = 2.5
"""Seconds the event loop may go without turning while the reload is on. Parsing on the loop
stalled it for 5 s (14 s on a very busy machine); parsing in a thread, 0.6 s at most
(1.1 s once with a load average of 16: the machine's, not the reload's)."""


FILLER = """\
- name: f{index:05d}
  tags:
  - bulk
  - g{group}
  vars:
    site: {site}
    home: https://example.org/u/{index}
    n: '{index}'
  proxy:
    server: http://127.0.0.1:3128
    username: user{index}
    password: secret
  locale: en-US
  timezone: Europe/Berlin
  viewport:
    width: 1280
    height: 800
"""


def big_profiles_file(site: str, runners: list[str]) -> tuple[str, int]:
    """Just under MAX_FILE_BYTES of valid profiles: the runners, then fillers; and the count."""
    parts = ["profiles:\n", *(f"- name: {name}\n  vars:\n    site: {site}\n" for name in runners)]
    size = sum(len(part) for part in parts)
    index = 0
    while True:
        filler = FILLER.format(index=index, group=index % 10, site=site)
        if size + len(filler) > MAX_FILE_BYTES:
            break
        parts.append(filler)
        size += len(filler)
        index += 1
    return "".join(parts), len(runners) + index


class StallWatch:
    """The longest time the event loop (the bot's and the test's) went without turning."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StallWatch:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _tick(self, period: float = 0.01) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            self.longest = max(self.longest, now - last - period)
            last = now


async def until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll until the condition holds (the site's visits change outside the fake Telegram)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_1_mib_profiles_file_reloaded_while_runs_play_fails_no_run(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(
        profiles=RUNNERS,
        scenarios={"read": READ_SLOWLY},
        run_timeout=RUN_TIMEOUT,
        max_concurrency=len(RUNNERS),
    )
    chat = harness.chat
    text, count = big_profiles_file(harness.site.url, RUNNERS)
    assert MAX_FILE_BYTES - 1024 < len(text.encode()) <= MAX_FILE_BYTES

    await chat.send("/warmup all read")
    progress = await chat.wait_for_reply()
    await until(lambda: sorted(harness.site.profiles_on("/feed")) == RUNNERS, timeout=60)
    async with StallWatch() as loop:
        harness.settings.profiles_file.write_text(text, encoding="utf-8")
        assert len(harness.site.profiles_on("/article/1")) < len(RUNNERS), "runs still play"
        await chat.send("/reload")
        reply = await chat.wait_for_reply(timeout=60)
        finished = await chat.wait_until(progress, "Completed", timeout=60)

    assert f"Reloaded: {count} profiles, 1 valid scenario." in reply.text, reply.text
    assert "⚠️" not in reply.text
    assert "✅ done 3 · ❌ failed 0" in finished.text, finished.text
    assert loop.longest < MAX_STALL
    with harness.db():
        runs = await WarmupRun.filter(task_id=1)
        assert [run.status for run in runs] == [RunStatus.succeeded] * len(RUNNERS)
        assert await Profile.filter(active=True).count() == count
