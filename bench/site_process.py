"""The local site served by a process of its own, so that the event-loop lag the benchmark
measures is the bot's and the engine's, not the test server's: serving a hundred pages at
once would otherwise count as lag of whatever shares the loop with it.

    python -m bench.site_process     # prints the site's URL, serves until stdin closes
"""

from __future__ import annotations

import asyncio
import sys

from tests.site import LocalSite

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class SiteProcess:
    """`tests.site.LocalSite` in a child process: `start`, `url`, `stop`."""

    def __init__(self) -> None:
        self.url = ""
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.site_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), START_TIMEOUT)
        self.url = line.decode().strip()
        if not self.url.startswith("http"):
            await self.stop()
            raise RuntimeError("the site process did not start")

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _serve() -> None:
    site = LocalSite()
    await site.start()
    try:
        print(site.url, flush=True)
        # Until the parent closes our stdin (or dies): read in a thread, off the loop.
        await asyncio.to_thread(sys.stdin.read)
    finally:
        await site.stop()


if __name__ == "__main__":
    asyncio.run(_serve())
