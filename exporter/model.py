"""Value objects passed from the source adapters to the maths, and the source protocols.

Adapters return these plain, immutable values (NamedTuples where a scrape builds
thousands) and raise :class:`SourceError`; everything downstream of them is pure
and does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # for annotations only: pricing and embodied import this module
    from exporter.embodied import EmbodiedModel
    from exporter.pricing import PowerModel

UNATTRIBUTED = "unattributed"
UNKNOWN_FACILITY = "unknown"  # the facility of a project not in the ``facilities`` map
GroupKey = tuple[str, str, str, str]  # cloud_project_name, machine_name, facility, user


class SourceError(Exception):
    """An upstream (Prometheus, MongoDB, Carbon Intensity API) could not answer.

    Adapters raise this, and only this, for any transport, protocol or decoding
    failure; the message never holds credentials.
    """


class HostUsage(NamedTuple):
    """CPU-seconds one host spent busy and idle over a whole window, for one group.

    A NamedTuple, like UsageStep: a large fleet builds tens of thousands of
    these per scrape, and a frozen dataclass costs twenty times more to build.
    """

    instance: str  # the raw label value, e.g. "172.16.100.50:9100"
    host: str  # normalised host key, e.g. "172.16.100.50"
    cloud_project_name: str
    machine_name: str
    busy_seconds: float
    idle_seconds: float

    @property
    def group(self) -> tuple[str, str]:
        return (self.cloud_project_name, self.machine_name)


class UsageStep(NamedTuple):
    """CPU-seconds used in the interval (start, end] of a fine-grained series.

    A NamedTuple for the same reason as HostUsage.
    """

    start: float  # unix seconds
    end: float
    busy_seconds: float
    idle_seconds: float


class Workspace(NamedTuple):
    """A workspace record from MongoDB, already validated.

    A NamedTuple for the same reason as HostUsage: at 10,000 hosts a scrape reads
    13,000 of these. Who it gives its host to, and when, is the attribution rule's
    to say (:mod:`exporter.attribution.timelines`).
    """

    workspace_id: str  # str(_id), the label value
    host: str  # normalised host key
    hostname: str  # as stored
    owner: str | None
    state: str
    tag: str
    created: float  # unix seconds
    deleted: float | None  # unix seconds, None while alive
    acquired: float | None = None
    # The type of ``_id``: ObjectId('65a0...') and '65a0...', or 1 and '1', are two
    # workspaces, though their labels read the same.
    id_type: str = "str"


# Why a workspace document was skipped (ada_carbon_skipped_documents' ``reason``): each
# is exported, 0 when none was, so that "none skipped" differs from "MongoDB not read".
SKIP_REASONS = (
    "not_a_document",
    "bad_hostname",
    "bad_created_time",
    "bad_deleted_time",
    "deleted_before_created",
    "bad_state",
    "bad_owner",
    "reserved_owner",
    "email_owner",
    "bad_id",
    "deleted_without_time",
    "bad_acquired_time",
    "duplicate",
)


@dataclass(frozen=True)
class WorkspaceBatch:
    """The workspaces alive at any moment of a window, and what was skipped and why."""

    workspaces: tuple[Workspace, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)  # reason -> count


class WorkspaceInfo(NamedTuple):
    """One ``ada_carbon_workspace_info`` series: its label values, in the family's order."""

    workspace_id: str
    host: str
    user: str
    state: str
    cloud_project_name: str
    machine_name: str


@dataclass(frozen=True)
class User:
    """A platform user. Only the platform name is ever used as a label."""

    platform_name: str
    tag: str = ""


@dataclass(frozen=True)
class IntensitySlot:
    """Grid carbon intensity for one half-hour settlement period."""

    start: float  # unix seconds, on a :00 or :30 boundary
    end: float
    gco2_per_kwh: float
    actual: bool  # False when the value is a forecast
    index: str = ""


class Usage(NamedTuple):
    """Attributed totals of one (project, machine type, facility, user) over the window."""

    busy_seconds: float = 0.0
    idle_seconds: float = 0.0
    busy_joules: float = 0.0
    idle_joules: float = 0.0
    busy_grams: float = 0.0
    idle_grams: float = 0.0
    embodied_grams: float = 0.0  # the hardware's, for the time held (exporter.embodied)


@dataclass
class SourceStatus:
    """How one source fared during one refresh."""

    up: bool = True
    duration_seconds: float = 0.0
    requests: int = 0
    error: str = ""


@dataclass(frozen=True)
class MeanIntensity:
    """A time-weighted mean intensity, and how much of the interval real slots covered."""

    gco2_per_kwh: float
    covered_ratio: float  # 0..1; the rest was filled with the fallback value
    actual_ratio: float  # 0..1 of the interval covered by measured (not forecast) slots


@dataclass(frozen=True)
class IntensityReading:
    """The intensity data one refresh uses, and where it came from."""

    region: str
    slots: tuple[IntensitySlot, ...]  # the source's, and fill_gaps' for the half hours left out
    fill: float  # gCO2/kWh: the last good value, else the configured default
    current: float  # the slot containing the window's end, else ``fill``
    window_mean: MeanIntensity
    source: str  # one of INTENSITY_SOURCES
    index: str = ""  # of ``current``: the API's index level, else its band (forecast.INDEX_LEVELS)
    age_seconds: float = 0.0  # how old ``current`` is at the window's end (see module doc)


@dataclass(frozen=True)
class GreenWindow:
    """The lowest-carbon block of one scope: when it starts and its mean forecast."""

    scope: str  # "next_24h" or "working_hours"
    start: float  # unix seconds
    gco2_per_kwh: float


@dataclass(frozen=True)
class Outlook:
    """The forecast from the half hour in progress, and the greenest windows found in it."""

    points: tuple[tuple[float, float], ...] = ()  # (hours ahead, gCO2/kWh), 0 = this half hour
    greenest: tuple[GreenWindow, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """Everything one refresh learnt. ``usage`` is None when it could not be computed truthfully."""

    end: float
    window_seconds: float
    sources: Mapping[str, SourceStatus]
    intensity: IntensityReading
    usage: Mapping[GroupKey, Usage] | None
    workspaces: Mapping[tuple[str, str], int] | None  # (tag, state) -> alive at end
    workspace_info: tuple[WorkspaceInfo, ...]
    skipped: Mapping[tuple[str, str], int]  # (collection, reason) -> documents
    unmatched_hosts: Mapping[str, int]  # side -> hosts
    conflicted_hosts: int
    split_hosts: int
    outlook: Outlook  # forecast and greenest windows from ``end``
    # Usage per workspace that held a host in the window (config workspace_usage; else None).
    workspace_usage: Mapping[WorkspaceKey, Usage] | None = None
    # Measured hosts per machine type with no embodied model (priced nothing).
    embodied_unconfigured: Mapping[str, int] = field(default_factory=dict)
    # machine_name -> the power model that priced its usage (the machine types in ``usage``)
    power_models: Mapping[str, PowerModel] = field(default_factory=dict)
    # machine_name -> its embodied model, for those of ``power_models`` that have one
    embodied_models: Mapping[str, EmbodiedModel] = field(default_factory=dict)
    # Of ``split_hosts``, those split by their tenures' durations, without usage steps.
    split_hosts_without_steps: int = 0
    # The recording rules' evaluations in the window: (seen, expected); None off the rules.
    rule_evaluations: tuple[int, int] | None = None


class WorkspaceKey(NamedTuple):
    """Whose usage per workspace: the label values of the ``ada_carbon_workspace_*`` families."""

    workspace_id: str
    host: str
    cloud_project_name: str
    machine_name: str
    facility: str
    user: str
