"""Hostile and malformed input: property tests over MongoDB documents and upstream answers.

No document shape and no answer body makes a scrape raise. Bad documents are skipped
and counted by reason; whatever is skipped, every CPU-second Prometheus measured is
still exported exactly once (the sum over users per group equals what was measured);
label values from MongoDB survive the exposition format unchanged; and an upstream
answer either parses into finite numbers or fails as a SourceError.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from exporter.collectors import AdaCarbonCollector
from exporter.config import (
    Config,
    IntensityConfig,
    MongoConfig,
    PrometheusConfig,
    RecordingRulesConfig,
)
from exporter.model import SKIP_REASONS, SourceError, WorkspaceBatch
from exporter.refresh import Refresh
from exporter.sources.build import build_refresh
from exporter.sources.carbon_intensity.client import parse_slots
from exporter.sources.carbon_intensity.fixed import FixedIntensity
from exporter.sources.mongodb import parse_workspaces
from exporter.sources.prometheus.usage import PrometheusUsage
from tests.harness.faulty_http import FaultyPrometheus
from tests.harness.prometheus import backfill_rules, openmetrics_counter
from tests.harness.served import ServedExporter
from tests.stubs import StubOwnership, StubUsage, steady_steps, usage, ws

RULES = Path(__file__).resolve().parents[2] / "prometheus" / "ada-carbon-rules.yml"
END = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
T = END.timestamp()
# CI replays the same examples every run (no flaky builds); a developer's run explores
# new ones, and HYPOTHESIS_EXAMPLES=5000 explores many more.
SETTINGS = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() == "true",
    suppress_health_check=[HealthCheck.too_slow],
)
# Each example of these is a whole scrape.
SCRAPE_SETTINGS = settings(SETTINGS, max_examples=max(60, SETTINGS.max_examples // 3))
REASONS = set(SKIP_REASONS)
# Hosts Prometheus measures: (host, project, machine). The hostnames below mostly name them.
MEASURED = [
    ("172.16.100.50", "IDAaaS", "Muon"),
    ("172.16.100.5", "IDAaaS", "Muon"),
    ("172.16.101.7", "CDAaaS", "Tomography"),
    ("workspace-abc-0", "IDAaaS", "SANS"),
]
HOSTILE_TEXT = [
    ".*",
    "172.16.100.5.*",
    "172.16.100.5|172.16.100.50",
    '172.16.100.50"} or vector(1) #',
    "host\nname",
    "hôst-ünïcode",
    "",
    " ",
    "\\",
    "unattributed",
    "${jndi:ldap://x}",
]

# --- strategies -------------------------------------------------------------------------

aware = st.datetimes(
    min_value=datetime(2026, 1, 29), max_value=datetime(2026, 2, 1), timezones=st.just(timezone.utc)
)
naive = st.datetimes(min_value=datetime(2026, 1, 29), max_value=datetime(2026, 2, 1))
other_zone = st.datetimes(
    min_value=datetime(2026, 1, 29),
    max_value=datetime(2026, 2, 1),
    timezones=st.just(timezone(timedelta(hours=-5))),
)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(HOSTILE_TEXT),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
dates = st.one_of(aware, naive, other_zone, junk, st.sampled_from(["2026-01-30", "yesterday"]))
hostnames = st.one_of(
    st.sampled_from(
        [
            "172.16.100.50",
            "172.16.100.50:9100",
            " 172.16.100.50\n",  # surrounding whitespace is tolerated, inner is not
            "172.16.100.5",
            "host-172-16-101-7.nubes.stfc.ac.uk",
            "WORKSPACE-ABC-0.",
            "172.16.100.99",
        ]
    ),
    junk,
)
owners = st.one_of(
    st.sampled_from(["alice", "bob", " carol ", "aa123456", "alice.smith@example.org"]), junk
)
states = st.one_of(st.sampled_from(["CLAIMED", "READY", "DELETED", "claimed", "FAILED"]), junk)
workspace_doc = st.fixed_dictionaries(
    {"_id": st.one_of(st.integers(0, 30), st.text(max_size=8))},
    optional={
        "hostname": hostnames,
        "owner": owners,
        "state": states,
        "tag": junk,
        "created_time": dates,
        "deleted_time": dates,
        "acquired_time": dates,
        "name": junk,
        "email": junk,
    },
)
documents = st.lists(
    st.one_of(workspace_doc, workspace_doc, workspace_doc, junk), max_size=15
).flatmap(
    # Duplicates: some documents again, as a retried write or a replica would give them.
    lambda docs: (
        st.lists(st.sampled_from(docs), max_size=3).map(lambda extra: docs + extra)
        if docs
        else st.just(docs)
    )
)


class DocumentOwnership:
    """An OwnershipSource whose MongoDB answered with exactly these documents."""

    def __init__(self, docs: Sequence[Any]) -> None:
        self._docs = docs
        self.requests = 0

    def workspaces(self, start: datetime, end: datetime) -> WorkspaceBatch:
        return parse_workspaces(self._docs, start.timestamp(), end.timestamp())


def measured_usage() -> StubUsage:
    hosts = [
        usage(h, busy=600.0 * (k + 1), idle=1800.0, project=p, machine=m)
        for k, (h, p, m) in enumerate(MEASURED)
    ]
    steps = {
        (u.instance, u.cloud_project_name, u.machine_name): steady_steps(
            T, u.busy_seconds, u.idle_seconds
        )
        for u in hosts
    }
    return StubUsage(hosts, steps)


def scrape(docs: Sequence[Any]) -> str:
    engine = Refresh(Config(), measured_usage(), DocumentOwnership(docs), FixedIntensity(200))
    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(lambda: engine.snapshot(END)))
    try:
        return generate_latest(registry).decode()
    finally:
        engine.close()


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


# --- MongoDB documents ------------------------------------------------------------------


@SETTINGS
@given(documents)
def test_every_document_is_kept_or_skipped_with_a_known_reason(docs):
    batch = parse_workspaces(docs, -math.inf, math.inf)  # no window: nothing is merely old
    assert set(batch.skipped) <= REASONS
    assert len(batch.workspaces) + sum(batch.skipped.values()) == len(docs)
    assert len({(w.workspace_id, w.id_type) for w in batch.workspaces}) == len(batch.workspaces)
    for w in batch.workspaces:
        assert math.isfinite(w.created) and (w.deleted is None or w.deleted >= w.created)
        assert w.owner is None or (w.owner.strip() == w.owner and w.owner)


@SCRAPE_SETTINGS
@given(documents)
def test_no_document_shape_makes_a_scrape_raise_and_usage_is_conserved(docs):
    text = scrape(docs)
    up = {d["source"]: v for d, v in samples(text, "ada_carbon_source_up")}
    assert up == {"prometheus": 1, "mongodb": 1, "carbon_intensity": 1}
    # Skipped documents are counted by reason, as the adapter counted them.
    batch = parse_workspaces(docs, T - 3600, T)
    skipped = {
        d["reason"]: v
        for d, v in samples(text, "ada_carbon_skipped_documents")
        if d["collection"] == "workspaces"
    }
    assert {reason: n for reason, n in skipped.items() if n} == batch.skipped
    assert set(skipped) == REASONS  # every reason, 0 when none was skipped for it
    # Conservation: per group and mode, the users' CPU-seconds add up to what was measured.
    exported: Counter[tuple[str, str, str]] = Counter()
    for labels, v in samples(text, "ada_carbon_cpu_seconds"):
        exported[labels["cloud_project_name"], labels["machine_name"], labels["mode"]] += v
    measured: Counter[tuple[str, str, str]] = Counter()
    for u in measured_usage().usage:
        measured[u.cloud_project_name, u.machine_name, "busy"] += u.busy_seconds
        measured[u.cloud_project_name, u.machine_name, "idle"] += u.idle_seconds
    assert set(exported) == set(measured)
    for key, seconds in measured.items():
        assert exported[key] == pytest.approx(seconds, rel=1e-9), key
    assert_no_email_in_labels(text)


def assert_no_email_in_labels(text: str) -> None:
    """No label value holds an e-mail address (nor anything with an ``@`` in it)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            assert not any("@" in v for v in s.labels.values()), s


