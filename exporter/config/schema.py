"""The shape of ``exporter.yaml``: walk the parsed YAML, collecting every problem with its path."""

from __future__ import annotations

import logging
import math
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

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
from exporter.config.urls import check_mongo_uri, check_url, mask_url, with_scheme
from exporter.config.yamlfile import shown
from exporter.energy import PowerModel
from exporter.forecast import parse_working_hours
from exporter.promql import label_name, metric_name
from exporter.region import parse_region

T = TypeVar("T")
log = logging.getLogger("exporter.config")
_TRUE = {"1", "true", "yes", "on"}
# The earlier service's switches, one per source, in the order of settings.SOURCES.
FAKE_VARIABLES = ("USE_FAKE_PROMETHEUS", "USE_FAKE_MONGODB", "USE_FAKE_CARBON_INTENSITY")
_DURATION = re.compile(r"(?:(\d{1,9})d)?(?:(\d{1,9})h)?(?:(\d{1,9})m)?(?:(\d{1,9})s)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # what a mistyped setting looks like
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token
_SECRET_BYTES = 16384
MAX_STEPS = 11000  # points per series Prometheus answers in one range query


class _Section:
    """Reads one mapping of the YAML, remembering which keys were used and what was wrong."""

    def __init__(
        self, data: object, path: str, problems: list[str], env: Mapping[str, str]
    ) -> None:
        self.path, self.problems, self.env = path, problems, env
        if data is None:
            data = {}
        if not isinstance(data, dict):
            problems.append(f"{path or 'config'}: expected a mapping, got {type(data).__name__}")
            data = {}
        self.data: dict[Any, Any] = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(
        self,
        name: str,
        default: T,
        convert: Callable[[Any], T],
        var: str = "",
        from_env: Any = None,
    ) -> T:
        """The key's value, checked; environment variable ``var`` wins (read by ``from_env``)."""
        self.used.add(name)
        if self.data.get(name) is not None:
            default = self._convert(self.key(name), self.data[name], convert, default)
        if var and self.env.get(var):
            where = f"{var} (environment variable)"
            default = self._convert(where, self.env[var], from_env or convert, default)
        return default

    def _convert(self, where: str, raw: object, convert: Callable[[Any], T], default: T) -> T:
        try:
            return convert(raw)
        except (TypeError, ValueError, OSError) as exc:
            self.problems.append(f"{where}: {exc}")
            return default

    def section(self, name: str) -> _Section:
        self.used.add(name)
        return _Section(self.data.get(name), self.key(name), self.problems, self.env)

    def done(self) -> None:
        self.problems += unknown_keys(self.path, [k for k in self.data if str(k) not in self.used])


def unknown_keys(path: str, keys: Sequence[object], file: str = "") -> list[str]:
    """Problems for keys nobody asked for: named if they look like a setting, else counted.

    A file that is not a configuration (``/etc/shadow``) parses as keys: never printed.
    """
    names = [str(k) for k in keys if _NAME.fullmatch(str(k))]
    found = [
        f"{f'{path}.' if path else ''}{k if len(k) <= 40 else k[:39] + '…'}: unknown key"
        for k in names
    ]
    if len(keys) > len(names):
        found.append(
            f"{path or 'config'}: {len(keys) - len(names)} unknown keys that are not "
            f"setting names, not shown: is {file or 'this'} a configuration file?"
        )
    return found


def _finite(value: int | float, what: str) -> float:
    try:
        number = float(value)
    except OverflowError:  # an int of hundreds of digits
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"expected a finite {what}, got {shown(value)}")
    return number


def parse_duration(value: object) -> float:
    """Seconds from a number or a Prometheus-style duration such as ``1h30m``."""
    m = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if m and any(m.groups()):
        d, h, mi, s = (int(g or 0) for g in m.groups())
        return float(((d * 24 + h) * 60 + mi) * 60 + s)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _finite(value, "duration")
    raise ValueError(f"expected seconds or a duration like 1h or 90s, got {shown(value)}")


