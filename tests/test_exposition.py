"""The fast /metrics writer gives prometheus_client's bytes exactly, in every format."""

from __future__ import annotations

import gc
import gzip
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from isal import igzip
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
from exporter.collector import AdaCarbonCollector
from exporter.config import Config, with_demo
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


@pytest.mark.parametrize("accept", ACCEPTS)
def test_the_exporters_own_metrics_are_byte_identical(accept):
    engine = build_refresh(with_demo(Config()))
    try:
        snap = engine.snapshot()
    finally:
        engine.close()
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


def test_plain_gauges_take_the_fast_path_and_others_do_not():
    g, unlabelled, stamped, with_unit, counter, states, utf8 = hostile_families()
    for fast in (g, unlabelled, with_unit):
        assert exposition._gauge(fast, False, exposition._Labels()) is not None, fast.name
    for slow in (stamped, counter, states, utf8):
        assert exposition._gauge(slow, False, exposition._Labels()) is None, slow.name


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


def test_the_app_negotiates_compresses_and_leaves_filters_to_prometheus_client():
    registry = a_registry_of_every_kind()
    app = exposition.make_metrics_app(registry)
    accept = ACCEPTS[7]
    status, headers, body = call(app, {"HTTP_ACCEPT": accept, "HTTP_ACCEPT_ENCODING": "gzip"})
    want, content_type = expected(registry, accept)
    assert status == "200 OK"
    assert headers == {"Content-Type": content_type, "Content-Encoding": "gzip"}
    assert gzip.decompress(body) == want
    # ISA-L's deflate at level 1: its very stream past the 10-byte header (a time stamp),
    # not zlib's fastest, nor igzip's level 0 (a quarter larger on a real body).
    assert body[10:] == igzip.compress(want, 1)[10:]
    assert body[10:] not in (gzip.compress(want, 1)[10:], igzip.compress(want, 0)[10:])
    assert want.endswith(b"# EOF\n")
    # name[] filters and other methods: prometheus_client's own app.
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


def test_row_gauges_are_ordinary_families_to_everything_else():
    g = exposition.RowGauge("ada_carbon_rows", "Rows.", ("user", "mode"))
    shared = ('a"b\\', "busy")
    g.add_row(shared, 2.5)
    g.add_row(("c", "idle"), 0)
    registry = CollectorRegistry(auto_describe=True)  # so that name[] filters know the name
    registry.register(Families([g]))  # type: ignore[arg-type]
    assert registry.get_sample_value("ada_carbon_rows", {"user": 'a"b\\', "mode": "busy"}) == 2.5
    g.add_row(("", "busy"), 1e9)  # rows added after samples were read are not lost
    assert [s.labels["user"] for s in g.samples] == ['a"b\\', "c", ""]
    for accept in ACCEPTS:
        assert exposition.encode(registry, accept) == expected(registry, accept)
    _, _, body = call(
        exposition.make_metrics_app(registry), {"QUERY_STRING": "name[]=ada_carbon_rows"}
    )
    assert body.decode().count("ada_carbon_rows{") == 3
    with pytest.raises(TypeError):
        g.samples = [g.samples[0]]
    with pytest.raises(ValueError, match="1 values"):
        g.add_row(("x",), 1.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(labels, labels, labels, values), max_size=8), st.sampled_from(ACCEPTS))
def test_any_row_gauge_is_byte_identical(rows, accept):
    g = exposition.RowGauge("ada_carbon_rows", "Rows.", ("zeta", "alpha", "mid"))  # unsorted
    for a, b, c, v in rows:
        g.add_row((a, b, c), v)
    families = Families([g])
    assert exposition.encode(families, accept) == expected(families, accept)


