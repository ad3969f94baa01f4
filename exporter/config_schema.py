"""The shape of ``exporter.yaml``: walk the parsed YAML, collecting every problem with its path."""

from __future__ import annotations

import math
import ssl
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from exporter import config as c
from exporter.forecast import parse_working_hours
from exporter.pricing import PowerModel
from exporter.region import parse_region

T = TypeVar("T")
_TRUE = {"1", "true", "yes", "on"}
# The earlier service's switches, one per source, in the order of config.SOURCES.
FAKE_VARIABLES = ("USE_FAKE_PROMETHEUS", "USE_FAKE_MONGODB", "USE_FAKE_CARBON_INTENSITY")


class _Section:
    """Reads one mapping of the YAML, remembering which keys were used and what was wrong."""

    def __init__(self, data: object, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        if data is None:
            data = {}
        if not isinstance(data, dict):
            problems.append(f"{path or 'config'}: expected a mapping, got {type(data).__name__}")
            data = {}
        self.data: dict[Any, Any] = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, default: T, convert: Callable[[Any], T]) -> T:
        self.used.add(name)
        if name not in self.data or self.data[name] is None:
            return default
        try:
            return convert(self.data[name])
        except (TypeError, ValueError, OSError) as exc:
            self.problems.append(f"{self.key(name)}: {exc}")
            return default

    def section(self, name: str) -> _Section:
        self.used.add(name)
        return _Section(self.data.get(name), self.key(name), self.problems)

    def done(self) -> None:
        for k in self.data:
            if str(k) not in self.used:
                self.problems.append(f"{self.key(str(k))}: unknown key")


def _number(minimum: float = 0.0, positive: bool = False) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        if not math.isfinite(value) or value < minimum or (positive and value <= 0):
            bound = "> 0" if positive else f">= {minimum:g}"
            raise ValueError(f"must be {bound}, got {value!r}")
        return float(value)

    return convert


def _duration(value: Any) -> float:
    seconds = c.parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be a positive duration, got {value!r}")
    return seconds


def _zero_or_duration(value: Any) -> float:
    seconds = c.parse_duration(value)
    if seconds < 0:
        raise ValueError(f"must be 0 or a positive duration, got {value!r}")
    return seconds


def _greenest_window(value: Any) -> float:
    seconds = c.parse_duration(value)
    if seconds <= 0 or seconds > 86400 or seconds % 1800:
        raise ValueError(f"must be a multiple of 30m between 30m and 24h, got {value!r}")
    return seconds


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _http_url(value: Any) -> str:
    return c.check_url(_string(value))


def _mongo_uri(value: Any) -> str:
    return c.check_mongo_uri(_string(value))


def _database(value: Any) -> str:
    name = _string(value)
    if len(name) > 63 or any(ch in name for ch in '/\\. "$\0'):
        raise ValueError(f"not a MongoDB database name: {name!r}")
    return name


def _ca_file(value: Any) -> str:
    """A CA bundle that loads: an unreadable or non-PEM file is a config error, not a crash."""
    path = _string(value)
    ssl.create_default_context(cafile=path)  # raises OSError (ssl.SSLError is one) if unusable
    return path


def _override(
    env: Mapping[str, str],
    name: str,
    value: T,
    convert: Callable[[str], T],
    problems: list[str],
) -> T:
    """Environment variable ``name`` if set (checked like the key it overrides), else ``value``."""
    raw = env.get(name)
    if not raw:
        return value
    try:
        return convert(raw)
    except ValueError as exc:
        problems.append(f"{name} (environment variable): {exc}")
        return value


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError("expected a mapping of strings to strings")
    return dict(value)


def _modes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
        raise ValueError("expected a list of node_exporter mode names")
    if not value:  # PromQL cannot select no modes; zero watts is how to leave a class out
        raise ValueError("expected at least one node_exporter mode name")
    return tuple(value)


def _instruments(value: Any) -> dict[str, tuple[str, ...]]:
    """Instrument -> machine_name values, e.g. {WISH: [Diffraction]}."""
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of instrument names to lists of machine_name values")
    for k, v in value.items():
        if not isinstance(v, list) or not all(isinstance(m, str) and m for m in v):
            raise ValueError(f"{k}: expected a list of machine_name values, got {v!r}")
    return {str(k): tuple(v) for k, v in value.items()}


