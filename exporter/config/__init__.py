"""Load ``exporter.yaml`` once, check it whole, and return frozen settings.

Every problem is collected with its key path (``power.busy_watts_per_core: must
be >= 0``) and reported together in one :class:`ConfigError`. Secrets come from
the environment or from files named in the config, never from the YAML itself,
and are never logged: URLs are printed through :func:`mask_url`, and
:func:`scrub_logs` takes every configured secret out of every log line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from exporter.config.redact import scrub_logs
from exporter.config.schema import build, parse_duration
from exporter.config.settings import (
    SOURCES,
    Config,
    ConfigError,
    ExperimentsConfig,
    IntensityConfig,
    ModesConfig,
    MongoConfig,
    PrometheusConfig,
    RecordingRulesConfig,
)
from exporter.config.urls import check_url, mask_url
from exporter.config.yamlfile import load_yaml, read_yaml

__all__ = [
    "SOURCES",
    "Config",
    "ConfigError",
    "ExperimentsConfig",
    "IntensityConfig",
    "ModesConfig",
    "MongoConfig",
    "PrometheusConfig",
    "RecordingRulesConfig",
    "check_url",
    "load",
    "load_yaml",
    "mask_url",
    "parse_duration",
    "read_yaml",
    "scrub_logs",
    "with_demo",
]


def load(path: str | Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Read the YAML file (None: defaults only), apply the environment, and check it all."""
    data = {} if path is None else read_yaml(path, "config.file") or {}
    return build(data, os.environ if env is None else env, str(path or ""))


def with_demo(config: Config) -> Config:
    """The same configuration with all three sources replaced by the demo fleet."""
    return replace(config, demo_sources=frozenset(SOURCES))
