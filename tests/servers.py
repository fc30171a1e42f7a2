"""PostgreSQL and Redis servers of the tests' own: started in temporary folders, listening
on loopback only, on free ports, gone with the test session.

`make test` installs Debian's `postgresql` and `redis-server` when they are missing
(scripts/install-servers.sh). PostgreSQL refuses to run as root, so as root the cluster
belongs to the `postgres` system user that Debian's package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
POSTGRES_USER = "warmup"


class ServerMissing(RuntimeError):
    """The server's binary is not installed: `make test` installs it."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _postgres_bindir() -> Path:
    """The newest PostgreSQL's binaries (Debian keeps them per version)."""
    given = os.environ.get("PG_BINDIR")
    if given:
        return Path(given)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise ServerMissing(
        "PostgreSQL is not installed: run `make test`, or apt-get install postgresql"
    )


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class PostgresServer:
    """A throwaway cluster (fsync off: nothing in it needs to survive a crash)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._folder = Path(tempfile.mkdtemp(prefix="warmup-pg-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._user = "postgres" if os.geteuid() == 0 else None

    def url(self, database: str = "postgres") -> str:
        return f"postgres://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        bindir = _postgres_bindir()
        data = self._folder / "data"
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self._folder, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [
                str(bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                POSTGRES_USER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            user=self._user,
            cwd=self._folder,
        )
        self._run(bindir)

    def restart(self) -> None:
        """Stop the server (every connection to it is cut) and start it again on the same
        port and data."""
        if self._process is not None:
            _stop(self._process, signal.SIGINT)
        self._run(_postgres_bindir())

    def _run(self, bindir: Path) -> None:
        data = self._folder / "data"
        self._process = subprocess.Popen(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self._folder / "server.log", "wb"),  # noqa: SIM115 (closed with the process)
            user=self._user,
            cwd=self._folder,
        )
        self._wait_ready(bindir)

    def _wait_ready(self, bindir: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"PostgreSQL did not start: {self.log_tail()}")
            ready = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL not ready within {START_TIMEOUT:g} s: {self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self._folder / "server.log").read_text(errors="replace")[-2000:]
        return ""

    async def create_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        connection = await asyncpg.connect(self.url())
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.url(name)

    def stop(self) -> None:
        if self._process is not None:
            # SIGINT: PostgreSQL's fast shutdown.
            _stop(self._process, signal.SIGINT)
            self._process = None
        shutil.rmtree(self._folder, ignore_errors=True)


class RedisServer:
    """A Redis that keeps nothing on disk, or with `persist` what a restart needs (in its
    own folder, restarted on the same port by `restart`)."""

    def __init__(self, *, persist: bool = False) -> None:
        self.port = free_port()
        self._persist = persist
        self._folder = Path(tempfile.mkdtemp(prefix="warmup-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerMissing(
                "redis-server is not installed: run `make test`, or apt-get install redis-server"
            )
        self._process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "yes" if self._persist else "no",
                "--dir",
                str(self._folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            cwd=self._folder,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection,
            ):
                connection.sendall(b"PING\r\n")
                if connection.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server not ready within {START_TIMEOUT:g} s")

    def restart(self) -> None:
        """Stop the server and start it again on the same port (and folder)."""
        if self._process is not None:
            _stop(self._process, signal.SIGTERM)
        self.start()

    def stop(self) -> None:
        if self._process is not None:
            _stop(self._process, signal.SIGTERM)
            self._process = None
        shutil.rmtree(self._folder, ignore_errors=True)