@SCRAPE_SETTINGS
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12)),
        min_size=1,
        max_size=5,
        unique_by=lambda pair: pair[0],
    )
)
def test_label_values_from_mongodb_survive_the_exposition_unchanged(pairs):
    """Quotes, backslashes, newlines and unicode in ids and owners are escaped, never injected."""
    docs = [
        {
            "_id": wid,
            "hostname": "172.16.100.50",
            "owner": owner,
            "state": "CLAIMED",
            "created_time": END - timedelta(days=1),
        }
        for wid, owner in pairs
    ]
    text = scrape(docs)
    info = {d["workspace_id"]: d["user"] for d, _ in samples(text, "ada_carbon_workspace_info")}
    expected = {wid: owner.strip() for wid, owner in pairs if owner.strip() and "@" not in owner}
    assert info == expected
    # Every line is one sample or comment: nothing from MongoDB broke a line open.
    for line in text.split("\n")[:-1]:
        assert line.startswith(("# HELP ", "# TYPE ", "ada_carbon_")), line


def test_ids_that_read_the_same_on_different_hosts_each_keep_their_host():
    """ObjectId('65a0...01') is not '65a0...01', nor 1 "1": neither host goes unattributed."""
    oid = "65a0c0ffee00000000000001"
    docs = [
        {"_id": _id, "hostname": host, "owner": owner, "state": "CLAIMED",
         "created_time": END - timedelta(days=1)}
        for _id, host, owner in (
            (ObjectId(oid), "172.16.100.50", "alice"),
            (oid, "172.16.100.5", "bob"),
            (1, "172.16.101.7", "carol"),
            ("1", "workspace-abc-0", "dave"),
        )
    ]  # fmt: skip
    text = scrape(docs)
    busy = {
        labels["user"]: v
        for labels, v in samples(text, "ada_carbon_cpu_seconds")
        if labels["mode"] == "busy"
    }
    assert busy == {"alice": 600.0, "bob": 1200.0, "carol": 1800.0, "dave": 2400.0}
    info = sorted(
        (d["workspace_id"], d["user"]) for d, _ in samples(text, "ada_carbon_workspace_info")
    )
    assert info == [("1", "carol"), ("1", "dave"), (oid, "alice"), (oid, "bob")]