def _text(seconds: float) -> str:
    """A duration as the config would write it: 31d, 1h, 90s."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and not seconds % size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _duration(low: float, high: float, multiple: float = 0) -> Callable[[Any], float]:
    """A duration from ``low`` to ``high`` seconds: exporter.yaml says each range."""

    def convert(value: Any) -> float:
        seconds = parse_duration(value)
        if not low <= seconds <= high or (multiple and seconds % multiple):
            every = f"a multiple of {_text(multiple)} " if multiple else ""
            raise ValueError(
                f"must be {every}from {_text(low)} to {_text(high)}, got {shown(value)}"
            )
        return seconds

    return convert


def _number(minimum: float = 0.0) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {shown(value)}")
        if _finite(value, "number") < minimum:
            raise ValueError(f"must be >= {minimum:g}, got {value!r}")
        return float(value)

    return convert


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {shown(value)}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {shown(value)}")
    return value


def _header_value(value: str) -> str:
    """A value HTTP can carry as written: printable ASCII on one line, no blank at either end."""
    if not (value.isascii() and value.isprintable()) or value != value.strip():
        raise ValueError("must be printable ASCII on one line (the value is not shown)")
    return value


def _headers(value: Any) -> dict[str, str]:
    headers = _str_map(value)
    for name, text in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{shown(name)} is not an HTTP header name")
        try:
            _header_value(text)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return headers


def _secret_file(value: Any, header: bool = False) -> str:
    """The secret in the named file, less surrounding blanks (as Prometheus trims them)."""
    with open(_string(value), "rb") as file:
        raw = file.read(_SECRET_BYTES + 1)
    if len(raw) > _SECRET_BYTES:
        raise ValueError(f"{value}: longer than {_SECRET_BYTES} bytes, not a secret")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError(f"{value}: not UTF-8 text") from None
    return _header_value(text) if header else text


def _secret(s: _Section, key: str, var: str, header: bool = False) -> str | None:
    """The secret in environment variable ``var``, else in the file named by ``key``."""
    if not s.env.get(var):
        return s.get(key, None, lambda v: _secret_file(v, header))
    s.used.add(key)
    where = f"{var} (environment variable)"
    return s._convert(where, s.env[var], _header_value if header else str, None)


def _database(value: Any) -> str:
    name = _string(value)
    if len(name) > 63 or any(ch in name for ch in '/\\. "$\0'):
        raise ValueError(f"not a MongoDB database name: {shown(name)}")
    return name


def _ca_file(value: Any) -> str:
    """A CA bundle that loads: an unreadable or non-PEM file is a config error, not a crash."""
    path = _string(value)
    ssl.create_default_context(cafile=path)  # raises OSError (ssl.SSLError is one) if unusable
    return path


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
            raise ValueError(f"{shown(k)}: expected a list of machine_name values, got {shown(v)}")
    return {str(k): tuple(v) for k, v in value.items()}


def _choice(*allowed: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {shown(value)}")
        return str(value)

    return convert


def _metric(value: Any) -> str:
    return metric_name(_string(value))


def _label(value: Any) -> str:
    return label_name(_string(value))


def _http_url(value: Any) -> str:
    return check_url(_string(value))


def _mongo_uri(value: Any) -> str:
    return check_mongo_uri(_string(value))


_TIMEOUT = _duration(0.1, 300)  # below scrape_budget too


def _power(section: _Section, default: PowerModel) -> PowerModel:
    return PowerModel(
        section.get("busy_watts_per_core", default.busy_watts_per_core, _number()),
        section.get("idle_watts_per_core", default.idle_watts_per_core, _number()),
        section.get("pue", default.pue, _number(minimum=1.0)),
    )


def _recording_rules(section: _Section) -> RecordingRulesConfig:
    d = RecordingRulesConfig()
    rules = RecordingRulesConfig(
        busy_metric=section.get("busy_metric", d.busy_metric, _metric),
        idle_metric=section.get("idle_metric", d.idle_metric, _metric),
        heartbeat_metric=section.get("heartbeat_metric", d.heartbeat_metric, _metric),
        interval_seconds=section.get("interval", d.interval_seconds, _duration(1, 3600)),
        range_seconds=section.get("range", d.range_seconds, _duration(1, 3600)),
    )
    section.done()
    names = (rules.busy_metric, rules.idle_metric, rules.heartbeat_metric)
    if len(set(names)) < len(names):
        section.problems.append(
            f"{section.path}: busy_metric, idle_metric and heartbeat_metric must differ"
        )
    return rules


def _prometheus(p: _Section, notes: list[str]) -> PrometheusConfig:
    d = PrometheusConfig()
    config = PrometheusConfig(
        url=p.get(
            "url", d.url, _http_url, "PROMETHEUS_URL",
            lambda v: _http_url(with_scheme(v, "http", notes, "PROMETHEUS_URL")),
        ),
        timeout_seconds=p.get("timeout", d.timeout_seconds, _TIMEOUT),
        headers=p.get("headers", {}, _headers),
        bearer_token=_secret(p, "bearer_token_file", "PROMETHEUS_BEARER_TOKEN", header=True),
        username=p.get("username", None, _string),
        password=_secret(p, "password_file", "PROMETHEUS_PASSWORD"),
        tls_verify=p.get("tls_verify", True, _bool),
        ca_file=p.get("ca_file", None, _ca_file),
        gzip=p.get("gzip", d.gzip, _bool),
        metric=p.get("metric", d.metric, _metric),
        host_label=p.get("host_label", d.host_label, _label),
        matchers=p.get("matchers", {}, lambda v: {_label(k): x for k, x in _str_map(v).items()}),
        step_seconds=p.get("split_step", d.step_seconds, _duration(1, 3600)),
        source=p.get("source", d.source, _choice("raw", "recording_rules")),
        recording_rules=_recording_rules(p.section("recording_rules")),
    )  # fmt: skip
    p.done()
    return config


def _mongodb(m: _Section, notes: list[str]) -> MongoConfig:
    d = MongoConfig()
    config = MongoConfig(
        uri=m.get(
            "uri", d.uri, _mongo_uri, "MONGO_URI",
            lambda v: _mongo_uri(with_scheme(v, "mongodb", notes, "MONGO_URI")),
        ),
        database=m.get("database", d.database, _database, "MONGO_DATABASE"),
        timeout_seconds=m.get("timeout", d.timeout_seconds, _TIMEOUT),
        username=m.get("username", None, _string),
        password=_secret(m, "password_file", "MONGO_PASSWORD"),
    )  # fmt: skip
    m.done()
    return config


def _intensity(i: _Section, notes: list[str]) -> IntensityConfig:
    d = IntensityConfig()
    url = i.get("url", d.url, _http_url)
    if url.rstrip("/").endswith("/intensity"):  # the earlier service's form of the base URL
        url = url.rstrip("/").removesuffix("/intensity")
        notes.append(f"carbon_intensity.url read as {mask_url(url)} (without /intensity)")
    config = IntensityConfig(
        source=i.get("source", d.source, _choice("api", "fixed")),
        url=url,
        timeout_seconds=i.get("timeout", d.timeout_seconds, _TIMEOUT),
        fixed_gco2_per_kwh=i.get("fixed_gco2_per_kwh", d.fixed_gco2_per_kwh, _number()),
        default_gco2_per_kwh=i.get("default_gco2_per_kwh", d.default_gco2_per_kwh, _number()),
        region=i.get("region", d.region, parse_region),
        greenest_window_seconds=i.get(
            "greenest_window", d.greenest_window_seconds, _duration(1800, 86400, multiple=1800)
        ),
        working_hours=i.get("working_hours", d.working_hours, parse_working_hours),
    )
    i.done()
    return config


def _cross_checks(config: Config, problems: list[str]) -> None:
    """The rules that join several keys."""
    p = config.prometheus
    for key, seconds in (
        ("prometheus.timeout", p.timeout_seconds),
        ("mongodb.timeout", config.mongodb.timeout_seconds),
        ("carbon_intensity.timeout", config.carbon_intensity.timeout_seconds),
    ):
        if seconds >= config.scrape_budget_seconds:
            budget = config.scrape_budget_seconds
            problems.append(f"{key}: {seconds:g}s must be below scrape_budget ({budget:g}s)")
    rules = p.source == "recording_rules"
    step, key = (p.recording_rules.interval_seconds, "prometheus.recording_rules.interval")
    if not rules:
        step, key = p.step_seconds, "prometheus.split_step"
    if config.window_seconds / step > MAX_STEPS:
        problems.append(
            f"window: {_text(config.window_seconds)} is more than {MAX_STEPS} steps of {key} "
            f"({_text(step)}), the most Prometheus answers for one series"
        )
    if rules and "job" in p.matchers:
        # It would match no recorded series: every host would vanish without an error.
        problems.append(
            "prometheus.matchers.job: the recording rules count a node scraped by several "
            "jobs once and record no job label, so this matches none of their series: "
            "select the job in prometheus/ada-carbon-rules.yml instead"
        )


def build(data: object, env: Mapping[str, str], file: str = "") -> Config:
    """Parsed YAML plus environment to a Config; ConfigError lists every problem found."""
    problems: list[str] = []
    notes: list[str] = []
    root = _Section(data, "", problems, env)
    d = Config()
    prometheus = _prometheus(root.section("prometheus"), notes)
    mongodb = _mongodb(root.section("mongodb"), notes)
    intensity = _intensity(root.section("carbon_intensity"), notes)

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
    modes = ModesConfig(mo.get("busy", d.modes.busy, _modes), mo.get("idle", d.modes.idle, _modes))
    mo.done()
    if set(modes.busy) & set(modes.idle):
        problems.append(
            f"modes: {sorted(set(modes.busy) & set(modes.idle))} are both busy and idle"
        )

    ex = root.section("experiments")
    experiments = ExperimentsConfig(ex.get("instruments", {}, _instruments))
    ex.done()

    demo = frozenset(
        s
        for s, var in zip(SOURCES, FAKE_VARIABLES, strict=True)
        if env.get(var, "").strip().lower() in _TRUE
    )
    config = Config(
        window_seconds=root.get("window", d.window_seconds, _duration(60, 31 * 86400)),
        scrape_budget_seconds=root.get("scrape_budget", d.scrape_budget_seconds, _duration(1, 600)),
        min_refresh_interval_seconds=root.get(
            "min_refresh_interval", d.min_refresh_interval_seconds, _duration(0, 3600)
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
    _cross_checks(config, problems)
    if problems:
        raise ConfigError(problems, file)
    if notes:
        log.info("the earlier service's forms accepted: %s", "; ".join(notes))
    return config
