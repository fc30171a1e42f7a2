"""The distributed mode for real: the bot and two `python -m bot worker` processes, each
worker with its own Chromium, on one PostgreSQL and one Redis, driven from the chat.

A task of ten profiles is split between the workers; a worker killed mid-run has its run
finished by the other; a cancel reaches the runs on both; a worker restarted while the
stream holds messages goes on with them; `/status` says when no worker is alive.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from socket import gethostname
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from tests.bot_process import BotLauncher, BotProcess
from tests.chat_client import ChatClient
from tests.conftest import write_config
from tests.fake_telegram import FakeTelegram
from tests.processes import wait_gone
from tests.servers import PostgresServer, RedisServer
from tests.site import LocalSite

PROFILES: list[str | dict[str, Any]] = [f"p{index}" for index in range(10)]
READ = """
steps:
  - goto: "{site}/feed?p={profile}"
  - wait: {seconds}
  - expect: "#feed"
"""


@pytest.fixture
async def cluster_env(
    tmp_path: Path, postgres_server: PostgresServer, redis_server: RedisServer
) -> dict[str, str]:
    redis = Redis.from_url(redis_server.url)
    await redis.flushall()
    await redis.aclose()
    return {
        "DATABASE_URL": await postgres_server.create_database(),
        "BROKER_URL": redis_server.url,
        "LEASE_TTL": "3",
        "MAX_CONCURRENCY": "2",
        "DATA_DIR": str(tmp_path / "bot-data"),
    }


def worker_env(env: dict[str, str], tmp_path: Path, name: str) -> dict[str, str]:
    """A worker's settings: the bot's database and broker, and a data folder of its own,
    as on another machine."""
    return {**env, "DATA_DIR": str(tmp_path / f"{name}-data")}


async def start_cluster(
    bots: BotLauncher, env: dict[str, str], tmp_path: Path
) -> tuple[BotProcess, BotProcess]:
    """The bot, then two workers started together."""
    await bots.start(**env)
    first, second = await asyncio.gather(
        bots.start_worker(**worker_env(env, tmp_path, "w1")),
        bots.start_worker(**worker_env(env, tmp_path, "w2")),
    )
    return first, second


def worker_name(worker: BotProcess) -> str:
    return f"worker@{gethostname()}:{worker.pid}"[:128]


async def until_visits(fake: FakeTelegram, site: LocalSite, count: int) -> None:
    await fake.wait_for(
        lambda: len(site.profiles_on("/feed")) >= count, 60, description=f"{count} visits"
    )


async def query(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(sql, *args)
    finally:
        await connection.close()


async def until_rows(url: str, sql: str, check: Any, timeout: float, *args: object) -> list[Any]:
    async with asyncio.timeout(timeout):
        while True:
            rows = await query(url, sql, *args)
            if check(rows):
                return rows
            await asyncio.sleep(0.1)


async def test_ten_profiles_split_between_two_workers_and_a_killed_workers_run_finished(
    tmp_path: Path,
    site: LocalSite,
    bots: BotLauncher,
    chat: ChatClient,
    cluster_env: dict[str, str],
) -> None:
    write_config(tmp_path, site, PROFILES, {"read": READ.replace("{seconds}", "2")})
    first, second = await start_cluster(bots, cluster_env, tmp_path)
    url = cluster_env["DATABASE_URL"]

    await chat.send("/warmup all read")
    progress = await chat.wait_for_reply(timeout=30)
    # Each worker plays two at once; kill the first once it has finished a run, while
    # it plays others.
    await until_rows(
        url,
        "SELECT id, status FROM warmup_run WHERE played_by = $1",
        lambda rows: {"succeeded", "running"} <= {row["status"] for row in rows},
        60,
        worker_name(first),
    )
    first.send_signal(signal.SIGKILL)
    assert await first.wait_exit(10) == -signal.SIGKILL
    # What it played when it died, before its leases expire (3 s) and the bot gives it away.
    cut = [
        row["id"]
        for row in await query(
            url,
            "SELECT id FROM warmup_run WHERE status = 'running' AND played_by = $1",
            worker_name(first),
        )
    ]
    assert cut, "the worker was killed mid-run"
    survivors, _ = await wait_gone(first.chromium, 10)
    assert not survivors, "the killed worker's Chromium died with it"

    final = await chat.wait_until(progress, "✅ done 10", timeout=120)
    assert "❌ failed 0" in final.text
    rows = await query(url, "SELECT id, status, played_by FROM warmup_run ORDER BY id")
    assert [row["status"] for row in rows] == ["succeeded"] * 10, rows
    by_worker = {row["id"]: row["played_by"] for row in rows}
    assert all(by_worker[run_id] == worker_name(second) for run_id in cut), (
        "the runs cut by the kill were finished by the other worker"
    )
    assert {worker_name(first), worker_name(second)} <= set(by_worker.values())
    visited = site.profiles_on("/feed")
    assert sorted(set(visited)) == sorted(str(name) for name in PROFILES)
    cut_profiles = {
        row["name"]
        for row in await query(
            url,
            "SELECT p.name FROM warmup_run r JOIN profile p ON p.id = r.profile_id "
            "WHERE r.id = ANY($1::int[])",
            cut,
        )
    }
    assert all(visited.count(name) == 1 for name in set(visited) - cut_profiles), (
        "a run that was not cut played once"
    )
    assert all(visited.count(name) <= 2 for name in cut_profiles), "a cut run played again once"
    assert await query(url, "SELECT 1 FROM profile_lease") == [], "every lease given back"


async def test_a_cancel_reaches_the_runs_on_both_workers(
    tmp_path: Path,
    site: LocalSite,
    bots: BotLauncher,
    chat: ChatClient,
    cluster_env: dict[str, str],
) -> None:
    write_config(tmp_path, site, PROFILES[:4], {"read": READ.replace("{seconds}", "60")})
    workers = await start_cluster(bots, cluster_env, tmp_path)
    url = cluster_env["DATABASE_URL"]
    await chat.send("/warmup all read")
    progress = await chat.wait_for_reply(timeout=30)
    rows = await until_rows(
        url,
        "SELECT played_by FROM warmup_run WHERE status = 'running'",
        lambda rows: len(rows) == 4,
        60,
    )
    assert {row["played_by"] for row in rows} == {worker_name(w) for w in workers}
    await until_visits(chat.fake, site, 4)

    task_id = (await query(url, "SELECT id FROM warmup_task"))[0]["id"]
    await chat.send(f"/cancel {task_id}")
    reply = await chat.wait_for_reply(timeout=10)
    assert "cancelled" in reply.text
    await chat.fake.wait_for(
        lambda: all("was cancelled: 2 of its runs stopped here" in w.log() for w in workers),
        3,
        description="both workers stopping their runs",
    )
    await until_rows(
        url,
        "SELECT sessions FROM worker_beat",
        lambda rows: len(rows) == 2 and all(row["sessions"] == 0 for row in rows),
        10,
    )
    await chat.wait_until(progress, "⏹", timeout=30)
    statuses = await query(url, "SELECT status FROM warmup_run")
    assert [row["status"] for row in statuses] == ["cancelled"] * 4


async def test_a_worker_restarted_while_the_stream_holds_messages_plays_them(
    tmp_path: Path,
    site: LocalSite,
    bots: BotLauncher,
    chat: ChatClient,
    cluster_env: dict[str, str],
) -> None:
    write_config(tmp_path, site, PROFILES[:4], {"read": READ.replace("{seconds}", "1")})
    await bots.start(**cluster_env)
    env = worker_env(cluster_env, tmp_path, "w1")
    first = await bots.start_worker(**env)
    await chat.send("/warmup all read")
    progress = await chat.wait_for_reply(timeout=30)
    await until_visits(chat.fake, site, 1)
    first.send_signal(signal.SIGTERM)
    assert await first.wait_exit(30) == 0

    await chat.send("/status")
    status = await chat.wait_for_reply(timeout=10)
    assert "No live worker" in status.text

    await bots.start_worker(**env)
    final = await chat.wait_until(progress, "✅ done 4", timeout=120)
    assert "❌ failed 0" in final.text


COUNT = """
steps:
  - goto: "{site}/visit-counter?p={profile}"
  - expect: "#count"
