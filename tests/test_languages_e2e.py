"""Every message in the user's Telegram language: Russian for `ru`, English otherwise."""

from __future__ import annotations

from tests.chat_client import ChatClient
from tests.conftest import ADMIN_ID, CHAT_ID, SMOKE, StartBot

BROKEN = """
steps:
  - goto: "{site}/broken?p={profile}"
"""


async def test_a_russian_user_gets_russian_replies_progress_buttons_and_failures(
    start_bot: StartBot,
) -> None:
    harness = await start_bot(profiles=["alice"], scenarios={"smoke": SMOKE, "broken": BROKEN})
    russian = ChatClient(harness.fake, chat_id=CHAT_ID, user_id=ADMIN_ID, language_code="ru")

    await russian.send("/help")
    help_text = (await russian.wait_for_reply()).text
    assert "/warmup" in help_text and "прогрев" in help_text.lower()

    await russian.send("/warmup alice smoke")
    progress = await russian.wait_for_reply()
    assert "Прогрев #1" in progress.text
    assert progress.buttons == ["Отменить"]
    finished = await russian.wait_until(progress, "Завершена", timeout=60)
    assert "готово 1" in finished.text
    assert "Подробности" in finished.buttons

    await russian.send("/warmup alice broken")
    failure = await russian.wait_for_message(lambda m: m.photo is not None, timeout=60)
    assert "Прогрев #2" in failure.text and "HTTP 500" in failure.text
    assert failure.buttons == ["Повторить", "Трассировка"]

    await russian.send("/warmup nobody smoke")
    refusal = (await russian.wait_for_reply()).text
    assert "nobody" in refusal and "unknown profile" not in refusal

    await russian.send("/reload")
    assert "Перечитано: 1 профиль, 2 корректных сценария." in (await russian.wait_for_reply()).text
    await russian.send("/export 5")
    exported = await russian.wait_for_reply()
    assert exported.text == "2 запуска за последние 5 дней.", exported.text
    await russian.send("/profiles")
    profiles = await russian.wait_for_reply()
    assert profiles.text.startswith("Профили · 1 профиль"), profiles.text
    assert "❌ Ошибка (1)" in profiles.buttons


async def test_english_stays_the_default_and_strangers_are_refused_in_their_language(
    start_bot: StartBot,
) -> None:
    harness = await start_bot()
    for offset, code, expected in ((7, "de", "this bot is private"), (8, "ru", "бот")):
        stranger = ChatClient(
            harness.fake,
            chat_id=CHAT_ID + offset,
            user_id=ADMIN_ID + offset,
            language_code=code,
        )
        await stranger.send("/help")
        assert expected in (await stranger.wait_for_reply()).text.lower()


async def test_the_command_menu_is_registered_in_english_and_in_russian(
    start_bot: StartBot,
) -> None:
    harness = await start_bot()
    english = {c["command"]: c["description"] for c in harness.fake.commands_for()}
    russian = {c["command"]: c["description"] for c in harness.fake.commands_for(None, "ru")}
    assert set(english) == set(russian) >= {"warmup", "status", "schedule", "import"}
    assert english["warmup"].startswith("Start a warmup")
    assert all(russian[name] != english[name] for name in english)
