"""The profiles file (PROFILES_FILE): parsing, validation and syncing into the database."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models import Profile

MAX_FILE_BYTES = 1024 * 1024
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"


class ProfilesError(Exception):
    """The profiles file cannot be used; the message says where and why."""


class Proxy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server: str
    username: str | None = None
    password: str | None = None


class Viewport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    width: int = Field(ge=200, le=8000)
    height: int = Field(ge=200, le=8000)


class ProfileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    tags: tuple[str, ...] = ()
    vars: dict[str, str] = Field(default_factory=dict)
    storage_state: Path | None = None
    proxy: Proxy | None = None
    locale: str | None = None
    timezone: str | None = None
    viewport: Viewport | None = None

    @field_validator("vars", mode="before")
    @classmethod
    def _stringify_numbers(cls, value: object) -> object:
        if isinstance(value, Mapping):
            return {
                key: str(item)
                if isinstance(item, int | float) and not isinstance(item, bool)
                else item
                for key, item in value.items()
            }
        return value

    def context_options(self) -> dict[str, Any]:
        """Keyword arguments for `Browser.new_context`."""
        options: dict[str, Any] = {}
        if self.locale:
            options["locale"] = self.locale
        if self.timezone:
            options["timezone_id"] = self.timezone
        if self.viewport:
            options["viewport"] = self.viewport.model_dump()
        if self.proxy:
            options["proxy"] = self.proxy.model_dump(exclude_none=True)
        return options


class ProfilesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profiles: list[ProfileConfig] = Field(default_factory=list)


def load_profiles(path: Path) -> dict[str, ProfileConfig]:
    """Read and validate the file; a missing file means no profiles yet."""
    if not path.exists():
        return {}
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ProfilesError(f"{path.name}: larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ProfilesError(f"{path.name}: not UTF-8 text") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ProfilesError(f"{path.name}{where}: {problem}") from None
    if data is None:
        return {}
    try:
        parsed = ProfilesFile.model_validate(data)
    except ValidationError as error:
        raise ProfilesError(f"{path.name}: {_describe(error)}") from None
    profiles: dict[str, ProfileConfig] = {}
    for index, profile in enumerate(parsed.profiles):
        if profile.name in profiles:
            raise ProfilesError(f"{path.name}: profiles[{index}]: duplicate name {profile.name!r}")
        if profile.storage_state is not None and not profile.storage_state.is_absolute():
            profile = profile.model_copy(
                update={"storage_state": path.parent / profile.storage_state}
            )
        profiles[profile.name] = profile
    return profiles


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    location = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
    ).lstrip(".")
    return f"{location}: {first['msg']}" if location else first["msg"]


async def sync_profiles(profiles: Mapping[str, ProfileConfig]) -> None:
    """Mirror the file into the database; profiles no longer in the file become inactive."""
    for config in profiles.values():
        await Profile.update_or_create(
            name=config.name,
            defaults={
                "tags": list(config.tags),
                "vars": config.vars,
                "options": config.context_options(),
                "seed_state": str(config.storage_state) if config.storage_state else None,
                "active": True,
            },
        )
    await Profile.filter(active=True).exclude(name__in=list(profiles)).update(active=False)
