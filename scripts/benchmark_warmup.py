"""How long one `/warmup` of N profiles with a 3-step scenario takes against a local site.

Runs the real application (Chromium, SQLite, aiogram polling) on the test suite's fake
Bot API server and local site, and prints, for each round, the engine's time from the
command to the task's end and the time until the chat's progress message says so.

    .venv/bin/python scripts/benchmark_warmup.py [--profiles 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import Application
from bot.settings import load_settings
from tests.chat_client import ChatClient
from tests.conftest import write_config
from tests.fake_telegram import FakeTelegram
from tests.site import LocalSite
from warmup.events import TaskFinished

THREE_STEPS = """
steps:
  - goto: "{site}/feed?p={profile}"
  - scroll: 400
  - expect: "#feed"
"""


async def benchmark(profiles: int, rounds: int, concurrency: int) -> None:
    site = LocalSite()
    await site.start()
    async with FakeTelegram() as fake:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            write_config(root, site, [f"p{i}" for i in range(profiles)], {"three": THREE_STEPS})
            settings = load_settings(
                _env_file=None,
                bot_token=fake.token,
                telegram_api_url=fake.api_url,
                admin_ids=frozenset({1}),
                database_url=f"sqlite://{root}/warmup.sqlite3",
                data_dir=root / "data",
                profiles_file=root / "profiles.yaml",
                scenarios_dir=root / "scenarios",
                max_concurrency=concurrency,
            )
            app = Application(settings, handle_signals=False)
            runner = asyncio.create_task(app.run())
            await app.ready.wait()
            assert app.engine is not None
            finished: dict[int, float] = {}
            app.engine.events.subscribe(
                lambda event: (
                    finished.setdefault(event.task_id, time.perf_counter())
                    if isinstance(event, TaskFinished)
                    else None
                )
            )
            chat = ChatClient(fake, chat_id=1, user_id=1)
            engine_times, chat_times = [], []
            for number in range(1, rounds + 1):
                started = time.perf_counter()
                await chat.send("/warmup all three")
                progress = await chat.wait_for_reply(timeout=60)
                await chat.wait_until(progress, "Completed", timeout=120)
                engine_times.append(finished[number] - started)
                chat_times.append(time.perf_counter() - started)
                print(
                    f"round {number}: engine {engine_times[-1]:.2f} s, "
                    f"chat shows Completed after {chat_times[-1]:.2f} s"
                )
            await app.stop()
            await runner
    await site.stop()
    print(
        f"{profiles} profiles, 3 steps, MAX_CONCURRENCY={concurrency}: median engine "
        f"{statistics.median(engine_times):.2f} s, median until the chat shows it "
        f"{statistics.median(chat_times):.2f} s (PROGRESS_INTERVAL={settings.progress_interval:g})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(benchmark(args.profiles, args.rounds, args.concurrency))


if __name__ == "__main__":
    main()
