"""Refusing a key given twice in one YAML mapping.

Plain YAML keeps the last value and silently drops the first: a second `profiles:` would
hide every profile above it, a second `goto:` in a step would hide the first.
"""

from __future__ import annotations

from typing import Any

import yaml

MERGE_TAG = "tag:yaml.org,2002:merge"


def key_lines(
    loader: yaml.SafeLoader, node: yaml.MappingNode, *, problem: str = "found duplicate key"
) -> dict[Any, int]:
    """Each key of the mapping with its line (1-based); a duplicate raises a YAML error
    whose problem reads `<problem> 'key'`."""
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
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"{problem} {key!r}",
                key_node.start_mark,
            )
        lines[key] = key_node.start_mark.line + 1
    return lines
