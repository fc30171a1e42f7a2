"""Pages of long lists: the arithmetic, and the longest page of each list within
Telegram's limits in every language."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiogram.utils.i18n import I18n

from bot.i18n import LANGUAGES, create_i18n, install
from bot.render import render_runs
from handlers.callbacks import ProfilesPage, RunsPage, ScheduleAction, ScheduleActionKind, tag_key
from handlers.catalog import (
    PROFILES_PER_PAGE,
    fleet_line,
    profile_line,
    profiles_title,
    show_rows,
    tag_rows,
)
from handlers.pages import MAX_PAGE, Page
from handlers.schedules import SCHEDULES_PER_PAGE, render_schedule
from handlers.tasks import RUNS_PER_PAGE, TASKS_PER_PAGE, task_line
from models import RunStatus, Schedule, TaskStatus
from tests.fake_telegram import CALLBACK_DATA_LIMIT, TEXT_LIMIT, parse_html
from warmup.fleet import ProfileShow, ProfileState
from warmup.views import RunView, TaskView

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
LONGEST_NAME = "n" * 32
LONGEST_ID = 2**31 - 1


def shown_length(html_text: str) -> int:
    """What Telegram counts: the text after its HTML is parsed, in UTF-16 code units."""
    plain, _ = parse_html(html_text)
    return len(plain.encode("utf-16-le")) // 2


@pytest.fixture(params=LANGUAGES)
def language(request: pytest.FixtureRequest) -> Iterator[str]:
    i18n: I18n = create_i18n()
    install(i18n)
    with i18n.use_locale(request.param):
        yield request.param


def longest_task(language: str) -> TaskView:
    """A task whose every field shown is as long as it may be, running for 300 days."""
    return TaskView(
        task_id=LONGEST_ID,
        chat_id=1,
        target="t" * 512,
        scenario="s" * 128,
        language=language,
        status=TaskStatus.interrupted,
        created_at=NOW - timedelta(days=300),
        started_at=None,
        finished_at=None,
        counts=Counter({status: 100_000 for status in RunStatus}),
    )


def test_a_page_is_clamped_to_the_pages_there_are() -> None:
    assert Page.of(total=0, size=20, wanted=1) == Page(number=1, count=1, size=20, total=0)
    assert Page.of(total=5000, size=20, wanted=1).count == 250
    last = Page.of(total=41, size=20, wanted=7)
    assert (last.number, last.count, last.offset) == (3, 3, 40)
    assert last.slice(list(range(41))) == [40]
    assert Page.of(total=41, size=20, wanted=0).number == 1
    assert Page.of(total=20, size=20, wanted=1).line() == ""
    assert Page.of(total=21, size=20, wanted=2).line() == "page 2 of 2"


def test_the_longest_profiles_page_fits(language: str) -> None:
    state = ProfileState(
        name=LONGEST_NAME,
        tags=tuple(f"tag-{index}-{'x' * 30}" for index in range(10)),
        last_status=RunStatus.interrupted,
        last_task_id=LONGEST_ID,
        session_expired=True,
    )
    page = Page.of(total=5000, size=PROFILES_PER_PAGE, wanted=MAX_PAGE)
    lines = [profiles_title(ProfileShow.expired, "t" * 200, 5000, 5000), fleet_line([state]), ""]
    lines.extend([profile_line(state)] * PROFILES_PER_PAGE)
    lines.extend(["", page.line()])
    assert shown_length("\n".join(lines)) <= TEXT_LIMIT


def test_the_longest_page_of_runs_fits(language: str) -> None:
    run = RunView(
        run_id=LONGEST_ID,
        profile=LONGEST_NAME,
        status=RunStatus.failed,
        attempts=99,
        step=None,
        failed_step="s" * 255,
        error="e" * 10_000,
        started_at=NOW - timedelta(hours=30),
        finished_at=NOW,
    )
    view = longest_task(language)
    page = Page.of(total=600_000, size=RUNS_PER_PAGE, wanted=MAX_PAGE)
    text = render_runs(view, [run] * RUNS_PER_PAGE, NOW, only_failed=True, page_line=page.line())
    assert shown_length(text) <= TEXT_LIMIT


def test_the_longest_pages_of_tasks_and_schedules_fit(language: str) -> None:
    view = longest_task(language)
    tasks = [task_line(view, NOW)] * TASKS_PER_PAGE
    assert shown_length("\n".join(["Latest tasks", *tasks, "", "page 99999 of 99999"])) <= 3800
    schedule = Schedule(
        id=LONGEST_ID,
        chat_id=1,
        target="t" * 512,
        scenario="s" * 128,
        cron="0 0 1 1 *" + " " * 100,
        window_start="22:00",
        window_end="06:00",
        jitter_seconds=1440 * 60,
        paused=False,
        next_run_at=NOW,
        last_run_at=NOW,
    )
    schedules = [render_schedule(schedule)] * SCHEDULES_PER_PAGE
    assert shown_length("\n\n".join([*schedules, "page 99999 of 99999"])) <= TEXT_LIMIT


def test_every_button_payload_fits_in_64_bytes(language: str) -> None:
    states = [
        ProfileState(f"p{index}", (f"tag:{index}:" + "ä" * 200,), None, None, False)
        for index in range(10)
    ]
    rows = [
        *show_rows(states, ProfileShow.never, tag_key("x")),
        *tag_rows(states, ProfileShow.all, None),
    ]
    payloads = [button.callback_data or "" for row in rows for button in row]
    payloads += [
        ProfilesPage(page=MAX_PAGE, show=ProfileShow.expired, tag=tag_key("ä" * 500)).pack(),
        RunsPage(task_id=LONGEST_ID, page=MAX_PAGE, only_failed=True).pack(),
        ScheduleAction(
            action=ScheduleActionKind.delete, schedule_id=LONGEST_ID, page=MAX_PAGE
        ).pack(),
    ]
    assert all(len(payload.encode()) <= CALLBACK_DATA_LIMIT for payload in payloads)
    assert len({tag_key(f"tag:{index}:" + "ä" * 200) for index in range(10)}) == 10
