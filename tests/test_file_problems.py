"""Problems of the scenario and profiles files are worded when they are read: found once,
with no translator (at /reload, in a worker thread; `python -m bot check`), read later in
the language of whoever asks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n

from bot.i18n import create_i18n, install
from warmup.catalog import Catalog
from warmup.i18n import LazyPlural, LazyText, translator
from warmup.profiles import MAX_PROBLEMS, ProfilesError, load_profiles
from warmup.scenario import ScenarioError, load_scenarios, scenario_from_text

ACTIONS = "goto, wait, scroll, click, type, press, expect, repeat"
BROKEN = "steps:\n  - goto: x\n  - wait: lots\n  - clik: a\n"
PROFILES = "profiles:\n  - name: 'c d'\n  - nam: x\n  - {name: e, viewport: {width: 100}}\n"


@pytest.fixture
def i18n() -> Iterator[I18n]:
    """The bot's translator, not installed yet: what is found first is found without one."""
    token = translator.set(None)
    try:
        yield create_i18n()
    finally:
        translator.reset(token)


def test_a_problem_found_with_no_translator_reads_in_the_language_of_its_reader(
    tmp_path: Path, i18n: I18n
) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN)
    scenarios = load_scenarios(tmp_path)
    (tmp_path / "profiles.yaml").write_text(PROFILES)
    with pytest.raises(ProfilesError) as raised:
        load_profiles(tmp_path / "profiles.yaml")
    scenario, profiles = scenarios.invalid["broken"], raised.value

    install(i18n)
    with i18n.use_locale("ru"):
        assert str(scenario).splitlines() == [
            "broken.yaml, строка 3: steps[1]: wait: ожидается число от 0 до 3600 или [min, max],"
            " получено: строка 'lots'",
            f"broken.yaml, строка 4: steps[2]: неизвестное действие 'clik'; ожидается одно из:"
            f" {ACTIONS}",
        ]
        assert scenario.summary().endswith("получено: строка 'lots' (и ещё 1 ошибка)")
        assert profiles.problems == (
            "profiles.yaml: profiles[0].name: ожидается имя из латинских букв, цифр, _ и -"
            " (не больше 32 символов), получено: строка 'c d'",
            "profiles.yaml: profiles[1]: нет ключа 'name'",
            "profiles.yaml: profiles[1]: неизвестный ключ 'nam'; допустимые: name, tags, vars,"
            " storage_state, proxy, locale, timezone, viewport",
            "profiles.yaml: profiles[2].viewport.width: ожидается целое число от 200 до 8000,"
            " получено: 100",
            "profiles.yaml: profiles[2].viewport: нет ключа 'height'",
        )
        assert str(profiles) == "\n".join(profiles.problems)
    with i18n.use_locale("en"):
        assert str(scenario).splitlines() == [
            "broken.yaml, line 3: steps[1]: wait: expected a number from 0 to 3600, or [min, max],"
            " got the string 'lots'",
            f"broken.yaml, line 4: steps[2]: unknown action 'clik'; expected one of {ACTIONS}",
        ]
        assert scenario.reason.startswith("wait: expected a number from 0 to 3600")
        assert profiles.problems[1] == "profiles.yaml: profiles[1]: missing 'name'"


def test_counts_take_the_plural_form_of_the_language(i18n: I18n) -> None:
    steps = "".join(f"  - wait: {-index - 1}\n" for index in range(MAX_PROBLEMS + 5))
    with pytest.raises(ScenarioError) as raised:
        scenario_from_text(f"steps:\n{steps}", source="many.yaml", name="many")
    install(i18n)
    with i18n.use_locale("ru"):
        assert str(raised.value).splitlines()[-1] == "many.yaml: и ещё 5 ошибок"
        assert raised.value.summary().endswith("(и ещё 24 ошибки)")
    with i18n.use_locale("en"):
        assert str(raised.value).splitlines()[-1] == "many.yaml: and 5 more problems"
        forms = [
            str(LazyPlural("and {count} more problem", "and {count} more problems", count))
            for count in (1, 2, 5)
        ]
        assert forms == ["and 1 more problem", "and 2 more problems", "and 5 more problems"]
    with i18n.use_locale("ru"):
        forms = [
            str(LazyPlural("and {count} more problem", "and {count} more problems", count))
            for count in (1, 2, 5, 21)
        ]
        assert forms == ["и ещё 1 ошибка", "и ещё 2 ошибки", "и ещё 5 ошибок", "и ещё 21 ошибка"]


def test_a_lazy_text_is_a_value_its_nested_params_worded_too(i18n: I18n) -> None:
    text = LazyText("expected {expected}, got {got}", expected=LazyText("a list"), got=3)
    assert text == LazyText("expected {expected}, got {got}", got=3, expected=LazyText("a list"))
    assert len({text, LazyText("expected {expected}, got {got}", expected="a list", got=3)}) == 2
    assert str(text) == "expected a list, got 3"
    assert str(LazyText("{selector: …} or {url: …}")) == "{selector: …} or {url: …}"
    install(i18n)
    with i18n.use_locale("ru"):
        assert str(text) == "ожидается список, получено: 3"
        assert str(LazyText("{selector: …} or {url: …}")) == "{selector: …} или {url: …}"


async def test_a_refused_profiles_file_is_logged_in_english_and_told_in_the_readers_language(
    tmp_path: Path, i18n: I18n, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "profiles.yaml").write_text("profiles: [{nam: x}]\n")
    catalog = Catalog(tmp_path / "profiles.yaml", tmp_path / "scenarios")
    install(i18n)
    with i18n.use_locale("ru"), caplog.at_level(logging.WARNING, logger="warmup.catalog"):
        report = await catalog.reload()
    assert report.profiles_error is not None
    assert report.profiles_error.startswith("profiles.yaml: profiles[0]: нет ключа 'name'")
    assert "profiles not reloaded: profiles.yaml: profiles[0]: missing 'name'; " in caplog.text
