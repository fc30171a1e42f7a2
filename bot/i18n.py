"""Languages: English and Russian, chosen by the Telegram language of the user.

Texts are marked with `_()` (aiogram's gettext) and live in gettext catalogs under
`locales/`. Updates are answered in the language of their sender; a task's progress
messages and notifications, written in the background, in the language of the user who
started it (kept on the task). English is the fallback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware

from warmup.i18n import translator

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DEFAULT_LANGUAGE = "en"
LANGUAGES = ("en", "ru")


def create_i18n() -> I18n:
    return I18n(path=LOCALES_DIR, default_locale=DEFAULT_LANGUAGE, domain="messages")


def language_of(language_code: str | None) -> str:
    """`ru`, `ru-RU` → ru; anything else → en."""
    code = (language_code or "").split("-")[0].lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


class LanguageMiddleware(I18nMiddleware):
    """Outer middleware on every update, so that even a refusal speaks the user's language."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user: User | None = data.get("event_from_user")
        return language_of(user.language_code if user else None)


def install(i18n: I18n) -> None:
    """Make `i18n` the translator of this task and of every task it starts from now on.

    The engine's texts (warmup.i18n) follow it too; the locale is English until an update
    or a task's language says otherwise (`i18n.use_locale`).
    """
    I18n.set_current(i18n)
    translator.set(i18n.gettext)