def _choice(*allowed: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return str(value)

    return convert


def _power(section: _Section, default: PowerModel) -> PowerModel:
    model = PowerModel(
        section.get("busy_watts_per_core", default.busy_watts_per_core, _number()),
        section.get("idle_watts_per_core", default.idle_watts_per_core, _number()),
        section.get("pue", default.pue, _number(minimum=1.0)),
    )
    return model


def _recording_rules(section: _Section) -> c.RecordingRulesConfig:
    d = c.RecordingRulesConfig()
    rules = c.RecordingRulesConfig(
        busy_metric=section.get("busy_metric", d.busy_metric, lambda v: c.check_metric(_string(v))),
        idle_metric=section.get("idle_metric", d.idle_metric, lambda v: c.check_metric(_string(v))),
        heartbeat_metric=section.get(
            "heartbeat_metric", d.heartbeat_metric, lambda v: c.check_metric(_string(v))
        ),
        interval_seconds=section.get("interval", d.interval_seconds, _duration),
        range_seconds=section.get("range", d.range_seconds, _duration),
    )
    section.done()
    names = (rules.busy_metric, rules.idle_metric, rules.heartbeat_metric)
    if len(set(names)) < len(names):
        section.problems.append(
            f"{section.path}: busy_metric, idle_metric and heartbeat_metric must differ"
        )
    return rules


def build(data: object, env: Mapping[str, str]) -> c.Config:
    """Parsed YAML plus environment to a Config; ConfigError lists every problem found."""
    problems: list[str] = []
    root = _Section(data, "", problems)
    d = c.Config()

    p = root.section("prometheus")
    dp = c.PrometheusConfig()
    prometheus = c.PrometheusConfig(
        url=_override(env, "PROMETHEUS_URL", p.get("url", dp.url, _http_url), _http_url, problems),
        timeout_seconds=p.get("timeout", dp.timeout_seconds, _duration),
        headers=p.get("headers", {}, _str_map),
        bearer_token=p.get(
            "bearer_token_file", None, lambda v: c.read_secret(v, env, "PROMETHEUS_BEARER_TOKEN")
        )
        or env.get("PROMETHEUS_BEARER_TOKEN"),
        username=p.get("username", None, _string),
        password=p.get(
            "password_file", None, lambda v: c.read_secret(v, env, "PROMETHEUS_PASSWORD")
        )
        or env.get("PROMETHEUS_PASSWORD"),
        tls_verify=p.get("tls_verify", True, _bool),
        ca_file=p.get("ca_file", None, _ca_file),
        gzip=p.get("gzip", dp.gzip, _bool),
        metric=p.get("metric", dp.metric, lambda v: c.check_metric(_string(v))),
        host_label=p.get("host_label", dp.host_label, lambda v: c.check_label(_string(v))),
        matchers=p.get(
            "matchers", {}, lambda v: {c.check_label(k): x for k, x in _str_map(v).items()}
        ),
        step_seconds=p.get("split_step", dp.step_seconds, _duration),
        source=p.get("source", dp.source, _choice("raw", "recording_rules")),
        recording_rules=_recording_rules(p.section("recording_rules")),
    )
    p.done()

    m = root.section("mongodb")
    dm = c.MongoConfig()
    mongodb = c.MongoConfig(
        uri=_override(env, "MONGO_URI", m.get("uri", dm.uri, _mongo_uri), _mongo_uri, problems),
        database=_override(
            env, "MONGO_DATABASE", m.get("database", dm.database, _database), _database, problems
        ),
        timeout_seconds=m.get("timeout", dm.timeout_seconds, _duration),
        username=m.get("username", None, _string),
        password=m.get("password_file", None, lambda v: c.read_secret(v, env, "MONGO_PASSWORD"))
        or env.get("MONGO_PASSWORD"),
    )
    m.done()

    i = root.section("carbon_intensity")
    di = c.IntensityConfig()
    intensity = c.IntensityConfig(
        source=i.get("source", di.source, _choice("api", "fixed")),
        url=i.get("url", di.url, _http_url),
        timeout_seconds=i.get("timeout", di.timeout_seconds, _duration),
        fixed_gco2_per_kwh=i.get("fixed_gco2_per_kwh", di.fixed_gco2_per_kwh, _number()),
        default_gco2_per_kwh=i.get("default_gco2_per_kwh", di.default_gco2_per_kwh, _number()),
        region=i.get("region", di.region, parse_region),
        greenest_window_seconds=i.get(
            "greenest_window", di.greenest_window_seconds, _greenest_window
        ),
        working_hours=i.get("working_hours", di.working_hours, parse_working_hours),
    )
    i.done()

    pw = root.section("power")
    power = _power(pw, d.power)
    machines = pw.section("machines")
    machine_power = {}
    for name in list(machines.data):
        sub = machines.section(str(name))
        machine_power[str(name)] = _power(sub, power)
        sub.done()
    pw.done()

    mo = root.section("modes")
    modes = c.ModesConfig(
        mo.get("busy", d.modes.busy, _modes), mo.get("idle", d.modes.idle, _modes)
    )
    mo.done()
    if set(modes.busy) & set(modes.idle):
        problems.append(
            f"modes: {sorted(set(modes.busy) & set(modes.idle))} are both busy and idle"
        )

    ex = root.section("experiments")
    experiments = c.ExperimentsConfig(ex.get("instruments", {}, _instruments))
    ex.done()

    demo = frozenset(
        s
        for s, var in zip(c.SOURCES, FAKE_VARIABLES, strict=True)
        if env.get(var, "").strip().lower() in _TRUE
    )
    config = c.Config(
        window_seconds=root.get("window", d.window_seconds, _duration),
        scrape_budget_seconds=root.get("scrape_budget", d.scrape_budget_seconds, _duration),
        min_refresh_interval_seconds=root.get(
            "min_refresh_interval", d.min_refresh_interval_seconds, _zero_or_duration
        ),
        workspace_info=root.get("workspace_info", d.workspace_info, _bool),
        facilities=root.get("facilities", dict(d.facilities), _str_map),
        power=power,
        machine_power=machine_power,
        modes=modes,
        prometheus=prometheus,
        mongodb=mongodb,
        carbon_intensity=intensity,
        experiments=experiments,
        demo_sources=demo,
    )
    root.done()
    for key, seconds in (
        ("prometheus.timeout", prometheus.timeout_seconds),
        ("mongodb.timeout", mongodb.timeout_seconds),
        ("carbon_intensity.timeout", intensity.timeout_seconds),
    ):
        if seconds >= config.scrape_budget_seconds:
            budget = config.scrape_budget_seconds
            problems.append(f"{key}: {seconds:g}s must be below scrape_budget ({budget:g}s)")
    if prometheus.source == "recording_rules" and "job" in prometheus.matchers:
        # It would match no recorded series: every host would vanish without an error.
        problems.append(
            "prometheus.matchers.job: the recording rules count a node scraped by several "
            "jobs once and record no job label, so this matches none of their series: "
            "select the job in prometheus/ada-carbon-rules.yml instead"
        )
    if problems:
        raise c.ConfigError(problems)
    return config
