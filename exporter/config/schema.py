"""The shape of ``exporter.yaml``: walk the parsed YAML, collecting every problem with its path."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import exporter.config.settings as s
import exporter.config.values as v
from exporter.config.budgets import parse_budgets
from exporter.config.section import Section
from exporter.config.values import check_mongo_uri, check_url, mask_url, with_scheme
from exporter.embodied import DEFAULT_LIFETIME_SECONDS, EmbodiedModel
from exporter.grid import parse_working_hours
from exporter.pricing import PowerModel
from exporter.sources.carbon_intensity.regions import parse_region
from exporter.sources.prometheus.promql import label_name, metric_name

log = logging.getLogger("exporter.config")
_TRUE = {"1", "true", "yes", "on"}
# The earlier service's switches, one per source, in the order of settings.SOURCES.
FAKE_VARIABLES = ("USE_FAKE_PROMETHEUS", "USE_FAKE_MONGODB", "USE_FAKE_CARBON_INTENSITY")
MAX_STEPS = 11000  # points per series Prometheus answers in one range query
_URL, _MONGO_URI = v.string_then(check_url), v.string_then(check_mongo_uri)
_METRIC, _LABEL = v.string_then(metric_name), v.string_then(label_name)
_TIMEOUT = v.duration(0.1, 300)  # and below scrape_budget
_STEP = v.duration(1, 3600)
_LIFETIME, _CORES = v.duration(30 * 86400, 20 * 365 * 86400), v.between(1, 4096, whole=True)


def _power(section: Section, default: PowerModel) -> PowerModel:
    return PowerModel(
        section.get("busy_watts_per_core", default.busy_watts_per_core, v.number()),
        section.get("idle_watts_per_core", default.idle_watts_per_core, v.number()),
        section.get("pue", default.pue, v.number(minimum=1.0)),
    )


def _embodied(e: Section) -> dict[str, EmbodiedModel]:
    """Each machine type's embodied model; every key of a model but its lifetime is required."""
    lifetime = e.get("lifetime", DEFAULT_LIFETIME_SECONDS, _LIFETIME)
    machines, models = e.section("machines"), {}
    for name in list(machines.data):
        m = machines.section(str(name))
        kg = m.get("server_kgco2e", math.nan, v.between(1, 100_000))
        cores = m.get("cores", math.nan, _CORES)
        server = m.get("server_cores", cores, _CORES)
        model = EmbodiedModel(kg, cores, server, m.get("lifetime", lifetime, _LIFETIME))
        m.done()
        if any(m.data.get(k) is None for k in ("server_kgco2e", "cores")):
            e.problems.append(f"{m.path}: server_kgco2e and cores are required")
        elif server < cores:
            e.problems.append(
                f"{m.path}: server_cores ({server:g}) is fewer than cores ({cores:g})"
            )
        models[str(name)] = model
    machines.done()
    e.done()
    return models


def _recording_rules(section: Section) -> s.RecordingRulesConfig:
    d = s.RecordingRulesConfig()
    rules = s.RecordingRulesConfig(
        busy_metric=section.get("busy_metric", d.busy_metric, _METRIC),
        idle_metric=section.get("idle_metric", d.idle_metric, _METRIC),
        heartbeat_metric=section.get("heartbeat_metric", d.heartbeat_metric, _METRIC),
        interval_seconds=section.get("interval", d.interval_seconds, _STEP),
        range_seconds=section.get("range", d.range_seconds, _STEP),
    )
    section.done()
    names = (rules.busy_metric, rules.idle_metric, rules.heartbeat_metric)
    if len(set(names)) < len(names):
        section.problems.append(
            f"{section.path}: busy_metric, idle_metric and heartbeat_metric must differ"
        )
    return rules


def _prometheus(p: Section, notes: list[str]) -> s.PrometheusConfig:
    d = s.PrometheusConfig()
    step = p.get("split_step", d.step_seconds, _STEP)
    config = s.PrometheusConfig(
        url=p.get("url", d.url, lambda u: _URL(with_scheme(u, "http", notes)), "PROMETHEUS_URL"),
        timeout_seconds=p.get("timeout", d.timeout_seconds, _TIMEOUT),
        headers=p.get("headers", {}, v.headers),
        bearer_token=p.secret("bearer_token_file", "PROMETHEUS_BEARER_TOKEN", header=True),
        username=p.get("username", None, v.string),
        password=p.secret("password_file", "PROMETHEUS_PASSWORD"),
        tls_verify=p.get("tls_verify", True, v.boolean),
        ca_file=p.get("ca_file", None, v.ca_file),
        gzip=p.get("gzip", d.gzip, v.boolean),
        metric=p.get("metric", d.metric, _METRIC),
        host_label=p.get("host_label", d.host_label, _LABEL),
        matchers=p.get("matchers", {}, lambda m: {_LABEL(k): x for k, x in v.str_map(m).items()}),
        step_seconds=step,
        # Unset, at most the step: a split_step below 15s already says the fleet is
        # scraped at least that often (and loaded before this key existed).
        scrape_interval_seconds=p.get(
            "scrape_interval", min(d.scrape_interval_seconds, step), _STEP
        ),
        source=p.get("source", d.source, v.choice("raw", "recording_rules")),
        recording_rules=_recording_rules(p.section("recording_rules")),
        query_offset_seconds=p.get("query_offset", d.query_offset_seconds, v.duration(0, 600)),
    )
    p.done()
    return config


