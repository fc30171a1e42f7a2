"""A folder served over HTTP on 127.0.0.1, for the demo site of `python -m bot try`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web


@asynccontextmanager
async def serve_folder(root: Path) -> AsyncIterator[str]:
    """Serve `root` on a free port of 127.0.0.1 while the block runs; yields the base URL
    (no trailing slash). `/` is `index.html`; nothing outside `root` is served."""
    index = root / "index.html"

    async def home(_: web.Request) -> web.FileResponse:
        return web.FileResponse(index)

    app = web.Application()
    app.router.add_get("/", home)
    app.router.add_static("/", root)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
