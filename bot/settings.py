"""Settings from the environment and `.env`, as listed in SPEC.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MAX_SESSIONS = 256
"""The most sessions one process may play at once: with about 70 MiB each, 18 GiB."""


class SettingsError(Exception):
    """A variable has a bad value; the message is one line naming it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    alert_chat_id: int | None = None
    database_url: str = "sqlite://data/warmup.sqlite3"
    data_dir: Path = Path("data")
    profiles_file: Path = Path("profiles.yaml")
    scenarios_dir: Path = Path("scenarios")
    browser_executable: str = "auto"
    headless: bool = True
    browser_recycle_after: int = Field(default=200, ge=0)
    """Contexts one Chromium serves before a fresh one takes the next; 0: never."""
    browser_memory_limit_mb: float = Field(default=0, ge=0)
    """PSS of Chromium's processes past which a fresh one takes the next contexts; 0: none."""
    browser_nice: int = Field(default=10, ge=0, le=19)
    """The niceness Chromium runs at, so that the bot wins the CPU it needs; 0: as the bot."""
    max_concurrency: Annotated[int, Field(ge=1, le=MAX_SESSIONS)] | Literal["auto"] = 4
    """Sessions played at once; `auto` follows the machine's CPU, memory and loop lag."""
    trace: Literal["off", "on-first-retry", "retain-on-failure", "on"] = "on-first-retry"
    run_timeout: float = Field(default=600, gt=0)
    max_attempts: int = Field(default=2, ge=1, le=10)
    progress_interval: float = Field(default=3.0, ge=0.1)
    retry_delay: float = Field(default=2.0, ge=0)
    auto_resume: bool = False
    artifacts_max_age_days: float = Field(default=14, gt=0)
    artifacts_max_mb: float = Field(default=500, gt=0)
    telegram_timeout: float = Field(default=60, gt=0)
    telegram_private_chat_rate: float = Field(default=1.0, gt=0)
    telegram_group_rate: float = Field(default=20.0, gt=0)
    telegram_overall_rate: float = Field(default=30.0, gt=0)
    lease_ttl: float = Field(default=30, ge=3)
    broker_url: str | None = None
    """Unset: runs are played in this process. `redis://…`: by `python -m bot worker`s."""
    log_level: str = "INFO"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("max_concurrency", mode="before")
    @classmethod
    def _count_or_auto(cls, value: object) -> object:
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if not text.isdecimal() or not 1 <= int(text) <= MAX_SESSIONS:
            raise ValueError(f"must be a number from 1 to {MAX_SESSIONS}, or auto")
        return int(text)

    @field_validator("alert_chat_id", "broker_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("broker_url")
    @classmethod
    def _check_broker(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must start with redis:// or rediss:// (or be empty: one process)")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level

    @property
    def artifacts_dir(self) -> Path:
        """Screenshots and traces of failed runs, side by side."""
        return self.data_dir / "artifacts"

    @property
    def states_dir(self) -> Path:
        return self.data_dir / "states"


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning pydantic's report into one line per the SPEC."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "settings"
        reason = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{variable}: {reason}") from None