def _mongodb(m: Section, notes: list[str]) -> s.MongoConfig:
    d = s.MongoConfig()
    config = s.MongoConfig(
        uri=m.get(
            "uri", d.uri, lambda u: _MONGO_URI(with_scheme(u, "mongodb", notes)), "MONGO_URI"
        ),
        database=m.get("database", d.database, v.database, "MONGO_DATABASE"),
        timeout_seconds=m.get("timeout", d.timeout_seconds, _TIMEOUT),
        username=m.get("username", None, v.string),
        password=m.secret("password_file", "MONGO_PASSWORD"),
    )
    m.done()
    return config


def _intensity(i: Section, notes: list[str]) -> s.IntensityConfig:
    d = s.IntensityConfig()
    url = i.get("url", d.url, _URL)
    if url.rstrip("/").endswith("/intensity"):  # the earlier service's form of the base URL
        url = url.rstrip("/").removesuffix("/intensity")
        notes.append(f"carbon_intensity.url read as {mask_url(url)} (without /intensity)")
    config = s.IntensityConfig(
        source=i.get("source", d.source, v.choice("api", "fixed")),
        url=url,
        timeout_seconds=i.get("timeout", d.timeout_seconds, _TIMEOUT),
        fixed_gco2_per_kwh=i.get("fixed_gco2_per_kwh", d.fixed_gco2_per_kwh, v.number()),
        default_gco2_per_kwh=i.get("default_gco2_per_kwh", d.default_gco2_per_kwh, v.number()),
        region=i.get("region", d.region, parse_region),
        greenest_window_seconds=i.get(
            "greenest_window", d.greenest_window_seconds, v.duration(1800, 86400, multiple=1800)
        ),
        working_hours=i.get("working_hours", d.working_hours, parse_working_hours),
    )
    i.done()
    return config


def _cross_checks(config: s.Config, problems: list[str]) -> None:
    """The rules that join several keys."""
    p, budget = config.prometheus, config.scrape_budget_seconds
    for key, seconds in (
        ("prometheus.timeout", p.timeout_seconds),
        ("mongodb.timeout", config.mongodb.timeout_seconds),
        ("carbon_intensity.timeout", config.carbon_intensity.timeout_seconds),
    ):
        if seconds >= budget:
            problems.append(f"{key}: {seconds:g}s must be below scrape_budget ({budget:g}s)")
    rules = p.source == "recording_rules"
    step, key = (p.recording_rules.interval_seconds, "recording_rules.interval")
    if not rules:
        step, key = p.step_seconds, "split_step"
    if config.window_seconds / step > MAX_STEPS:
        problems.append(
            f"window: {v.text(config.window_seconds)} is more than {MAX_STEPS} steps of "
            f"prometheus.{key} ({v.text(step)}), the most Prometheus answers for one series"
        )
    if not rules and p.scrape_interval_seconds > p.step_seconds:
        # Each step is a rate over two steps: with fewer than two scrapes in it, none.
        problems.append(
            f"prometheus.scrape_interval: {v.text(p.scrape_interval_seconds)} is longer than "
            f"prometheus.split_step ({v.text(p.step_seconds)}): a host's usage per step is a "
            "rate over two steps and needs a scrape in each; set split_step to at least "
            "the scrape interval"
        )
    if rules and "job" in p.matchers:
        # It would match no recorded series: every host would vanish without an error.
        problems.append(
            "prometheus.matchers.job: the recording rules count a node scraped by several "
            "jobs once and record no job label, so this matches none of their series: "
            "select the job in prometheus/ada-carbon-rules.yml instead"
        )


def build(data: object, env: Mapping[str, str], file: str = "") -> s.Config:
    """Parsed YAML plus environment to a Config; ConfigError lists every problem found."""
    problems: list[str] = []
    notes: list[str] = []
    root = Section(data, "", problems, env)
    d = s.Config()
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
    modes = s.ModesConfig(
        mo.get("busy", d.modes.busy, v.modes), mo.get("idle", d.modes.idle, v.modes)
    )
    mo.done()
    if set(modes.busy) & set(modes.idle):
        problems.append(
            f"modes: {sorted(set(modes.busy) & set(modes.idle))} are both busy and idle"
        )

    ex = root.section("experiments")
    experiments = s.ExperimentsConfig(ex.get("instruments", {}, v.instruments))
    ex.done()

    demo = frozenset(
        source
        for source, var in zip(s.SOURCES, FAKE_VARIABLES, strict=True)
        if env.get(var, "").strip().lower() in _TRUE
    )
    config = s.Config(
        window_seconds=root.get("window", d.window_seconds, v.duration(60, 31 * 86400)),
        scrape_budget_seconds=root.get(
            "scrape_budget", d.scrape_budget_seconds, v.duration(1, 600)
        ),
        min_refresh_interval_seconds=root.get(
            "min_refresh_interval", d.min_refresh_interval_seconds, v.duration(0, 3600)
        ),
        workspace_info=root.get("workspace_info", d.workspace_info, v.boolean),
        facilities=root.get("facilities", dict(d.facilities), v.str_map),
        power=power,
        machine_power=machine_power,
        modes=modes,
        prometheus=prometheus,
        mongodb=mongodb,
        carbon_intensity=intensity,
        experiments=experiments,
        demo_sources=demo,
        workspace_usage=root.get("workspace_usage", d.workspace_usage, v.boolean),
        embodied=_embodied(root.section("embodied")),
        budgets=parse_budgets(root.get("budgets", None, lambda data: data), problems),
    )
    root.done()
    _cross_checks(config, problems)
    if problems:
        raise s.ConfigError(problems, file)
    if notes:
        log.info("the earlier service's forms accepted: %s", "; ".join(notes))
    return config