def test_an_owner_that_is_an_e_mail_address_never_reaches_a_label():
    """The document is skipped and counted; its host's usage stays, as unattributed."""
    docs = [
        {"_id": "w", "hostname": "172.16.100.50", "owner": "alice.smith@example.org",
         "state": "CLAIMED", "created_time": END - timedelta(days=1)},
    ]  # fmt: skip
    text = scrape(docs)
    assert "example.org" not in text
    assert_no_email_in_labels(text)
    skipped = {d["reason"]: v for d, v in samples(text, "ada_carbon_skipped_documents")}
    assert skipped["email_owner"] == 1
    users = {d["user"] for d, _ in samples(text, "ada_carbon_cpu_seconds")}
    assert users == {"unattributed"}


def test_the_hostile_hostnames_are_skipped_as_bad_hostnames():
    docs = [
        {"_id": k, "hostname": h, "owner": "mallory", "state": "CLAIMED", "created_time": END}
        for k, h in enumerate(HOSTILE_TEXT)
        if h != "unattributed"  # a fine DNS name, if an odd one
    ]
    batch = parse_workspaces(docs, T - 3600, T)
    assert batch.workspaces == ()
    assert batch.skipped == {"bad_hostname": len(docs)}


# --- Prometheus answers -----------------------------------------------------------------

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=10),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
# Sample values as Prometheus spells them. Magnitudes stop at 1e12 CPU-seconds (a million
# cores for 11 days): near 1e308 a sum or a rate times an interval overflows to +Inf,
# which is exported as +Inf rather than raising, but is no finite number.
numbers = st.one_of(
    st.sampled_from(["NaN", "+Inf", "-Inf", "-1", "1e12", "0", "12.5", "", "abc", "0x10"]),
    st.floats(min_value=-1e12, max_value=1e12).map(repr),
    json_values,
)
labels = st.fixed_dictionaries(
    {},
    optional={
        "instance": st.one_of(
            st.sampled_from(["172.16.100.50:9100", ".*:9100", "[::1]:9100"]), json_values
        ),
        "cloud_project_name": st.one_of(st.just("IDAaaS"), json_values),
        "machine_name": st.one_of(st.just("Muon"), json_values),
        "class": st.one_of(st.sampled_from(["busy", "idle", "steal"]), json_values),
        "cpu": st.just("0"),
        "__name__": st.sampled_from(["busy_r", "idle_r", "other"]),
    },
)
vector_series = st.fixed_dictionaries(
    {
        "metric": st.one_of(labels, json_values),
        "value": st.one_of(st.tuples(st.floats(0, 2e9), numbers).map(list), json_values),
    }
)
matrix_series = st.fixed_dictionaries(
    {
        "metric": st.one_of(labels, json_values),
        "values": st.one_of(
            st.lists(st.tuples(st.floats(0, 2e9), numbers).map(list), max_size=5), json_values
        ),
    }
)
answers = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "status": st.just("success"),
            "data": st.fixed_dictionaries(
                {
                    "result": st.lists(
                        st.one_of(vector_series, matrix_series, json_values), max_size=6
                    )
                }
            ),
        },
        optional={"warnings": st.lists(st.text(max_size=5), max_size=1)},
    ),
)


