"""Load ``exporter.yaml`` once, check it whole, and return frozen settings.

Every problem is collected with its key path (``power.busy_watts_per_core: must
be >= 0``) and reported together in one :class:`ConfigError`. Secrets come from
the environment or from files named in the config, never from the YAML itself,
and are never logged: URLs are printed through :func:`mask_url`, and
:func:`scrub_logs` takes every configured secret out of every log line. Errors
name a file and a line, never its content: ``--config.file=/etc/shadow`` must not
print the hashes.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from exporter.config.budgets import DEMO_BUDGETS
from exporter.config.budgets import Budget as Budget

# Re-exported ("X as X"): what the rest of the exporter imports from exporter.config.
from exporter.config.redact import scrub as scrub
from exporter.config.redact import scrub_logs as scrub_logs
from exporter.config.schema import build
from exporter.config.settings import SOURCES as SOURCES
from exporter.config.settings import Config as Config
from exporter.config.settings import ConfigError as ConfigError
from exporter.config.settings import ExperimentsConfig as ExperimentsConfig
from exporter.config.settings import IntensityConfig as IntensityConfig
from exporter.config.settings import ModesConfig as ModesConfig
from exporter.config.settings import MongoConfig as MongoConfig
from exporter.config.settings import PrometheusConfig as PrometheusConfig
from exporter.config.settings import RecordingRulesConfig as RecordingRulesConfig
from exporter.config.values import NAME, shown
from exporter.config.values import check_url as check_url
from exporter.config.values import mask_url as mask_url
from exporter.config.values import parse_duration as parse_duration

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
        if node is not None and _expanded_size(node, {}) > MAX_BYTES:
            raise yaml.YAMLError(f"aliases expand it past {MAX_BYTES} bytes")
        return None if node is None else self.construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)  # merge keys (<<: *anchor) first, as SafeLoader does
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                line = key_node.start_mark.line + 1
                raise yaml.YAMLError(f"line {line}: key {_key(key)} given twice in one mapping")
            seen.add(key)
        return super().construct_mapping(node, deep)


def _key(key: object) -> str:
    """A key for a message, if it looks like a setting's name: not a line of /etc/shadow."""
    return shown(key) if NAME.fullmatch(str(key)) else "(not shown)"


def _expanded_size(node: yaml.Node, sizes: dict[int, float]) -> float:
    """Characters of the node with every alias in it written out (inf: recursive)."""
    if id(node) not in sizes:
        sizes[id(node)] = math.inf  # until done: an alias to a node inside itself stays inf
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1 + len(node.value)
        else:
            pairs = node.value if isinstance(node, yaml.MappingNode) else [(n,) for n in node.value]
            sizes[id(node)] = 1 + sum(_expanded_size(n, sizes) for pair in pairs for n in pair)
    return sizes[id(node)]


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
        mark = getattr(exc, "problem_mark", None)
        why = str(exc)  # ours: it names nothing from the file but what looks like a setting
        if mark is not None:  # PyYAML's: its text quotes the line, and maybe an alias or tag
            problem = re.sub(r"'[^']{3,}'", "'…'", str(getattr(exc, "problem", "")))
            why = f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
        raise ConfigError([f"{key}: {path} is not valid YAML: {why}"]) from None


def load(path: str | Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Read the YAML file (None: defaults only), apply the environment, and check it all."""
    data = {} if path is None else read_yaml(path, "config.file") or {}
    return build(data, os.environ if env is None else env, str(path or ""))


def with_demo(config: Config) -> Config:
    """The same configuration with all three sources replaced by the demo fleet, and the
    usage per workspace exported (its fleet is small). Without embodied models or budgets
    of its own, it gets the demo's, so a newcomer sees them."""
    from exporter.demo.fleet import embodied_models

    return replace(
        config,
        demo_sources=frozenset(SOURCES),
        workspace_usage=True,
        embodied={**embodied_models(), **config.embodied},
        budgets=config.budgets or DEMO_BUDGETS,
    )
