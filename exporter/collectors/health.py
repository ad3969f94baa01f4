"""How the last refresh went, and the constants every scrape carries.

Exposition produced (abridged)::

    # HELP ada_carbon_refresh_success 1 if the last refresh completed, 0 if it failed ...
    # TYPE ada_carbon_refresh_success gauge
    ada_carbon_refresh_success 1.0
    ada_carbon_source_up{source="mongodb"} 1.0
    ada_carbon_source_duration_seconds{source="mongodb"} 0.042
    ada_carbon_skipped_documents{collection="workspaces",reason="bad_owner"} 0.0
    ada_carbon_equivalency_grams{equivalent="miles_driven_car",unit="mile"} 400.0
    ada_carbon_build_info{version="0.1.0"} 1.0
"""

from __future__ import annotations

from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily

from exporter import __version__, equivalencies
from exporter.collectors.base import AreaCollector, FamilySpec
from exporter.config import SOURCES
from exporter.model import SKIP_REASONS, Snapshot


class HealthCollector(AreaCollector):
    """The refresh and each source's health, what it could not use, and the constants."""

    specs: ClassVar[dict[str, FamilySpec]] = {
        "refresh": FamilySpec(
            "ada_carbon_refresh_success",
            "1 if the last refresh completed, 0 if it failed with an error (logged once per "
            "episode): every family derived from the sources is then absent until one succeeds.",
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
            "MongoDB documents skipped as malformed during the last refresh, by collection and "
            "reason.",
            ("collection", "reason"),
        ),
        "unmatched": FamilySpec(
            "ada_carbon_unmatched_hosts",
            "Hosts seen on one side only during the last refresh: side=mongodb (a workspace "
            "host with no CPU series), side=prometheus (a measured host no workspace owned), "
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
        "unstepped": FamilySpec(
            "ada_carbon_split_hosts_without_steps",
            "Of ada_carbon_split_hosts, those split by how long each owner held them (usage "
            "taken as steady), their usage per minute not read from Prometheus: its request "
            "failed or was refused (logged), they were over the requests' limits, or "
            "Prometheus had no rates for them.",
        ),
        "evaluations": FamilySpec(
            "ada_carbon_recording_rules_evaluations",
            "Evaluations of the recording rules in the window: kind=seen, from their "
            "heartbeat series; kind=expected, one every recording_rules.interval back from "
            "the newest. Short by more than one, or over, the window is refused (source_up{source="
            '"prometheus"} 0, logged). Only with prometheus.source recording_rules (and '
            "in the demo, as if its rules ran every minute).",
            ("kind",),
        ),
        "equivalency": FamilySpec(
            "ada_carbon_equivalency_grams",
            "Grams CO2-equivalent of one unit of an everyday equivalent (one mile driven, one "
            "smartphone charge, ...), constant, so that dashboards can divide emissions by it. "
            "Table and sources: exporter/equivalencies.py and the README.",
            ("equivalent", "unit"),
        ),
        "build": FamilySpec(
            "ada_carbon_build_info",
            "Build information of ada-carbon-exporter, value 1.",
            ("version",),
        ),
    }

    def fill(self, families: dict[str, GaugeMetricFamily], snap: Snapshot | None) -> None:
        f = families
        f["refresh"].add_metric([], 0.0 if snap is None else 1.0)
        for e in equivalencies.TABLE:
            f["equivalency"].add_metric([e.key, e.unit], e.grams)
        f["build"].add_metric([__version__], 1)
        if snap is not None:
            for name in SOURCES:
                status = snap.sources[name]
                f["up"].add_metric([name], 1.0 if status.up else 0.0)
                f["duration"].add_metric([name], status.duration_seconds)
                f["requests"].add_metric([name], status.requests)
            _unused(f, snap)


def _unused(f: dict[str, GaugeMetricFamily], snap: Snapshot) -> None:
    """What the refresh could not use or had to decide: skipped, unmatched, conflicts, splits."""
    if snap.workspaces is not None:
        none = dict.fromkeys((("workspaces", reason) for reason in SKIP_REASONS), 0)
        for (collection, reason), n in sorted({**none, **snap.skipped}.items()):
            f["skipped"].add_metric([collection, reason], n)
    for side, n in sorted(snap.unmatched_hosts.items()):
        f["unmatched"].add_metric([side], n)
    if snap.usage is not None:
        f["conflicts"].add_metric([], snap.conflicted_hosts)
        f["split"].add_metric([], snap.split_hosts)
        f["unstepped"].add_metric([], snap.split_hosts_without_steps)
    if snap.rule_evaluations is not None:
        for kind, n in zip(("seen", "expected"), snap.rule_evaluations, strict=True):
            f["evaluations"].add_metric([kind], n)
