"""The /metrics writer gives prometheus_client's bytes exactly, in every format; the app
negotiates the format and gzip as the client asks."""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    StateSetMetricFamily,
)
from prometheus_client.samples import Sample

from exporter import exposition
from exporter.collectors import AdaCarbonCollector
from exporter.collectors.usage import rounded
from exporter.config import Config, with_demo
from exporter.model import Usage
from exporter.sources.build import build_refresh

ACCEPTS = (
    None,
    "",
    "text/plain",
    "text/plain;version=0.0.4",
    "text/plain;version=1.0.0;escaping=allow-utf-8",
    "text/plain;version=1.0.0;escaping=dots",
    "text/plain;version=1.0.0;escaping=values",
    # What Prometheus 2.42 sends.
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "application/openmetrics-text",
    "application/openmetrics-text;version=1.0.0;escaping=underscores",
    "application/openmetrics-text;version=1.0.0;escaping=dots",
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
)


class Families:
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


def expected(registry: Any, accept: str | None) -> tuple[bytes, str]:
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def hostile_families() -> list[Metric]:
    g = GaugeMetricFamily(
        "ada_carbon_test_gauge", 'Help with "quotes", a \\ backslash\nand a newline.',
        labels=["user", "mode"],
    )  # fmt: skip
    shared = {"user": 'a"b\\c\nd é 🌍', "mode": ""}
    for value in (0.0, -0.0, 1.0, 0.1, 1e-7, 123456.789, 1e6, 1234567.0, 1e20, -5.5,
                  float("inf"), float("-inf"), float("nan"), 3, 10**7, True):  # fmt: skip
        g.samples.append(Sample(g.name, shared, value))
    g.add_metric(["plain", "busy"], 42.0)
    unlabelled = GaugeMetricFamily("ada_carbon_plain", "No labels.", value=7)
    stamped = GaugeMetricFamily("ada_carbon_stamped", "With a timestamp.", labels=["x"])
    stamped.add_metric(["1"], 2.0, timestamp=1_700_000_000.5)
    with_unit = GaugeMetricFamily(
        "ada_carbon_energy_joules", "Energy.", labels=["u"], unit="joules"
    )
    with_unit.add_metric(["x"], 1.5)
    counter = CounterMetricFamily("ada_carbon_things", "Things.", labels=["k"])
    counter.add_metric(["v"], 3.0, created=1_700_000_000.0)
    states = StateSetMetricFamily("ada_carbon_state", "A state set.", labels=["r"])
    states.add_metric(["x"], {"low": True, "high": False})
    utf8 = GaugeMetricFamily("ada_carbon_utf8_labels", "UTF-8 label name.")
    utf8.samples.append(Sample(utf8.name, {"user.name": "x"}, 1.0))
    return [g, unlabelled, stamped, with_unit, counter, states, utf8]


def a_registry_of_every_kind() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("ada_test_requests", "Requests.", ["code"], registry=registry).labels("200").inc(3)
    Gauge("ada_test_inflight", "In flight.", registry=registry).set(2)
    Histogram("ada_test_seconds", "Durations.", registry=registry).observe(0.3)
    Info("ada_test_build", "Build.", registry=registry).info({"version": "1"})
    return registry


def demo_snapshot():
    engine = build_refresh(with_demo(Config()))
    try:
        return engine.snapshot()
    finally:
        engine.close()


@pytest.mark.parametrize("accept", ACCEPTS)
def test_the_exporters_own_metrics_are_byte_identical(accept):
    snap = demo_snapshot()
    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(lambda: snap))
    body, _ = exposition.encode(registry, accept)
    assert body.count(b"energy__joules{" if "dots" in (accept or "") else b"energy_joules{") > 100
    assert (body, _) == expected(registry, accept)


@pytest.mark.parametrize("accept", ACCEPTS)
def test_hostile_labels_values_help_and_other_kinds_are_byte_identical(accept):
    families = Families(hostile_families())
    assert exposition.encode(families, accept) == expected(families, accept)
    registry = a_registry_of_every_kind()
    assert exposition.encode(registry, accept) == expected(registry, accept)


