"""The profiles file (PROFILES_FILE): parsing, validation and syncing into the database."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from models import Profile
from warmup.yaml_keys import key_lines, load_fast_first, on_libyaml

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAX_FILE_BYTES = 1024 * 1024
MAX_PATH = 1024  # the database column that keeps a profile's seed_state
MAX_DETAIL = 300
MAX_PROBLEMS = 20
"""Problems a ProfilesError's message names; the others are counted on a last line."""
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"


class ProfilesError(Exception):
    """The profiles file cannot be used: every problem found, one line each, each starting
    with the file's name (and the line, where YAML gives one) as the only line used to.

    `problems` holds them all (`python -m bot check` prints them all); the message, shown in
    a chat, names the first MAX_PROBLEMS and counts the rest.
    """

    def __init__(self, file_name: str, problems: list[str]) -> None:
        self.problems = tuple(problems)
        lines = problems[:MAX_PROBLEMS]
        if len(problems) > MAX_PROBLEMS:
            lines.append(f"{file_name}: and {len(problems) - MAX_PROBLEMS} more problems")
        super().__init__("\n".join(lines))


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

    @model_validator(mode="after")
    def _no_lone_surrogates(self) -> ProfileConfig:
        """A YAML escape like "\\ud800" makes a string that neither the database nor Telegram
        can encode: refuse it here rather than fail later at every use of the profile."""
        if _has_surrogate(self.model_dump()):
            raise ValueError("a string holds a lone surrogate like \\ud800; remove it")
        return self

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


def load_profiles(path: Path, *, as_file: Path | None = None) -> dict[str, ProfileConfig]:
    """Read and validate the file; a missing file means no profiles yet.

    Whatever the file holds, the only error raised is ProfilesError, which names every problem
    found, each on a line starting with the file's name: the caller keeps the profiles it
    already has. `as_file` reads `path` as the file it is to become (a copy staged beside it
    before it replaces it): its name in the problems, its folder for relative seed paths.
    """
    shown = path if as_file is None else as_file
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise _error(shown, f"cannot read the file: {error.strerror or error}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _error(shown, f"larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise _error(shown, f"not UTF-8 text (byte 0x{raw[error.start]:02x})", line) from None
    with _collector_paused():
        return _profiles_of(shown, text)


def _profiles_of(path: Path, text: str) -> dict[str, ProfileConfig]:
    data = _parse_yaml(path, text)
    if data is None:
        return {}
    problems = _entry_problems(path.parent, data)
    parsed: ProfilesFile | None = None
    try:
        parsed = ProfilesFile.model_validate(data)
    except ValidationError as error:
        problems.extend(_described(error))
    if parsed is None or problems:
        problems.sort(key=lambda problem: problem[0])  # stable: in the order of the entries
        raise ProfilesError(path.name, [_line(path, detail) for _, detail in problems])
    return {profile.name: _resolved(profile, path.parent) for profile in parsed.profiles}


def _entry_problems(folder: Path, data: object) -> list[tuple[int, str]]:
    """What the schema cannot see, by entry index: a name given twice, a seed path too long.

    Read from the entries as written, so that they are reported along with the schema's
    problems of other entries; a value of the wrong type is the schema's to report.
    """
    entries = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return []
    problems: list[tuple[int, str]] = []
    names: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        name, seed = entry.get("name"), entry.get("storage_state")
        if isinstance(name, str):
            if name in names:
                problems.append((index, f"profiles[{index}]: duplicate name {name!r}"))
            names.add(name)
        if isinstance(seed, str) and len(str(folder / seed)) > MAX_PATH:
            detail = f"profiles[{index}].storage_state: a path of at most {MAX_PATH} characters"
            problems.append((index, detail))
    return problems


def _resolved(profile: ProfileConfig, folder: Path) -> ProfileConfig:
    """The profile with its seed path relative to the file's folder, as written, resolved."""
    if profile.storage_state is None or profile.storage_state.is_absolute():
        return profile
    return profile.model_copy(update={"storage_state": folder / profile.storage_state})


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while the file becomes objects.

    A 1 MiB file makes some 200,000 objects that stay alive until validated. Every full
    collection on the way walks them all while holding the GIL, up to a second each on a busy
    machine: the event loop's thread, waiting for the GIL, stalls, and parsing takes twice as
    long. Reference counting still frees everything meanwhile; only cycles wait for the end.
    """
    if not gc.isenabled():  # paused already (another parse): leave it to that one
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping: plain YAML keeps the last one
    and silently drops the first (a second `profiles:` would hide every profile above it)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    key_lines(loader, node, problem="duplicate key")
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


_FastUniqueKeyLoader = on_libyaml(_UniqueKeyLoader)


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        return load_fast_first(text, _UniqueKeyLoader, _FastUniqueKeyLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        raise _error(path, problem, mark.line + 1 if mark is not None else None) from None
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        raise _error(path, f"invalid YAML: {error.reason}", line) from None
    except (yaml.YAMLError, ValueError) as error:
        # ValueError: a scalar YAML resolves but Python refuses, like 2001-13-45 or 5000 digits
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise _error(path, f"invalid YAML: {first_line}") from None
    except (LookupError, AttributeError):
        # PyYAML's own constructors fail this way on an explicit tag with an empty or wrong
        # value, like `!!int ''`, `!!bool maybe` or `!!timestamp x`
        raise _error(path, "invalid YAML: a value does not fit its tag (like !!int)") from None
    except RecursionError:
        raise _error(path, "invalid YAML: nested too deeply") from None


def _error(path: Path, detail: str, line: int | None = None) -> ProfilesError:
    """A file refused for one problem (it cannot be read, or is not YAML)."""
    return ProfilesError(path.name, [_line(path, detail, line)])


def _line(path: Path, detail: str, line: int | None = None) -> str:
    """One line, starting with the file's name, of bounded length: it is shown in a chat."""
    where = path.name if line is None else f"{path.name}, line {line}"
    flat = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in detail[: MAX_DETAIL + 1]
    )
    if len(flat) > MAX_DETAIL:
        flat = flat[: MAX_DETAIL - 1] + "…"
    return f"{where}: {flat}"


