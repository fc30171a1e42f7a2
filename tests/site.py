"""The local web site that test warmups browse; it remembers who visited and with what cookies."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from aiohttp import web

FEED = """<!doctype html><html><head><title>Feed</title></head><body>
<h1>Feed</h1>
<div id="feed" style="height: 3000px">
  <a class="item" href="/article/1?p={profile}">First story</a>
  <a class="item" href="/article/2?p={profile}">Second story</a>
</div>
<input id="q" name="q">
</body></html>"""

ARTICLE = """<!doctype html><html><head><title>Article {number}</title></head><body>
<article id="article"><h1>Story {number}</h1><p>Text.</p></article>
</body></html>"""

STUCK = """<!doctype html><html><head><title>Stuck</title></head><body>
<h1 id="stuck">stuck</h1>
<script>
  localStorage.setItem("stuck", "yes");
  // Loads fine, then its one thread never comes back: nothing in the page answers again.
  window.addEventListener("load", () => setTimeout(() => { while (true) {} }, 50));
</script>
</body></html>"""

# The session token kept only in IndexedDB: database "session", store "kv", key "token".
IDB_OPEN = """
function openSession() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("session", 1);
    request.onupgradeneeded = () => request.result.createObjectStore("kv");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
function show(html) {
  const box = document.createElement("div");
  box.innerHTML = html;
  document.body.appendChild(box);
}
"""

IDB_LOGIN = """<!doctype html><html><head><title>Log in</title></head><body>
<script>
{open}
openSession().then((db) => {{
  const store = db.transaction("kv", "readwrite");
  store.objectStore("kv").put({token}, "token");
  store.oncomplete = () => show("<h1 id='welcome'>welcome</h1>");
}});
</script>
</body></html>"""

IDB_ACCOUNT = """<!doctype html><html><head><title>Account</title></head><body>
<script>
{open}
openSession().then((db) => {{
  const read = db.transaction("kv").objectStore("kv").get("token");
  read.onsuccess = () => show(
    read.result ? "<h1 id='account'>your account</h1>" : "<form id='login'><input></form>"
  );
}});
</script>
</body></html>"""

IDB_TOKEN = "IndexedDbSessionToken"

SESSION_SECRET = "TopSecretSessionCookie"


@dataclass(frozen=True)
class Visit:
    path: str
    profile: str | None
    cookies: dict[str, str]


@dataclass
class LocalSite:
    visits: list[Visit] = field(default_factory=list)
    url: str = ""
    hang: asyncio.Event = field(default_factory=asyncio.Event)
    """Requests to /hang wait until this is set (or the client gives up)."""
    _runner: web.AppRunner | None = None

    def profiles_on(self, path: str) -> list[str]:
        return [visit.profile for visit in self.visits if visit.path == path and visit.profile]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/feed", self._feed)
        app.router.add_get("/article/{number}", self._article)
        app.router.add_get("/broken", self._broken)
        app.router.add_get("/visit-counter", self._visit_counter)
        app.router.add_get("/hang", self._hang)
        app.router.add_get("/login", self._login)
        app.router.add_get("/account", self._account)
        app.router.add_get("/stuck", self._stuck)
        app.router.add_get("/idb-login", self._idb_login)
        app.router.add_get("/idb-account", self._idb_account)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.hang.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _record(self, request: web.Request) -> str:
        profile = request.query.get("p", "")
        self.visits.append(Visit(request.path, profile or None, dict(request.cookies)))
        return profile

    async def _feed(self, request: web.Request) -> web.Response:
        profile = self._record(request)
        return web.Response(text=FEED.format(profile=profile), content_type="text/html")

    async def _article(self, request: web.Request) -> web.Response:
        self._record(request)
        number = request.match_info["number"]
        return web.Response(text=ARTICLE.format(number=number), content_type="text/html")

    async def _broken(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.Response(status=500, text="<h1>Internal error</h1>", content_type="text/html")

    async def _visit_counter(self, request: web.Request) -> web.Response:
        """Counts a profile's visits in a cookie: proof that storage state survives runs."""
        self._record(request)
        count = int(request.cookies.get("visits", "0")) + 1
        response = web.Response(text=f"<h1 id='count'>visit {count}</h1>", content_type="text/html")
        response.set_cookie("visits", str(count), max_age=3600)
        return response

    async def _login(self, request: web.Request) -> web.Response:
        """Hands out a session cookie whose value must never reach a log or a chat."""
        profile = self._record(request)
        response = web.Response(text="<h1 id='welcome'>welcome</h1>", content_type="text/html")
        response.set_cookie("session", f"{SESSION_SECRET}-{profile}", max_age=3600)
        return response

    async def _hang(self, request: web.Request) -> web.Response:
        self._record(request)
        await self.hang.wait()
        return web.Response(text="<h1>late</h1>", content_type="text/html")

    async def _account(self, request: web.Request) -> web.Response:
        """A page that shows #account only to a visitor with a session cookie."""
        self._record(request)
        if "session" in request.cookies:
            body = "<h1 id='account'>your account</h1>"
        else:
            body = "<form id='login'><input name='user'></form>"
        return web.Response(text=body, content_type="text/html")

    async def _stuck(self, request: web.Request) -> web.Response:
        """A page whose script runs `while(true){}` once loaded."""
        self._record(request)
        return web.Response(text=STUCK, content_type="text/html")

    async def _idb_login(self, request: web.Request) -> web.Response:
        """Stores `IDB_TOKEN-<profile>` in IndexedDB, then shows #welcome: no cookie at all."""
        profile = self._record(request)
        token = json.dumps(f"{IDB_TOKEN}-{profile}")
        body = IDB_LOGIN.format(open=IDB_OPEN, token=token)
        return web.Response(text=body, content_type="text/html")

    async def _idb_account(self, request: web.Request) -> web.Response:
        """Shows #account only when IndexedDB holds the token, else a login form (#login)."""
        self._record(request)
        return web.Response(text=IDB_ACCOUNT.format(open=IDB_OPEN), content_type="text/html")
