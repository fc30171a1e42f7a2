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
    await russian.send("/schedule alice smoke 0 24 * * *")
    refusal = (await russian.wait_for_reply()).text
    assert "недопустимое значение «24» в поле часов (0-23)" in refusal, refusal

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


MISTAKES = """
steps:
  - goto: "{site}/feed?p={profile}"
  - clik: "a.item"
  - wait: lots
"""
BROKEN_PROFILES = b"profiles:\n  - name: 'c d'\n  - nam: alice\n"


async def test_problems_of_the_configuration_files_are_worded_in_the_readers_language(
    start_bot: StartBot,
) -> None:
    russian_admin = ADMIN_ID + 1  # Telegram's language is the user's: two admins
    harness = await start_bot(
        profiles=["alice"],
        scenarios={"smoke": SMOKE, "broken": MISTAKES},
        admin_ids=frozenset({ADMIN_ID, russian_admin}),
    )
    english = harness.chat
    russian = ChatClient(
        harness.fake, chat_id=russian_admin, user_id=russian_admin, language_code="ru"
    )

    await russian.send("/scenarios")
    listed = (await russian.wait_for_reply()).text
    assert listed.startswith("Сценарии · 1 корректный, 1 некорректный\n"), listed
    assert (
        "❌ broken — broken.yaml, строка 4: steps[1]: неизвестное действие 'clik'; ожидается "
        "одно из: goto, wait," in listed
    ), listed
    assert "(и ещё 1 ошибка)" in listed
    assert "unknown action" not in listed and "line 4" not in listed
    await english.send("/scenarios")
    listed = (await english.wait_for_reply()).text
    assert listed.startswith("Scenarios · 1 valid, 1 invalid\n"), listed
    assert "❌ broken — broken.yaml, line 4: steps[1]: unknown action 'clik'; expected" in listed
    assert "(and 1 more problem)" in listed

    await russian.send("/warmup alice broken")
    refusal = (await russian.wait_for_reply()).text
    assert "сценарий «broken» некорректен: broken.yaml, строка 4: steps[1]: неизвестное" in refusal

    await russian.send_document("draft.yaml", MISTAKES.encode(), "/scenario")
    refusal = (await russian.wait_for_reply()).text
    assert "сценарии draft есть ошибки; ничего не изменено:" in refusal, refusal
    for line in (
        "• draft.yaml, строка 4: steps[1]: неизвестное действие 'clik'",
        "• draft.yaml, строка 5: steps[2]: wait: ожидается число от 0 до 3600 или [min, max], "
        "получено: строка 'lots'",
    ):
        assert line in refusal, (line, refusal)
    assert "expected" not in refusal and "the string" not in refusal
    await english.send_document("draft.yaml", MISTAKES.encode(), "/scenario")
    refusal = (await english.wait_for_reply()).text
    assert (
        "• draft.yaml, line 5: steps[2]: wait: expected a number from 0 to 3600, or [min, max], "
        "got the string 'lots'" in refusal
    ), refusal

    await russian.send_document("profiles.yaml", BROKEN_PROFILES, "/profiles_file")
    refusal = (await russian.wait_for_reply()).text
    for line in (
        "• profiles.yaml: profiles[0].name: ожидается имя из латинских букв, цифр, _ и - "
        "(не больше 32 символов), получено: строка 'c d'",
        "• profiles.yaml: profiles[1]: нет ключа 'name'",
        "• profiles.yaml: profiles[1]: неизвестный ключ 'nam'; допустимые: name, tags,",
    ):
        assert line in refusal, (line, refusal)
    assert "expected" not in refusal and "missing" not in refusal and "unknown" not in refusal
    await english.send_document("profiles.yaml", BROKEN_PROFILES, "/profiles_file")
    refusal = (await english.wait_for_reply()).text
    for line in (
        "• profiles.yaml: profiles[0].name: expected a name of letters, digits, _ and - "
        "(at most 32 characters), got the string 'c d'",
        "• profiles.yaml: profiles[1]: missing 'name'",
        "• profiles.yaml: profiles[1]: unknown key 'nam'; expected name, tags,",
    ):
        assert line in refusal, (line, refusal)
    assert not (harness.settings.scenarios_dir / "draft.yaml").exists()
