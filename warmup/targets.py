"""Which profiles a `/warmup` target means: `all`, `name`, `a,b,c` or `tag:<tag>`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from warmup.profiles import ProfileConfig


class TargetError(ValueError):
    pass


def resolve_target(target: str, profiles: Mapping[str, ProfileConfig]) -> list[str]:
    """Profile names in the order of the profiles file, or TargetError saying what is wrong."""
    target = target.strip()
    if not profiles:
        raise TargetError("no profiles are configured yet: add them to the profiles file")
    if target == "all":
        return list(profiles)
    if target.startswith("tag:"):
        tag = target.removeprefix("tag:")
        chosen = [name for name, profile in profiles.items() if tag in profile.tags]
        if not chosen:
            raise TargetError(f"no profile has the tag '{tag}'; tags in use: {_tags(profiles)}")
        return chosen
    names = [name.strip() for name in target.split(",") if name.strip()]
    if not names:
        raise TargetError("name a target: all, a profile, names separated by commas, or tag:<tag>")
    unknown = [name for name in names if name not in profiles]
    if unknown:
        raise TargetError(
            f"unknown profile{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; "
            f"known: {_limited(list(profiles))}"
        )
    return list(dict.fromkeys(names))


def _tags(profiles: Mapping[str, ProfileConfig]) -> str:
    tags = sorted({tag for profile in profiles.values() for tag in profile.tags})
    return _limited(tags) if tags else "none"


def _limited(items: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
