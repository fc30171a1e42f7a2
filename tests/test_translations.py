"""The Russian catalog: complete, with the same placeholders, and compiled as committed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

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
        assert message.string, f"not translated: {message.id!r}"
        assert not message.fuzzy, f"fuzzy: {message.id!r}"
        assert sorted(PLACEHOLDER.findall(message.string)) == sorted(
            PLACEHOLDER.findall(message.id)
        ), message.id
        assert sorted(TAG.findall(message.string)) == sorted(TAG.findall(message.id)), message.id


def test_the_compiled_catalog_matches_the_source() -> None:
    with (LOCALES / "ru" / "LC_MESSAGES" / "messages.mo").open("rb") as file:
        compiled = {message.id: message.string for message in read_mo(file) if message.id}
    source = {message.id: message.string for message in catalog("ru") if message.id}
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
