"""The Prometheus collector: fresh metric families from one shared refresh per scrape.

Exposition produced (abridged)::

    # HELP ada_carbon_energy_joules Energy used by Ada workspaces over the trailing ...
    # TYPE ada_carbon_energy_joules gauge
    ada_carbon_energy_joules{cloud_project_name="IDAaaS",facility="ISIS",\
machine_name="Muon",mode="busy",user="aa123456"} 43200.0
    ada_carbon_source_up{source="mongodb"} 1.0
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter import __version__, equivalencies
from exporter.config import SOURCES
from exporter.exposition import ColumnGauge, RowGauge
from exporter.forecast import INDEX_LEVELS
from exporter.intensity_fallback import INTENSITY_SOURCES
from exporter.model import SKIP_REASONS, Snapshot, Usage, WorkspaceInfo


class SharedRefresh:
    """Runs at most one refresh at a time; concurrent scrapes wait for and share it.

    With ``min_interval_seconds`` > 0, a result younger than that is served again
    instead of refreshing, which bounds upstream load from several Prometheus replicas.
    """

    def __init__(self, refresh: Callable[[], Snapshot], min_interval_seconds: float = 0.0) -> None:
        self._refresh = refresh
        self._min_interval = min_interval_seconds
        self._lock = threading.Lock()
        self._inflight: Future[Snapshot] | None = None
        self._last: tuple[float, Snapshot] | None = None
        self.refreshes = 0

    def get(self) -> Snapshot:
        return self.serve()[0]

    def serve(self) -> tuple[Snapshot, bool]:
        """The snapshot to serve, and whether it is served again (within the min interval)."""
        with self._lock:
            if self._inflight is not None:
                future, leader = self._inflight, False
            elif self._last and time.monotonic() - self._last[0] < self._min_interval:
                return self._last[1], True
            else:
                future, leader = Future(), True
                self._inflight = future
                self.refreshes += 1
                # Scrapes from now on share the refresh, not the last result: let it go,
                # for the engine to free while the sources answer (see Engine.snapshot).
                self._last = None
        if leader:
            try:
                snapshot = self._refresh()
                future.set_result(snapshot)
                self._last = (time.monotonic(), snapshot)
            except BaseException as exc:
                future.set_exception(exc)
                raise
            finally:
                with self._lock:
                    self._inflight = None
        return future.result(), False


class AdaCarbonCollector(Collector):
    """Collects one Snapshot per scrape (shared by concurrent scrapes) into fresh families."""

    def __init__(self, refresh: Callable[[], Snapshot], min_interval_seconds: float = 0.0) -> None:
        self.shared = SharedRefresh(refresh, min_interval_seconds)

    def describe(self) -> Iterator[Metric]:
        """The family names, without querying anything (used at registration)."""
        yield from families(None)

    def collect(self) -> Iterator[Metric]:
        yield from families(*self.shared.serve())


@dataclass(frozen=True)
class FamilySpec:
    """One exported family: its name, HELP text and label names (all are gauges)."""

    name: str
    help: str
    labels: tuple[str, ...] = ()


USAGE_LABELS = ("cloud_project_name", "machine_name", "facility", "user", "mode")
_WINDOW = "over the trailing window (see ada_carbon_window_seconds)"
# Said instead when a scrape within min_refresh_interval of a refresh is served its result.
_SERVED_AGAIN = (
    "over the trailing window (see ada_carbon_window_seconds), served again: this result is "
    "from a refresh within min_refresh_interval, at ada_carbon_window_end_timestamp_seconds"
)
SPECS = {
    "cpu": FamilySpec(
        "ada_carbon_cpu_seconds",
        f"CPU-seconds of Ada workspaces, busy or idle, {_WINDOW}, attributed to the user who "
        'owned the host at the time (user="unattributed" when nobody did). '
        "From Prometheus node_cpu_seconds_total and MongoDB workspaces.",
        USAGE_LABELS,
    ),
    "energy": FamilySpec(
        "ada_carbon_energy_joules",
        f"Energy used by Ada workspaces {_WINDOW}: CPU-seconds x watts per core "
        "(busy or idle, per machine type) x PUE.",
        USAGE_LABELS,
    ),
    "emissions": FamilySpec(
        "ada_carbon_emissions_grams",
        f"Grams CO2-equivalent emitted by Ada workspaces {_WINDOW}: energy x the time-weighted "
        "grid carbon intensity of the half hours the usage fell in.",
        USAGE_LABELS,
    ),
    "window": FamilySpec(
        "ada_carbon_window_seconds",
        "Length of the trailing window the cpu, energy and emissions families cover.",
    ),
    "window_end": FamilySpec(
        "ada_carbon_window_end_timestamp_seconds",
        "Unix time of the end of the window the cpu, energy and emissions families cover, "
        "which is when the refresh ran: within min_refresh_interval of a refresh its result is "
        "served again, and time() minus this is its age.",
    ),
    "intensity": FamilySpec(
        "ada_carbon_grid_intensity_gco2_per_kwh",
        "Grid carbon intensity of the half hour containing the window's end, gCO2/kWh "
        "(Carbon Intensity API, NESO: actual, else forecast; regional data is forecast only).",
        ("region",),
    ),
    "intensity_mean": FamilySpec(
        "ada_carbon_grid_intensity_window_mean_gco2_per_kwh",
        f"Time-weighted mean grid carbon intensity {_WINDOW}, gCO2/kWh.",
        ("region",),
    ),
    "intensity_source": FamilySpec(
        "ada_carbon_grid_intensity_source",
        "Where the grid intensity in use came from: 1 for the source in use (api, cache, "
        "last_good, default, fixed, demo), 0 for the others.",
        ("region", "source"),
    ),
    "intensity_index": FamilySpec(
        "ada_carbon_grid_intensity_index",
        "Index of the grid intensity of the half hour containing the window's end: 1 for its "
        "level (the API's index, else bands <50 very low, <100 low, <200 moderate, <300 high), "
        "0 for the others.",
        ("region", "index"),
    ),
    "intensity_age": FamilySpec(
        "ada_carbon_grid_intensity_age_seconds",
        "How old the grid intensity in use is at the window's end: 0 while a half-hour slot "
        "covers it, else the time since the slot of the last good value, +Inf on the default.",
        ("region",),
    ),
    "intensity_actual": FamilySpec(
        "ada_carbon_grid_intensity_actual_ratio",
        "Share of the window priced with measured (actual) intensity rather than forecast or "
        "fallback values, 0-1 (always 0 for a region: regional data is forecast only).",
        ("region",),
    ),
    "forecast": FamilySpec(
        "ada_carbon_grid_intensity_forecast_gco2_per_kwh",
        "Forecast grid carbon intensity, gCO2/kWh, of the half hour starting hours_ahead hours "
        "after the start of the one containing the window's end (0, 0.5, ... 47.5), from the "
        "Carbon Intensity API's 48 h forecast, refreshed once per half hour.",
        ("region", "hours_ahead"),
    ),
    "greenest_start": FamilySpec(
        "ada_carbon_greenest_window_start_timestamp_seconds",
        "Unix time at which the lowest-carbon block of carbon_intensity.greenest_window starts, "
        'by forecast, within the next 24 h (scope="next_24h") or the working hours in them '
        '(scope="working_hours"); absent when the forecast is too short to fit one.',
        ("region", "scope"),
    ),
    "greenest_mean": FamilySpec(
        "ada_carbon_greenest_window_mean_gco2_per_kwh",
        "Mean forecast grid carbon intensity, gCO2/kWh, of the block "
        "ada_carbon_greenest_window_start_timestamp_seconds points at.",
        ("region", "scope"),
    ),
    "workspaces": FamilySpec(
        "ada_carbon_workspaces",
        "Workspaces alive at the end of the window, by tag and state (MongoDB workspaces).",
        ("tag", "state"),
    ),
    "workspace_info": FamilySpec(
        "ada_carbon_workspace_info",
        "One series per workspace alive at the end of the window, value 1, to join node "
        "metrics to owners. Turned off with workspace_info: false.",
        WorkspaceInfo._fields,  # its rows are WorkspaceInfo tuples
    ),
    "up": FamilySpec(
        "ada_carbon_source_up",
        "1 if the source answered in full during the last refresh, 0 if not (the families "
        "derived from it are then absent rather than wrong).",
        ("source",),
    ),
    "duration": FamilySpec(
        "ada_carbon_source_duration_seconds",
        "Wall time spent waiting for each source during the last refresh.",
        ("source",),
    ),
    "requests": FamilySpec(
        "ada_carbon_source_requests",
        "Upstream requests made to each source during the last refresh.",
        ("source",),
    ),
    "skipped": FamilySpec(
        "ada_carbon_skipped_documents",
        "MongoDB documents skipped as malformed during the last refresh, by collection and reason.",
        ("collection", "reason"),
    ),
    "unmatched": FamilySpec(
        "ada_carbon_unmatched_hosts",
        "Hosts seen on one side only during the last refresh: side=mongodb (a workspace host "
        "with no CPU series), side=prometheus (a measured host no workspace owned), "
        "side=unparseable_instance (an instance label that is not a host name).",
        ("side",),
    ),
    "conflicts": FamilySpec(
        "ada_carbon_ownership_conflicts",
        "Hosts on which two claimed workspaces overlapped in time during the window "
        "(the newer claim wins the overlap).",
    ),
    "split": FamilySpec(
        "ada_carbon_split_hosts",
        "Hosts whose window usage was split between several owners, or an owner and nobody.",
    ),
    "equivalency": FamilySpec(
        "ada_carbon_equivalency_grams",
        "Grams CO2-equivalent of one unit of an everyday equivalent (one mile driven, one "
        "smartphone charge, ...), constant, so that dashboards can divide emissions by it. "
        "Table and sources: exporter/equivalencies.py and the README.",
        ("equivalent", "unit"),
    ),
    "build": FamilySpec(
        "ada_carbon_build_info", "Build information of ada-carbon-exporter, value 1.", ("version",)
    ),
}


def families(snap: Snapshot | None, served_again: bool = False) -> list[Metric]:
    """Build every family from a snapshot; with None, the empty families (for describe).

    ``served_again``: the snapshot is an earlier refresh's, and the HELP texts say so.
    """
    specs = SERVED_AGAIN_SPECS if served_again else SPECS
    columns = {
        k: ColumnGauge(specs[k].name, specs[k].help, specs[k].labels, cols, USAGE_DIGITS)
        for k, cols in USAGE_FAMILIES.items()
    }
    info = specs["workspace_info"]
    rows = {"workspace_info": RowGauge(info.name, info.help, info.labels)}
    f = {
        k: columns.get(k) or rows.get(k) or GaugeMetricFamily(s.name, s.help, labels=list(s.labels))
        for k, s in specs.items()
    }
    f["build"].add_metric([__version__], 1)
    if snap is not None:
        _fill(f, columns, rows, snap)
    return list(f.values())


SERVED_AGAIN_SPECS = {
    k: replace(s, help=s.help.replace(_WINDOW, _SERVED_AGAIN)) for k, s in SPECS.items()
}


# The usage families' values are estimates (a power model of watts per core), written to
# 12 significant digits: a millionth of a CPU-second in an hour of a 100-host group, and
# conservation (the users of a group sum to what Prometheus measured) to 1e-12. Writing
# them exactly, with repr(), was half the cost of the body at 10,000 hosts.
USAGE_DIGITS = 12
# The families with a series per (group, user, mode) or per workspace: thousands at scale.
# Each usage family's series of a row: mode -> the field of the group's Usage.
USAGE_FAMILIES = {
    k: tuple((mode, Usage._fields.index(f"{mode}_{unit}")) for mode in ("busy", "idle"))
    for k, unit in (("cpu", "seconds"), ("energy", "joules"), ("emissions", "grams"))
}


def _fill(
    f: dict[str, GaugeMetricFamily],
    columns: dict[str, ColumnGauge],
    rows: dict[str, RowGauge],
    snap: Snapshot,
) -> None:
    for e in equivalencies.TABLE:
        f["equivalency"].add_metric([e.key, e.unit], e.grams)
    for name in SOURCES:
        st = snap.sources[name]
        f["up"].add_metric([name], 1.0 if st.up else 0.0)
        f["duration"].add_metric([name], st.duration_seconds)
        f["requests"].add_metric([name], st.requests)
    f["window"].add_metric([], snap.window_seconds)
    f["window_end"].add_metric([], snap.end)
    r = snap.intensity
    f["intensity"].add_metric([r.region], r.current)
    f["intensity_mean"].add_metric([r.region], r.window_mean.gco2_per_kwh)
    for s in INTENSITY_SOURCES:
        f["intensity_source"].add_metric([r.region, s], 1.0 if s == r.source else 0.0)
    for level in INDEX_LEVELS:
        f["intensity_index"].add_metric([r.region, level], 1.0 if level == r.index else 0.0)
    f["intensity_age"].add_metric([r.region], r.age_seconds)
    f["intensity_actual"].add_metric([r.region], r.window_mean.actual_ratio)
    for hours_ahead, gco2 in snap.outlook.points:
        f["forecast"].add_metric([r.region, f"{hours_ahead:g}"], gco2)
    for green in snap.outlook.greenest:
        f["greenest_start"].add_metric([r.region, green.scope], green.start)
        f["greenest_mean"].add_metric([r.region, green.scope], green.gco2_per_kwh)
    if snap.usage is not None:
        # One row per (group, user) for the three families, two series each: 60,000
        # samples on 10,000 hosts. In the refresh's order (as deterministic as its
        # answers), not sorted: Prometheus does not mind, and sorting 10,000 rows cost
        # 8-10 ms of the scrape after the last upstream answer.
        shared = list(snap.usage.items())
        for k in USAGE_FAMILIES:
            columns[k].set_rows(shared)
        f["conflicts"].add_metric([], snap.conflicted_hosts)
        f["split"].add_metric([], snap.split_hosts)
    if snap.workspaces is not None:
        for (tag, state), n in sorted(snap.workspaces.items()):
            f["workspaces"].add_metric([tag, state], n)
        none = dict.fromkeys((("workspaces", reason) for reason in SKIP_REASONS), 0)
        for (collection, reason), n in sorted({**none, **snap.skipped}.items()):
            f["skipped"].add_metric([collection, reason], n)
    rows["workspace_info"].add_rows((w, 1.0) for w in snap.workspace_info)
    for side, n in sorted(snap.unmatched_hosts.items()):
        f["unmatched"].add_metric([side], n)
