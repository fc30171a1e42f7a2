"""Which profiles a `/warmup` target means: `all`, `name`, `a,b,c` or `tag:<tag>`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from warmup.i18n import _
from warmup.profiles import ProfileConfig

SHOWN_LIMIT = 40
"""Echoed names and tags are cut to this: what was typed may be thousands of characters,
and the reply must stay within one message."""


class TargetError(ValueError):
    pass


def resolve_target(target: str, profiles: Mapping[str, ProfileConfig]) -> list[str]:
    """Profile names in the order of the profiles file, or TargetError saying what is wrong."""
    target = target.strip()
    if not profiles:
        raise TargetError(_("no profiles are configured yet: add them to the profiles file"))
    if target == "all":
        return list(profiles)
    if target.startswith("tag:"):
        tag = target.removeprefix("tag:").strip()
        if not tag:
            raise TargetError(
                _("name a tag after tag:, like tag:eu; tags in use: {tags}").format(
                    tags=_tags(profiles)
                )
            )
        chosen = [name for name, profile in profiles.items() if tag in profile.tags]
        if not chosen:
            raise TargetError(
                _("no profile has the tag '{tag}'; tags in use: {tags}").format(
                    tag=shown(tag), tags=_tags(profiles)
                )
            )
        return chosen
    names = [name.strip() for name in target.split(",") if name.strip()]
    if not names:
        raise TargetError(
            _("name a target: all, a profile, names separated by commas, or tag:<tag>")
        )
    unknown = list(dict.fromkeys(name for name in names if name not in profiles))
    if unknown:
        template = (
            _("unknown profiles: {names}; known: {known}")
            if len(unknown) > 1
            else _("unknown profile: {names}; known: {known}")
        )
        raise TargetError(
            template.format(
                names=listed([shown(name) for name in unknown]), known=listed(list(profiles))
            )
        )
    return list(dict.fromkeys(names))


def shown(text: str, limit: int = SHOWN_LIMIT) -> str:
    """What the operator typed, fit to be quoted in one line of a reply: non-printable
    characters escaped, and cut to ``limit`` characters."""
    printable = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text[: limit + 1]
    )
    return printable if len(printable) <= limit else printable[: limit - 1] + "…"


def _tags(profiles: Mapping[str, ProfileConfig]) -> str:
    tags = sorted({tag for profile in profiles.values() for tag in profile.tags})
    return listed([shown(tag) for tag in tags]) if tags else _("none")


def listed(items: Sequence[str], limit: int = 20) -> str:
    """The first `limit` items, comma-separated, and how many more there are."""
    joined = ", ".join(items[:limit])
    if len(items) <= limit:
        return joined
    return joined + " " + _("and {count} more").format(count=len(items) - limit)
