"""The Russian catalog: complete, with the same placeholders, and compiled as committed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bot.i18n import create_i18n, install
from warmup.i18n import ngettext

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
TAG = re.compile(r"</?[a-z]+[^>]*>")


def catalog(language: str):
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as file:
        return read_po(file)


def test_every_text_is_translated_with_the_same_placeholders_and_tags() -> None:
    russian = catalog("ru")
    messages = [message for message in russian if message.id]
    assert len(messages) > 100
    for message in messages:
        assert not message.fuzzy, f"fuzzy: {message.id!r}"
        # A plural text (ngettext) has one translation per Russian form, each of which
        # must say what the English plural says.
        source = message.id[-1] if message.pluralizable else message.id
        forms = message.string if message.pluralizable else (message.string,)
        if message.pluralizable:
            assert len(forms) == russian.num_plurals == 3, message.id
        for form in forms:
            assert form, f"not translated: {message.id!r}"
            assert sorted(PLACEHOLDER.findall(form)) == sorted(PLACEHOLDER.findall(source)), (
                message.id
            )
            assert sorted(TAG.findall(form)) == sorted(TAG.findall(source)), message.id


def forms(string: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """A text or its translation as a tuple of its plural forms (one for a plain text)."""
    return (string,) if isinstance(string, str) else tuple(string)


def test_the_compiled_catalog_matches_the_source() -> None:
    with (LOCALES / "ru" / "LC_MESSAGES" / "messages.mo").open("rb") as file:
        compiled = {
            forms(message.id): forms(message.string) for message in read_mo(file) if message.id
        }
    source = {forms(message.id): forms(message.string) for message in catalog("ru") if message.id}
    assert compiled == source, "run `make translations` and commit locales/"


def test_every_marked_text_is_in_the_catalog(tmp_path: Path) -> None:
    template = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_",
            "-k",
            "LazyText",
            "-k",
            "LazyPlural:1,2",
            "-o",
            str(template),
            "--no-location",
            "--omit-header",
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with template.open("rb") as file:
        marked = {message.id for message in read_po(file) if message.id}
    translated = {message.id for message in catalog("ru") if message.id}
    assert marked - translated == set(), "run `make translations` and translate the new texts"


@pytest.mark.parametrize(
    ("count", "russian"),
    [
        (1, "1 профиль"),
        (2, "2 профиля"),
        (5, "5 профилей"),
        (11, "11 профилей"),
        (21, "21 профиль"),
        (22, "22 профиля"),
        (0, "0 профилей"),
    ],
)
def test_counts_take_the_russian_plural_form_of_their_number(count: int, russian: str) -> None:
    i18n = create_i18n()
    install(i18n)
    with i18n.use_locale("ru"):
        assert ngettext("{count} profile", "{count} profiles", count).format(count=count) == russian
    with i18n.use_locale("en"):
        english = ngettext("{count} profile", "{count} profiles", count).format(count=count)
    assert english == f"{count} profile" + ("" if count == 1 else "s")
