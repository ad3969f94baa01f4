"""The settings ``exporter.yaml`` describes, as frozen dataclasses with their defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.config.budgets import Budget
from exporter.embodied import EmbodiedModel
from exporter.grid import WorkingHours
from exporter.pricing import PowerModel
from exporter.sources.carbon_intensity.regions import NATIONAL, Region

DEFAULT_FACILITIES = {
    "IDAaaS": "ISIS",
    "CDAaaS": "CLF",
    "DDAaaS": "Development",
    "TDAaaS": "Training",
}
SOURCES = ("prometheus", "mongodb", "carbon_intensity")


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists each one with its key path."""

    def __init__(self, problems: list[str], file: str = "") -> None:
        where = f" ({file})" if file else ""
        super().__init__(f"invalid configuration{where}:\n  " + "\n  ".join(problems))
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
    # node_exporter's scrape interval: the look at the handovers reads rates over two of
    # it, every one of it; at or above step_seconds it would see nothing finer, and is
    # not asked (see sources/prometheus/handovers.py).
    scrape_interval_seconds: float = 15.0
    source: str = "raw"  # "raw" (metric above) or "recording_rules"
    recording_rules: RecordingRulesConfig = field(default_factory=RecordingRulesConfig)
    # Windows end this long before now: VictoriaMetrics answers an instant query at now
    # as of now - 30s (-search.latencyOffset), so its windows truly end there.
    query_offset_seconds: float = 0.0


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
    """The machine types (machine_name) used by each instrument's experiments."""

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
    workspace_usage: bool = False  # the usage families per workspace too (ada_carbon_workspace_*)
    embodied: Mapping[str, EmbodiedModel] = field(default_factory=dict)  # by machine_name
    budgets: tuple[Budget, ...] = ()  # monthly carbon budgets, exported as they are

    def power_for(self, machine_name: str) -> PowerModel:
        """The power model of a machine type: its override, else the default."""
        return self.machine_power.get(machine_name, self.power)