def test_rows_added_in_bulk_are_checked_when_written_and_labels_are_kept_right_across_scrapes():
    def scrape(rows):
        g = exposition.RowGauge("ada_carbon_rows", "Rows.", ("user", "mode"))
        g.add_rows(rows)
        families = Families([g])
        body = exposition.encode(families, ACCEPTS[0])
        assert body == expected(families, ACCEPTS[0])
        return body[0].decode()

    first = scrape([(("alice", "busy"), 1.5), (("bob", "idle"), 2.0)])
    # The label text written for a tuple is kept for the next scrape: equal values,
    # new tuple objects, and a value that must not pick up another's text.
    second = scrape([(("alice", "busy"), 3.0), (("bob", "busy"), 4.0)])
    assert 'ada_carbon_rows{mode="busy",user="alice"} 1.5' in first
    assert 'ada_carbon_rows{mode="busy",user="alice"} 3.0' in second
    assert 'ada_carbon_rows{mode="busy",user="bob"} 4.0' in second
    with pytest.raises(ValueError, match="1 values"):
        scrape([(("carol",), 1.0)])


def test_column_gauges_are_ordinary_families_to_everything_else():
    g = exposition.ColumnGauge(
        "ada_carbon_cols", "Columns.", ("user", "mode"), (("busy", 2), ("idle", 0))
    )
    g.set_rows([(('a"b\\',), (1.0, 0.0, 2.5)), (("c",), (0, 9.0, float("nan")))])
    registry = CollectorRegistry(auto_describe=True)  # so that name[] filters know the name
    registry.register(Families([g]))  # type: ignore[arg-type]
    assert registry.get_sample_value("ada_carbon_cols", {"user": 'a"b\\', "mode": "busy"}) == 2.5
    assert registry.get_sample_value("ada_carbon_cols", {"user": "c", "mode": "idle"}) == 0
    for accept in ACCEPTS:
        assert exposition.encode(registry, accept) == expected(registry, accept)
    _, _, body = call(
        exposition.make_metrics_app(registry), {"QUERY_STRING": "name[]=ada_carbon_cols"}
    )
    assert body.decode().count("ada_carbon_cols{") == 4
    g.set_rows([(("d",), (1.0, 2.0, 3.0))])  # new rows: new samples
    assert [(s.labels["user"], s.labels["mode"], s.value) for s in g.samples] == [
        ("d", "busy", 3.0),
        ("d", "idle", 1.0),
    ]
    with pytest.raises(TypeError):
        g.samples = [g.samples[0]]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(labels, labels, values | numbers, values | numbers), max_size=8),
    st.sampled_from(ACCEPTS),
    st.sampled_from([None, 12, 15, 1]),
)
def test_any_column_gauge_is_byte_identical(rows, accept, digits):
    """With significant digits too: the bytes prometheus_client writes for the rounded values."""
    g = exposition.ColumnGauge(  # label names unsorted, the column label in the middle
        "ada_carbon_cols", "Columns.", ("zeta", "alpha", "mid"), (("x", 1), ("y", 0)), digits
    )
    g.set_rows([((a, b), (v, w)) for a, b, v, w in rows])
    families = Families([g])
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
    1234.5,  # to 3 digits, 1.23e+03 where prometheus_client writes 1230.0
]


@pytest.mark.parametrize("digits", [None, 12, 3, 1])
@pytest.mark.parametrize("edge", EDGES)
def test_values_beside_the_fast_checks_edges_are_written_as_prometheus_client_writes_them(
    edge, digits
):
    """Each edge of the checks done in C, alone, among plain values and among zeros."""
    for values in ([edge], [0.25, edge, 3600.5], [0.0, edge, 0.0], [edge, math.nan]):
        g = exposition.ColumnGauge(
            "ada_carbon_cols", "Cols.", ("user", "mode"), (("b", 0),), digits
        )
        g.set_rows([((str(i),), (v,)) for i, v in enumerate(values)])
        families = Families([g])
        assert exposition.encode(families, ACCEPTS[0]) == expected(families, ACCEPTS[0])