def adapter(body: bytes, source: str = "raw") -> PrometheusUsage:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    rules = RecordingRulesConfig("busy_r", "idle_r")
    cfg = PrometheusConfig(url="http://prom.test", source=source, recording_rules=rules)
    return PrometheusUsage(httpx.Client(transport=transport), cfg, ("user",), ("idle",))


@SETTINGS
@given(answers)
def test_any_prometheus_answer_gives_finite_usage_or_a_source_error(answer):
    body = json.dumps(answer).encode()
    for call in (
        lambda: adapter(body).window_usage(END, 3600),
        lambda: adapter(body).usage_steps(["172.16.100.50:9100"], END, 3600, 60),
        lambda: adapter(body, "recording_rules").window_usage(END, 3600),
        lambda: adapter(body, "recording_rules").usage_steps(["172.16.100.50:9100"], END, 3600, 60),
    ):
        try:
            result = call()
        except SourceError:
            continue
        rows = result if isinstance(result, list) else [s for v in result.values() for s in v]
        for row in rows:
            assert math.isfinite(row.busy_seconds) and row.busy_seconds >= 0
            assert math.isfinite(row.idle_seconds) and row.idle_seconds >= 0


@SETTINGS
@given(st.one_of(json_values, st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
def test_any_intensity_answer_gives_slots_or_a_source_error(answer):
    try:
        slots = parse_slots(answer)
    except SourceError:
        return
    assert all(math.isfinite(s.gco2_per_kwh) and s.gco2_per_kwh >= 0 for s in slots)


# --- Over the wire: nx-27017 and a real Prometheus --------------------------------------


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


HOSTILE_DOCUMENTS: list[dict[str, Any]] = [
    {"_id": "alice", "hostname": "172.16.100.50", "owner": "alice", "state": "DELETED",
     "created_time": _naive(END - timedelta(days=1)),
     "deleted_time": _naive(END - timedelta(minutes=20))},
    # Aware, in another zone: BSON stores UTC, so this is END - 20 min too.
    {"_id": "bob", "hostname": "host-172-16-100-50.nubes.stfc.ac.uk", "owner": "bob",
     "state": "CLAIMED",
     "created_time": (END - timedelta(minutes=20)).astimezone(timezone(timedelta(hours=-5)))},
    {"_id": "regex", "hostname": ".*", "owner": "m", "state": "CLAIMED",
     "created_time": _naive(END)},
    {"_id": "quote", "hostname": '172.16.100.50"} or vector(1)', "owner": "m", "state": "CLAIMED",
     "created_time": _naive(END)},
    {"_id": "unicode", "hostname": "hôst-1", "owner": "m", "state": "CLAIMED",
     "created_time": _naive(END)},
    {"_id": "number", "hostname": 1721610050, "owner": "m", "state": "CLAIMED",
     "created_time": _naive(END)},
    {"_id": "string-date", "hostname": "172.16.100.50", "owner": "m", "state": "CLAIMED",
     "created_time": "2026-01-30"},
    {"_id": "no-date", "hostname": "172.16.100.50", "owner": "m", "state": "CLAIMED"},
    {"_id": "backwards", "hostname": "172.16.100.50", "owner": "m", "state": "DELETED",
     "created_time": _naive(END), "deleted_time": _naive(END - timedelta(hours=1))},
    {"_id": "numeric-owner", "hostname": "172.16.100.50", "owner": 42, "state": "CLAIMED",
     "created_time": _naive(END - timedelta(days=1))},
    {"_id": "null-state", "hostname": "172.16.100.50", "owner": "m", "state": None,
     "created_time": _naive(END - timedelta(days=1))},
]  # fmt: skip


@pytest.mark.mongowire
def test_hostile_documents_over_the_wire_are_skipped_by_reason_and_the_scrape_serves(
    mongo_wire,
):
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_wire.uri)
    client["ada"]["workspaces"].insert_many(HOSTILE_DOCUMENTS)
    client.close()
    with FaultyPrometheus() as prom:
        cfg = Config(
            prometheus=PrometheusConfig(url=prom.url, timeout_seconds=2),
            mongodb=MongoConfig(uri=mongo_wire.uri, timeout_seconds=2),
            carbon_intensity=IntensityConfig(source="fixed"),
        )
        with ServedExporter(build_refresh(cfg), END) as exporter:
            scrape = exporter.scrape()
    assert scrape.status == 200
    assert set(scrape.up().values()) == {1}
    skipped = {
        dict(k)["reason"]: v for k, v in scrape.samples("ada_carbon_skipped_documents").items()
    }
    assert skipped == {
        **dict.fromkeys(REASONS, 0),  # every reason is exported, 0 when none was skipped
        "bad_hostname": 4,
        "bad_created_time": 2,
        "deleted_before_created": 1,
        "bad_owner": 1,
        "bad_state": 1,
    }
    cpu = {
        (dict(k)["user"], dict(k)["mode"]): v
        for k, v in scrape.samples("ada_carbon_cpu_seconds").items()
    }
    assert set(cpu) == {("alice", "busy"), ("alice", "idle"), ("bob", "busy"), ("bob", "idle")}
    assert cpu["alice", "busy"] + cpu["bob", "busy"] == pytest.approx(1800)  # all of it
    assert cpu["alice", "busy"] / 1800 == pytest.approx(2 / 3, rel=0.05)  # the handover


def awkward_fleet() -> str:
    """node_cpu_seconds_total, 2 h every 15 s, of awkward hosts (one CPU each, user 0.25).

    .60 reboots 30 min before END (its counters restart from 0); .62 has no group
    labels. The others are scraped by a second job, ``node-again`` (every series twice,
    differing only in ``job``): .61 all along; .63 from 30 min before END, when it
    changes hands (the split steps must not give the new owner twice the load); .64
    until 30 min before END, when that job is removed.
    """
    times = [T - 7200 + 7 + 15 * k for k in range(480)]
    reboot = half = T - 1800
    rows: list[tuple[dict[str, str], float, float]] = []
    group = {"cloud_project_name": "IDAaaS", "machine_name": "Muon"}
    both = ("node", "node-again")
    for instance, labels, jobs in (
        ("172.16.100.60:9100", group, ("node",)),
        ("172.16.100.61:9100", group, both),
        ("172.16.100.62:9100", {}, ("node",)),
        ("172.16.100.63:9100", group, both),
        ("172.16.100.64:9100", group, both),
    ):
        for job in jobs:
            for mode, rate in (("user", 0.25), ("idle", 0.75)):
                series = {"instance": instance, **labels, "cpu": "0", "mode": mode, "job": job}
                for t in times:
                    if job == "node-again" and (
                        (instance.endswith(".63:9100") and t < half)
                        or (instance.endswith(".64:9100") and t >= half)
                    ):
                        continue
                    rebooted = instance.endswith(".60:9100") and t >= reboot
                    value = rate * (t - reboot) if rebooted else 1e5 + rate * (t - times[0])
                    rows.append((series, value, t))
    return openmetrics_counter("node_cpu_seconds", rows)


@pytest.mark.prometheus
@pytest.mark.parametrize("source", ["raw", "recording_rules"])
def test_counter_resets_duplicate_jobs_and_missing_labels_in_a_real_prometheus(
    prometheus_factory, source
):
    prom = prometheus_factory(awkward_fleet())
    if source == "recording_rules":  # the shipped rules, evaluated over the counters
        backfill_rules(prom, RULES, T - 7200 + 180, T)
    owners = StubOwnership(
        [
            ws("a", "alice", T - 86400, T - 1200, host="172.16.100.60"),
            ws("b", "bob", T - 1200, host="172.16.100.60"),
            ws("c", "carol", T - 86400, host="172.16.100.61"),
            ws("d", "dave", T - 86400, host="172.16.100.62"),
            ws("e", "erin", T - 86400, T - 1800, host="172.16.100.63"),
            ws("f", "frank", T - 1800, host="172.16.100.63"),
            ws("g", "grace", T - 86400, host="172.16.100.64"),
        ]
    )

    def cpu(**matchers: str) -> dict[tuple[str, str], float]:
        cfg = PrometheusConfig(url=prom.url, matchers=matchers, source=source)
        usage = PrometheusUsage(httpx.Client(), cfg, ("user",), ("idle",))
        engine = Refresh(Config(prometheus=cfg), usage, owners, FixedIntensity(200))
        snap = engine.snapshot(END)
        engine.close()
        assert snap.usage is not None and snap.sources["prometheus"].up
        return {(k[0], k[3]): u.busy_seconds for k, u in snap.usage.items()}

    hour = 0.25 * 3600
    busy = cpu()
    # The reboot: Prometheus' increase() and the split's differences both count the reset,
    # so the host's hour is all there and the handover still splits it 2:1.
    alice, bob = busy["IDAaaS", "alice"], busy["IDAaaS", "bob"]
    assert alice + bob == pytest.approx(hour, rel=0.02)
    assert alice / (alice + bob) == pytest.approx(2 / 3, rel=0.03)
    # Missing group labels: exported with empty labels, never dropped.
    assert busy["", "dave"] == pytest.approx(hour, rel=0.02)
    # Two jobs scraping one node count once: all window long, from a handover (each
    # owner had the same load) and until the second job was removed.
    assert busy["IDAaaS", "carol"] == pytest.approx(hour, rel=0.02)
    assert busy["IDAaaS", "erin"] == pytest.approx(hour / 2, rel=0.05)
    assert busy["IDAaaS", "frank"] == pytest.approx(hour / 2, rel=0.05)
    assert busy["IDAaaS", "grace"] == pytest.approx(hour, rel=0.02)
    if source == "raw":
        # prometheus.matchers still picks one job, with the same result.
        one_job = cpu(job="node")
        assert one_job.keys() == busy.keys()
        for key, seconds in one_job.items():
            assert busy[key] == pytest.approx(seconds, rel=0.01), key
