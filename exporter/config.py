"""Load ``exporter.yaml`` once, check it whole, and return frozen settings.

Every problem is collected with its key path (``power.busy_watts_per_core: must
be >= 0``) and reported together in one :class:`ConfigError`. Secrets come from
the environment or from files named in the config, never from the YAML itself,
and are never logged (see :func:`mask_url`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from exporter.forecast import WorkingHours
from exporter.pricing import PowerModel
from exporter.region import NATIONAL, Region
from exporter.sources.prometheus.promql import label_name, metric_name

DEFAULT_FACILITIES = {
    "IDAaaS": "ISIS",
    "CDAaaS": "CLF",
    "DDAaaS": "Development",
    "TDAaaS": "Training",
}
SOURCES = ("prometheus", "mongodb", "carbon_intensity")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists each one with its key path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RecordingRulesConfig:
    """The per-host rates recorded by ``prometheus/ada-carbon-rules.yml``."""

    busy_metric: str = "instance:node_cpu_busy_seconds:rate2m"
    idle_metric: str = "instance:node_cpu_idle_seconds:rate2m"
    heartbeat_metric: str = "ada_carbon:rules:heartbeat"  # one series: the evaluation times
    interval_seconds: float = 60.0  # the rule group's evaluation interval
    range_seconds: float = 120.0  # the range of rate() in the rules


@dataclass(frozen=True)
class PrometheusConfig:
    url: str = "http://localhost:9090"
    timeout_seconds: float = 5.0
    headers: Mapping[str, str] = field(default_factory=dict)
    bearer_token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_verify: bool = True
    ca_file: str | None = None
    gzip: bool = False  # gzipped answers: worth it across a slow link, not beside Prometheus
    metric: str = "node_cpu_seconds_total"
    host_label: str = "instance"
    matchers: Mapping[str, str] = field(default_factory=dict)
    step_seconds: float = 60.0
    source: str = "raw"  # "raw" (metric above) or "recording_rules"
    recording_rules: RecordingRulesConfig = field(default_factory=RecordingRulesConfig)


@dataclass(frozen=True)
class MongoConfig:
    uri: str = field(default="mongodb://localhost:27017", repr=False)
    database: str = "ada"
    timeout_seconds: float = 3.0
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class IntensityConfig:
    source: str = "api"  # "api" or "fixed"
    url: str = "https://api.carbonintensity.org.uk"
    timeout_seconds: float = 3.0
    fixed_gco2_per_kwh: float = 200.0
    default_gco2_per_kwh: float = 200.0
    region: Region = NATIONAL
    greenest_window_seconds: float = 3 * 3600.0
    working_hours: WorkingHours = field(default_factory=WorkingHours)  # Europe/London


@dataclass(frozen=True)
class ModesConfig:
    busy: tuple[str, ...] = ("user", "nice", "system", "irq", "softirq")
    idle: tuple[str, ...] = ("idle", "iowait")


@dataclass(frozen=True)
class ExperimentsConfig:
    """The machine types (machine_name) each instrument's experiments use (exporter.experiments)."""

    instruments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    window_seconds: float = 3600.0
    scrape_budget_seconds: float = 8.0
    min_refresh_interval_seconds: float = 0.0
    workspace_info: bool = True
    facilities: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_FACILITIES))
    power: PowerModel = field(default_factory=PowerModel)
    machine_power: Mapping[str, PowerModel] = field(default_factory=dict)
    modes: ModesConfig = field(default_factory=ModesConfig)
    prometheus: PrometheusConfig = field(default_factory=PrometheusConfig)
    mongodb: MongoConfig = field(default_factory=MongoConfig)
    carbon_intensity: IntensityConfig = field(default_factory=IntensityConfig)
    experiments: ExperimentsConfig = field(default_factory=ExperimentsConfig)
    demo_sources: frozenset[str] = frozenset()  # sources replaced by the built-in demo

    def power_for(self, machine_name: str) -> PowerModel:
        """The power model of a machine type: its override, else the default."""
        return self.machine_power.get(machine_name, self.power)


def parse_duration(value: object) -> float:
    """Seconds from a number or a Prometheus-style duration such as ``1h30m``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite duration, got {value!r}")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m and any(m.groups()):
            d, h, mi, s = (int(g or 0) for g in m.groups())
            return float(((d * 24 + h) * 60 + mi) * 60 + s)
    raise ValueError(f"expected seconds or a duration like 1h or 90s, got {value!r}")


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe to log."""
    # Up to the authority's last "@": an unescaped "@" in a password stays hidden too.
    return re.sub(r"(//[^/@:]*:)[^/]*@", r"\1***@", url)


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping.

    PyYAML keeps the last silently, so a second ``prometheus:`` block would drop the
    first one's settings without a word.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)  # merge keys (<<: *anchor) first, as SafeLoader does
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(text: str) -> object:
    """Parse YAML safely, refusing duplicate keys (yaml.YAMLError)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def load(path: str | Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Read the YAML file (None: defaults only), apply the environment, and check it all."""
    env = os.environ if env is None else env
    data: object = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([f"config.file: cannot read {path}: {exc.strerror}"]) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError([f"config.file: {path} is not UTF-8 text: {exc.reason}"]) from exc
        try:
            data = load_yaml(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError([f"config.file: {path} is not valid YAML: {exc}"]) from exc
    from exporter.config_schema import build  # local import keeps the schema module separate

    return build(data, env)


def with_demo(config: Config) -> Config:
    """The same configuration with all three sources replaced by the demo fleet."""
    return replace(config, demo_sources=frozenset(SOURCES))


def check_url(value: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """Raise ValueError unless ``value`` is an absolute URL of one of ``schemes``."""
    parts = urlsplit(value)
    try:
        _ = parts.port  # raises ValueError for a port out of range or not a number
        well_formed = bool(parts.hostname) and not any(ch.isspace() for ch in value)
    except ValueError:
        well_formed = False
    if parts.scheme not in schemes or not well_formed:
        expected = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"expected an absolute {expected} URL, got {mask_url(value)!r}")
    return value


def check_mongo_uri(value: str) -> str:
    """Raise ValueError unless ``value`` is a MongoDB connection string pymongo accepts."""
    check_url(value, ("mongodb", "mongodb+srv"))
    if value.startswith("mongodb://"):  # +srv would need a DNS lookup here
        from pymongo.errors import PyMongoError
        from pymongo.uri_parser import parse_uri

        try:
            parse_uri(value)
        except (PyMongoError, ValueError) as exc:
            raise ValueError(f"not a valid MongoDB URI {mask_url(value)!r}: {exc}") from None
    return value


def check_label(value: str) -> str:
    return label_name(value)


def check_metric(value: str) -> str:
    return metric_name(value)


def read_secret(value: Any, env: Mapping[str, str], env_name: str) -> str | None:
    """A secret from the environment variable, else from the file named by ``value``."""
    if env.get(env_name):
        return env[env_name]
    if value is None:
        return None
    return Path(str(value)).read_text(encoding="utf-8").strip()