def test_column_labels_are_kept_right_across_scrapes_and_checked_when_written():
    def scrape(rows):
        g = exposition.ColumnGauge("ada_carbon_cols", "Cols.", ("user", "mode"), (("busy", 0),))
        g.set_rows(rows)
        families = Families([g])
        body = exposition.encode(families, ACCEPTS[0])
        assert body == expected(families, ACCEPTS[0])
        return body[0].decode()

    first = scrape([(("alice",), (1.5,)), (("bob",), (2.0,))])
    second = scrape([(("bob",), (4.0,)), (("alice",), (3.0,))])  # new tuples, other order
    assert 'ada_carbon_cols{mode="busy",user="alice"} 1.5' in first
    assert 'ada_carbon_cols{mode="busy",user="alice"} 3.0' in second
    assert 'ada_carbon_cols{mode="busy",user="bob"} 4.0' in second
    with pytest.raises(ValueError, match="3 values"):
        scrape([(("carol", "x"), (1.0,))])


@pytest.mark.parametrize("digits", [None, 12])
def test_a_family_with_the_labels_of_the_last_scrape_is_written_with_its_new_values(digits):
    """Its lines' format is kept between scrapes: the values must still be this scrape's."""
    for values in ((1.5, 2.25), (3.5, 0.0), (7.0, 1e7), (0.5, 0.25), (2 / 3, 1.0)):
        g = exposition.ColumnGauge(
            "ada_carbon_cols", "Cols.", ("user", "mode"), (("busy", 0), ("idle", 1)), digits
        )
        g.set_rows([(("a%sb%%",), values), (("c",), values[::-1])])  # % in a label value
        families = Families([g])
        assert exposition.encode(families, ACCEPTS[0]) == expected(families, ACCEPTS[0])


def test_values_are_written_to_the_significant_digits_asked_for_and_read_back_as_written():
    g = exposition.ColumnGauge(
        "ada_carbon_cols", "Cols.", ("user", "mode"), (("busy", 0), ("idle", 1)), 12
    )
    g.set_rows([(("a",), (1 / 3, 3600.0)), (("b",), (123456.78901234567, 2 / 3 * 1e9))])
    body = exposition.encode(Families([g]), ACCEPTS[0])[0].decode()
    assert 'ada_carbon_cols{mode="busy",user="a"} 0.333333333333\n' in body
    assert 'ada_carbon_cols{mode="idle",user="a"} 3600.0\n' in body
    assert 'ada_carbon_cols{mode="busy",user="b"} 123456.789012\n' in body
    assert 'ada_carbon_cols{mode="idle",user="b"} 6.66666666667e+08\n' in body  # as Go writes it
    assert [s.value for s in g.samples] == [0.333333333333, 3600.0, 123456.789012, 666666666.667]
    with pytest.raises(ValueError, match="1 to 15"):
        exposition.ColumnGauge("ada_carbon_cols", "Cols.", ("mode",), (("busy", 0),), 16)


class GcWatcher:
    """A collector that notes whether the cyclic GC was on while it was collected."""

    def __init__(self, fail: bool = False) -> None:
        self.seen: list[bool] = []
        self.fail = fail

    def collect(self) -> Iterator[Metric]:
        self.seen.append(gc.isenabled())
        if self.fail:
            raise RuntimeError("refresh failed")
        g = GaugeMetricFamily("ada_test_gc", "GC.")
        g.add_metric([], 1)
        yield g


def test_the_gc_is_held_off_from_a_scrape_until_its_body_is_sent():
    watcher = GcWatcher()
    registry = CollectorRegistry()
    registry.register(watcher)  # type: ignore[arg-type]
    app = exposition.make_metrics_app(registry)
    assert gc.isenabled()
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics"}
    first = app(env, lambda status, headers: None)
    second = app(env, lambda status, headers: None)  # two scrapes at once
    assert watcher.seen == [False, False]
    assert not gc.isenabled()  # the body is made, but not sent yet
    first.close()
    assert not gc.isenabled()  # the other scrape is still sending
    second.close()
    second.close()  # a second close() changes nothing
    assert gc.isenabled()
    # A failed scrape resumes it too, and a GC turned off by someone else stays off.
    failing = CollectorRegistry()
    failing.register(GcWatcher(fail=True))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        exposition.make_metrics_app(failing)(env, lambda status, headers: None)
    assert gc.isenabled()
    gc.disable()
    try:
        app(env, lambda status, headers: None).close()
        assert not gc.isenabled()
    finally:
        gc.enable()