def _described(error: ValidationError) -> list[tuple[int, str]]:
    """Every problem the schema found, with the index of its entry (-1: the file's outline)."""
    problems = []
    for problem in error.errors():
        loc = problem["loc"]
        index = loc[1] if loc[:1] == ("profiles",) and len(loc) > 1 else -1
        location = "".join(
            f"[{part}]" if isinstance(part, int) else f".{_short(str(part))}" for part in loc
        ).lstrip(".")
        detail = f"{location}: {problem['msg']}" if location else problem["msg"]
        problems.append((index if isinstance(index, int) else -1, detail))
    return problems


def _short(key: str, limit: int = 40) -> str:
    """A key of the file in an error's location: an unknown key may be of any length."""
    return key if len(key) <= limit else key[: limit - 1] + "…"


def _has_surrogate(value: object) -> bool:
    if isinstance(value, str | Path):
        return any("\ud800" <= char <= "\udfff" for char in str(value))
    if isinstance(value, Mapping):
        return any(_has_surrogate(key) or _has_surrogate(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_has_surrogate(item) for item in value)
    return False


SYNCED_FIELDS = ("tags", "vars", "options", "seed_state", "active")
"""The columns the file decides. The others (session_expired...) are the runs': never written."""
BATCH_SIZE = 100
"""Rows per statement. Building one statement blocks the loop (an UPDATE of 100 rows binds
1,800 values, tens of milliseconds of Python), so batches stay small; each is far below
SQLite's 32,766 variables per statement (SQLite >= 3.32)."""


@dataclass(frozen=True, slots=True)
class SyncCounts:
    created: int
    updated: int
    deactivated: int


async def sync_profiles(profiles: Mapping[str, ProfileConfig]) -> SyncCounts:
    """Mirror the file into the database; profiles no longer in the file become inactive.

    A bounded number of statements whatever the number of profiles: one read of the rows,
    then INSERTs of the new profiles, UPDATEs of the rows whose columns differ and UPDATEs
    of the rows to deactivate, by batches of BATCH_SIZE. No transaction around them all:
    the runs' own writes go between the batches instead of waiting for the whole file (only
    a sync writes these columns, and the catalog lets one sync run at a time).
    """
    stored = await _stored_columns()
    new = [name for name in profiles if name not in stored]
    changed = [
        (name, row_id, columns)
        for name, (row_id, old) in stored.items()
        if name in profiles and (columns := _columns(profiles[name])) != old
    ]
    gone = [
        row_id for name, (row_id, old) in stored.items() if old["active"] and name not in profiles
    ]
    for batch in _batches(new):
        rows = [Profile(name=name, **_columns(profiles[name])) for name in batch]
        await Profile.bulk_create(rows, batch_size=BATCH_SIZE)
    for batch in _batches(changed):
        # rows holding the synced columns only: bulk_update writes just the fields it is given
        rows = [Profile(id=row_id, name=name, **columns) for name, row_id, columns in batch]
        fields = [*SYNCED_FIELDS, "updated_at"]  # updated_at: bulk_update sets it to now
        await Profile.bulk_update(rows, fields=fields, batch_size=BATCH_SIZE)
    for batch in _batches(gone):
        await Profile.filter(id__in=batch).update(active=False)
    counts = SyncCounts(created=len(new), updated=len(changed), deactivated=len(gone))
    logger.info(
        "profiles synced: %d new, %d changed, %d deactivated",
        counts.created,
        counts.updated,
        counts.deactivated,
    )
    return counts


async def _stored_columns() -> dict[str, tuple[int, dict[str, Any]]]:
    """Every profile row by name: its id and SYNCED_FIELDS (plain values: no model to build)."""
    rows = await Profile.all().values_list("id", "name", *SYNCED_FIELDS)
    return {
        name: (row_id, dict(zip(SYNCED_FIELDS, values, strict=True)))
        for row_id, name, *values in rows
    }


def _columns(config: ProfileConfig) -> dict[str, Any]:
    """The SYNCED_FIELDS of a profile of the file, as the database gives them back."""
    return {
        "tags": list(config.tags),
        "vars": dict(config.vars),
        "options": config.context_options(),
        "seed_state": str(config.storage_state) if config.storage_state else None,
        "active": True,
    }


def _batches(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), BATCH_SIZE):
        yield items[start : start + BATCH_SIZE]