labels = st.text(st.characters(codec="utf-8"), max_size=12)
values = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**12), 10**12)
# Values as the usage families hold them: CPU-seconds, joules, grams.
numbers = st.floats(1e-4, 1e6, exclude_max=True) | st.floats(1e-9, 1e12)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(labels, labels, values), max_size=8), accept=st.sampled_from(ACCEPTS)
)
def test_any_gauge_is_byte_identical(rows, accept):
    g = GaugeMetricFamily("ada_carbon_any", "Any.", labels=["a", "b"])
    for a, b, v in rows:
        g.add_metric([a, b], v)
    families = Families([g])
    assert exposition.encode(families, accept) == expected(families, accept)


def call(app, environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    response = app({"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", **environ}, start_response)
    try:
        body = b"".join(response)
    finally:
        getattr(response, "close", lambda: None)()  # as a WSGI server does once it is sent
    return seen["status"], seen["headers"], body


def test_the_app_negotiates_compresses_and_filters_by_name():
    registry = a_registry_of_every_kind()
    app = exposition.make_metrics_app(registry)
    accept = ACCEPTS[7]
    status, headers, body = call(app, {"HTTP_ACCEPT": accept, "HTTP_ACCEPT_ENCODING": "gzip"})
    want, content_type = expected(registry, accept)
    assert status == "200 OK"
    assert headers == {"Content-Type": content_type, "Content-Encoding": "gzip"}
    assert gzip.decompress(body) == want
    # zlib's fastest level: its very stream past the 10-byte header (a time stamp).
    assert body[10:] == gzip.compress(want, 1)[10:]
    assert body[10:] != gzip.compress(want, 9)[10:]
    assert want.endswith(b"# EOF\n")
    _, _, body = call(app, {"QUERY_STRING": "name[]=ada_test_inflight"})
    assert body.decode().splitlines() == [
        "# HELP ada_test_inflight In flight.",
        "# TYPE ada_test_inflight gauge",
        "ada_test_inflight 2.0",
    ]
    status, headers, _ = call(app, {"REQUEST_METHOD": "POST"})
    assert status.startswith("405")
    status, headers, _ = call(app, {"REQUEST_METHOD": "OPTIONS"})
    assert status == "200 OK" and headers["Allow"] == "OPTIONS,GET"


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("GZIP", True),
        ("gzip;q=0.5", True),
        ("gzip; q=0.001", True),
        ("*", True),
        ("br, *;q=0.1", True),
        ("identity;q=0, gzip", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0", False),
        ("gzip;q=0.000", False),
        ("gzip ; q=0", False),
        ("GZip;Q=0", False),
        ("deflate, gzip;q=0", False),
        ("gzip;q=0, *", False),  # gzip's own weight counts, not the wildcard's
        ("*;q=0", False),
        ("identity, *;q=0", False),
        ("identity;q=0", False),  # nothing acceptable: sent as it is (RFC 9110 12.5.3)
        ("gzip;q=nope", False),  # a malformed weight refuses it
        ("gzip;q=2", False),
        ("deflate", False),
        ("", False),
    ],
)
def test_gzip_only_when_the_client_gives_it_a_weight_above_zero(accept_encoding, gzipped):
    registry = a_registry_of_every_kind()
    want, _ = expected(registry, None)
    app = exposition.make_metrics_app(registry)
    for query in ("", "name[]=ada_test_inflight"):  # filtered scrapes too
        _, headers, body = call(
            app, {"HTTP_ACCEPT_ENCODING": accept_encoding, "QUERY_STRING": query}
        )
        assert ("Content-Encoding" in headers) is gzipped
        if gzipped:
            assert headers["Content-Encoding"] == "gzip"
            body = gzip.decompress(body)
        assert body.startswith(b"# HELP ada_test_")
        assert body == want or query


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(labels, labels, labels, values | numbers), max_size=8),
    st.sampled_from(ACCEPTS),
)
def test_label_sets_shared_between_families_are_byte_identical(rows, accept):
    """As the usage families share theirs; label names unsorted, values rounded or not."""
    names = ("zeta", "alpha", "mid")
    shared = [dict(zip(names, (a, b, c), strict=True)) for a, b, c, _ in rows]
    exact = GaugeMetricFamily("ada_carbon_exact", "Exact.", labels=list(names))
    kept = GaugeMetricFamily("ada_carbon_rounded", "Rounded.", labels=list(names))
    for labelset, (*_, v) in zip(shared, rows, strict=True):
        exact.samples.append(Sample(exact.name, labelset, v))
        kept.samples.append(Sample(kept.name, labelset, rounded(v)))
    families = Families([exact, kept])
    assert exposition.encode(families, accept) == expected(families, accept)