"""
BROKEN = """
steps:
  - goto: "{site}/feed?p={profile}"
  - expect: "#missing"
    timeout: 2
"""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def test_a_profiles_state_and_a_failures_screenshot_reach_other_machines(
    tmp_path: Path,
    site: LocalSite,
    bots: BotLauncher,
    chat: ChatClient,
    cluster_env: dict[str, str],
) -> None:
    """Each process has a DATA_DIR of its own, as on three machines: the second worker
    starts the profile from the state the first one saved, and the bot sends the photo
    that a worker took."""
    write_config(tmp_path, site, ["counter", "broken"], {"count": COUNT, "broken": BROKEN})
    await bots.start(**cluster_env)
    first = await bots.start_worker(**worker_env(cluster_env, tmp_path, "w1"))
    await chat.send("/warmup counter count")
    progress = await chat.wait_for_reply(timeout=30)
    await chat.wait_until(progress, "✅ done 1", timeout=60)
    first.send_signal(signal.SIGTERM)
    assert await first.wait_exit(30) == 0

    await bots.start_worker(**worker_env(cluster_env, tmp_path, "w2"))
    await chat.send("/warmup counter count")
    progress = await chat.wait_for_reply(timeout=30)
    await chat.wait_until(progress, "✅ done 1", timeout=60)
    counted = [visit.cookies.get("visits") for visit in site.visits if visit.profile == "counter"]
    assert counted == [None, "1"], "the second worker sent the cookie the first one got"

    await chat.send("/warmup broken broken")
    failure = await chat.wait_for_message(lambda m: m.photo is not None, timeout=60)
    assert failure.photo is not None and failure.photo.startswith(PNG_SIGNATURE)
    assert "broken" in failure.text and "#missing" in failure.text
