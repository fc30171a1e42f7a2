"""The profiles file (PROFILES_FILE): parsing, validation and syncing into the database."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Mapping, Sequence
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
from warmup.file_problems import (
    STRING,
    VARIABLE_VALUE,
    VARIABLES,
    YAML_TAG_MISMATCH,
    YAML_TOO_DEEP,
    Problem,
    duplicate_key,
    invalid_yaml,
    more_problems,
    not_utf8,
    refusal,
    shortened,
    too_large,
    unreadable,
)
from warmup.i18n import LazyPlural, LazyText
from warmup.profiles_problems import ENTRY, ROOT, VARIABLE, Outline, problems_of
from warmup.yaml_keys import DuplicateKey, key_lines, load_fast_first, on_libyaml

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAX_FILE_BYTES = 1024 * 1024
MAX_PATH = 1024  # the database column that keeps a profile's seed_state
MAX_LINE = 360
"""Characters of a problem's line: it is shown in a chat."""
MAX_PROBLEMS = 20
"""Problems a ProfilesError's message names; the others are counted on a last line."""
NAME_MAX = 32
NAME_PATTERN = rf"^[A-Za-z0-9_-]{{1,{NAME_MAX}}}$"
VIEWPORT_MIN, VIEWPORT_MAX = 200, 8000


class ProfilesError(Exception):
    """The profiles file cannot be used: every problem found, one line each, each starting
    with the file's name (and the line, where YAML gives one), worded when it is read.

    `problems` holds them all (`python -m bot check` prints them all); the message, shown in
    a chat, names the first MAX_PROBLEMS and counts the rest.
    """

    def __init__(self, file_name: str, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("a ProfilesError needs a problem")
        self.file_name = file_name
        self.found = tuple(problems)
        super().__init__(file_name)

    @property
    def problems(self) -> tuple[str, ...]:
        """Every problem, one line each, in the language in use."""
        return tuple(self._line(problem) for problem in self.found)

    def __str__(self) -> str:
        lines = [self._line(problem) for problem in self.found[:MAX_PROBLEMS]]
        if len(self.found) > MAX_PROBLEMS:
            lines.append(self._line(Problem(None, more_problems(len(self.found) - MAX_PROBLEMS))))
        return "\n".join(lines)

    def _line(self, problem: Problem) -> str:
        return shortened(problem.describe(self.file_name), MAX_LINE)


class Proxy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server: str
    username: str | None = None
    password: str | None = None


class Viewport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    width: int = Field(ge=VIEWPORT_MIN, le=VIEWPORT_MAX)
    height: int = Field(ge=VIEWPORT_MIN, le=VIEWPORT_MAX)


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
            reason = LazyText("a string holds a lone surrogate like \\ud800; remove it")
            raise refusal("surrogate", reason)
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


def _mapping_of(model: type[BaseModel]) -> LazyText:
    return LazyText("a mapping with {keys}", keys=", ".join(model.model_fields))


_OUTLINE = Outline(
    keys_of={
        ROOT: tuple(ProfilesFile.model_fields),
        ENTRY: tuple(ProfileConfig.model_fields),
        "proxy": tuple(Proxy.model_fields),
        "viewport": tuple(Viewport.model_fields),
    },
    expected={
        ROOT: LazyText("a mapping with 'profiles' at the top"),
        "profiles": LazyText("a list of profiles"),
        ENTRY: LazyText("a mapping with the profile's name and settings"),
        "name": LazyPlural(
            "a name of letters, digits, _ and - (at most {count} character)",
            "a name of letters, digits, _ and - (at most {count} characters)",
            NAME_MAX,
        ),
        "tags": LazyText("a list of strings"),
        "tag": STRING,
        "vars": VARIABLES,
        VARIABLE: VARIABLE_VALUE,
        "storage_state": LazyText("the path of a storage-state file"),
        "proxy": _mapping_of(Proxy),
        "viewport": _mapping_of(Viewport),
        **dict.fromkeys(("server", "username", "password", "locale", "timezone"), STRING),
        **dict.fromkeys(
            ("width", "height"),
            LazyText("a whole number from {low} to {high}", low=VIEWPORT_MIN, high=VIEWPORT_MAX),
        ),
    },
)


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
        raise ProfilesError(shown.name, [unreadable(error)]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ProfilesError(shown.name, [too_large(MAX_FILE_BYTES)])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ProfilesError(shown.name, [not_utf8(raw, error)]) from None
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
        problems.extend(problems_of(error, _OUTLINE))
    if parsed is None or problems:
        problems.sort(key=lambda problem: problem[0])  # stable: in the order of the entries
        raise ProfilesError(path.name, [problem for _, problem in problems])
    return {profile.name: _resolved(profile, path.parent) for profile in parsed.profiles}


def _entry_problems(folder: Path, data: object) -> list[tuple[int, Problem]]:
    """What the schema cannot see, by entry index: a name given twice, a seed path too long.

    Read from the entries as written, so that they are reported along with the schema's
    problems of other entries; a value of the wrong type is the schema's to report.
    """
    entries = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return []
    problems: list[tuple[int, Problem]] = []
    names: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        name, seed = entry.get("name"), entry.get("storage_state")
        if isinstance(name, str):
            if name in names:
                reason = LazyText("duplicate name {name}", name=repr(name))
                problems.append((index, Problem(f"profiles[{index}]", reason)))
            names.add(name)
        if isinstance(seed, str) and len(str(folder / seed)) > MAX_PATH:
            reason = LazyPlural(
                "a path of at most {count} character",
                "a path of at most {count} characters",
                MAX_PATH,
            )
            problems.append((index, Problem(f"profiles[{index}].storage_state", reason)))
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
    key_lines(loader, node)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


_FastUniqueKeyLoader = on_libyaml(_UniqueKeyLoader)


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        return load_fast_first(text, _UniqueKeyLoader, _FastUniqueKeyLoader)
    except DuplicateKey as error:
        raise ProfilesError(path.name, [duplicate_key(error)]) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "syntax error"
        line = mark.line + 1 if mark is not None else None
        raise ProfilesError(path.name, [invalid_yaml(problem, line)]) from None
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        raise ProfilesError(path.name, [invalid_yaml(error.reason, line)]) from None
    except (yaml.YAMLError, ValueError, OverflowError) as error:
        # ValueError: a scalar YAML resolves but Python refuses, like 2001-13-45 or 5000 digits;
        # OverflowError: an escape like "\\U80000000" past any character
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ProfilesError(path.name, [invalid_yaml(first_line)]) from None
    except (LookupError, AttributeError):  # see YAML_TAG_MISMATCH
        raise ProfilesError(path.name, [Problem(None, YAML_TAG_MISMATCH)]) from None
    except RecursionError:
        raise ProfilesError(path.name, [Problem(None, YAML_TOO_DEEP)]) from None


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
