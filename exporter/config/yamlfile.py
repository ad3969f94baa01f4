"""Read a YAML configuration file safely: bounded in size, even through aliases.

Errors name the file and a line, never the file's content: ``--config.file`` pointed
at ``/etc/shadow`` must not print its hashes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from exporter.config.settings import ConfigError

MAX_BYTES = 1 << 20  # far above any real configuration; /dev/zero stops here


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice and aliases that expand past MAX_BYTES.

    PyYAML keeps the last of two keys silently, so a second ``prometheus:`` block would
    drop the first one's settings without a word. It shares an alias' node rather than
    copying it, so a 511-byte "billion laughs" loads fast, then anything that walks it
    (a check, an error message) takes minutes and gigabytes.
    """

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is not None and _expanded_size(node) > MAX_BYTES:
            raise yaml.YAMLError(f"aliases expand it past {MAX_BYTES} bytes")
        return None if node is None else self.construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)  # merge keys (<<: *anchor) first, as SafeLoader does
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {shown(key)} given twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _expanded_size(root: yaml.Node) -> float:
    """Characters of the document with every alias written out (inf for a recursive one)."""
    sizes: dict[int, float] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # children before parents, without recursion: nesting may be deep
        node, ready = stack.pop()
        if ready or isinstance(node, yaml.ScalarNode):
            children = [] if isinstance(node, yaml.ScalarNode) else _children(node)
            own = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
            sizes[id(node)] = 1 + own + sum(sizes[id(c)] for c in children)
        elif id(node) in sizes:
            continue
        else:
            sizes[id(node)] = float("inf")  # until its children are done: a cycle stays inf
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node) if id(c) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return list(node.value)


def shown(key: object) -> str:
    """A key for a message: its repr, cut to 40 characters."""
    text = repr(key)
    return text if len(text) <= 40 else text[:39] + "…"


def load_yaml(text: str) -> object:
    """Parse YAML safely, refusing duplicate keys and alias bombs (yaml.YAMLError)."""
    if len(text) > MAX_BYTES:
        raise yaml.YAMLError(f"larger than {MAX_BYTES} bytes")
    try:
        return yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise yaml.YAMLError("nested too deeply") from None


def read_yaml(path: str | Path, key: str) -> object:
    """The parsed file; ConfigError naming ``key``, the file and a line, never its content."""
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise ConfigError([f"{key}: {path} is larger than {MAX_BYTES} bytes"])
        return load_yaml(raw.decode("utf-8"))
    except OSError as exc:
        raise ConfigError([f"{key}: cannot read {path}: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{key}: {path} is not UTF-8 text: {exc.reason}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)  # not str(exc): it quotes the line
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        why = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{key}: {path} is not valid YAML{where}: {why}"]) from None