EDGES = [
    0.0,
    -0.0,
    0,
    1,
    5.0,
    0.5,
    1e-4,
    9.99e-5,
    1e-5,
    999999.4,
    999999.99999999,
    1e6,
    -99999.9,
    -99999.99999999,
    -1e5,
    123456.5,
    7259.000000000001,
    2 / 3,
    1234.5,
    1e16,
    123456789012345678.0,
    -1e22,
]


@pytest.mark.parametrize("rounding", [False, True])
@pytest.mark.parametrize("edge", EDGES)
def test_values_at_the_edges_of_the_formats_are_written_as_prometheus_client_writes_them(
    edge, rounding
):
    """Alone, among plain values and among zeros; as they are, and rounded to 12 digits."""
    for values in ([edge], [0.25, edge, 3600.5], [0.0, edge, 0.0], [edge, math.nan]):
        g = GaugeMetricFamily("ada_carbon_cols", "Cols.", labels=["user", "mode"])
        for i, v in enumerate(values):
            g.add_metric([str(i), "busy"], rounded(v) if rounding else v)
        families = Families([g])
        assert exposition.encode(families, ACCEPTS[0]) == expected(families, ACCEPTS[0])


def test_a_label_set_seen_in_an_earlier_scrape_is_written_with_its_new_values():
    labelset = {"user": "a%sb%%", "mode": "busy"}  # % in a label value
    for value in (1.5, 0.0, 1e7, 2 / 3):
        g = GaugeMetricFamily("ada_carbon_cols", "Cols.", labels=["user", "mode"])
        g.samples.append(Sample(g.name, labelset, value))
        families = Families([g])
        body, _ = exposition.encode(families, ACCEPTS[0])
        assert body == expected(families, ACCEPTS[0])[0]
        assert body.endswith(f" {exposition.go_float(value)}\n".encode())


def test_usage_values_are_written_to_12_significant_digits_and_read_back_as_written():
    key = ("IDAaaS", "Muon", "ISIS", "a")
    usage = Usage(1 / 3, 3600.0, 123456.78901234567, 2 / 3 * 1e9, 0.0, 1e-7 / 3)
    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(lambda: replace(demo_snapshot(), usage={key: usage})))
    body = exposition.encode(registry, ACCEPTS[0])[0].decode()
    labels = 'cloud_project_name="IDAaaS",facility="ISIS",machine_name="Muon"'
    assert f'ada_carbon_cpu_seconds{{{labels},mode="busy",user="a"}} 0.333333333333\n' in body
    assert f'ada_carbon_cpu_seconds{{{labels},mode="idle",user="a"}} 3600.0\n' in body
    assert f'ada_carbon_energy_joules{{{labels},mode="busy",user="a"}} 123456.789012\n' in body
    assert f'ada_carbon_energy_joules{{{labels},mode="idle",user="a"}} 6.66666666667e+08\n' in body
    assert f'ada_carbon_emissions_grams{{{labels},mode="busy",user="a"}} 0.0\n' in body
    assert (
        f'ada_carbon_emissions_grams{{{labels},mode="idle",user="a"}} 3.33333333333e-08\n' in body
    )
    group = dict(zip(("cloud_project_name", "machine_name", "facility", "user"), key, strict=True))
    values = [
        registry.get_sample_value(f"ada_carbon_{family}", {**group, "mode": mode})
        for family in ("cpu_seconds", "energy_joules", "emissions_grams")
        for mode in ("busy", "idle")
    ]
    assert values == [0.333333333333, 3600.0, 123456.789012, 666666666.667, 0.0, 3.33333333333e-08]
