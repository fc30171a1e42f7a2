"""What both YAML readers (profiles and scenarios) share: refusing a key given twice in
one mapping, and reading with libyaml first.

Plain YAML keeps the last value and silently drops the first: a second `profiles:` would
hide every profile above it, a second `goto:` in a step would hide the first.
"""

from __future__ import annotations

import logging
from typing import Any

import yaml

logger = logging.getLogger(__name__)

MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKey(yaml.constructor.ConstructorError):
    """A key given twice in one mapping (its `problem` reads ``found duplicate key 'x'``)."""

    def __init__(self, key: object, context_mark: yaml.Mark, problem_mark: yaml.Mark) -> None:
        problem = f"found duplicate key {key!r}"
        super().__init__("while constructing a mapping", context_mark, problem, problem_mark)
        self.key = key


def key_lines(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, int]:
    """Each key of the mapping with its line (1-based); a duplicate raises DuplicateKey."""
    lines: dict[Any, int] = {}
    for key_node, _value_node in node.value:
        if key_node.tag == MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in lines
        except TypeError:  # unhashable: construct_mapping reports it
            continue
        if duplicate:
            raise DuplicateKey(key, node.start_mark, key_node.start_mark)
        lines[key] = key_node.start_mark.line + 1
    return lines


def on_libyaml(loader: type[yaml.SafeLoader]) -> type[Any] | None:
    """The loader's constructors on libyaml's parser, which reads a 1 MiB file about four
    times faster (the marks, hence the lines, are the same); None when PyYAML was built
    without libyaml."""
    if not yaml.__with_libyaml__:
        return None
    constructors = dict(loader.yaml_constructors)
    return type(f"C{loader.__name__}", (yaml.CSafeLoader,), {"yaml_constructors": constructors})


def load_fast_first(text: str, loader: type[yaml.SafeLoader], fast: type[Any] | None) -> Any:
    """Parse with `fast` (libyaml); a text it refuses is parsed again by `loader`, whose
    errors the caller reports.

    The second pass is what the error messages always quoted (libyaml words its problems
    differently and refuses a few documents PyYAML reads), and it only costs time for a
    text that is refused anyway or in one of those few corners. Both loaders are
    SafeLoaders: plain data only.
    """
    if fast is not None:
        try:
            return yaml.load(text, Loader=fast)
        except Exception as error:  # whatever it is, the second pass reports or reads it
            logger.debug("libyaml refused a file (%s): parsing it again", error)
    return yaml.load(text, Loader=loader)
