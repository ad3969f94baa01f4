"""Proof that the real-server harnesses work, and a record of where nx-27017 is not MongoDB."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import httpx
import pymongo
import pytest
from pymongo.collection import Collection
from pymongo.errors import OperationFailure, PyMongoError, ServerSelectionTimeoutError

from tests.harness import fixtures, mongowire, prometheus
from tests.harness.faulty_tcp import FaultyProxy
from tests.harness.fixtures import PrometheusFactory
from tests.harness.mongowire import BlackholeServer, MongoWireServer
from tests.harness.prometheus import PrometheusServer, openmetrics_counter

Client = pymongo.MongoClient[dict[str, Any]]
Workspaces = Collection[dict[str, Any]]
Kind = Literal["prometheus", "mongowire"]
T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z: far past the default 15-day retention
WEIRD = 'back\\slash "quoted"\nnewline'


def connect(uri: str, timeout_ms: int = 2000) -> Client:
    """A pymongo client that gives up server selection after `timeout_ms`."""
    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=timeout_ms)


def query(server: PrometheusServer, expr: str, at: float) -> list[dict[str, Any]]:
    """Run an instant query and return the result vector."""
    response = httpx.get(f"{server.url}/api/v1/query", params={"query": expr, "time": at})
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


# --- require_binaries ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["prometheus", "mongowire"])
@pytest.mark.parametrize(
    ("env", "outcome"),
    [
        ({}, pytest.skip.Exception),
        ({"CI": "TRUE"}, pytest.fail.Exception),
        ({"ADA_REQUIRE_INTEGRATION": "1"}, pytest.fail.Exception),
    ],
)
def test_require_binaries_skips_locally_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, kind: Kind, env: dict[str, str], outcome: type[BaseException]
) -> None:
    for name in ("CI", "ADA_REQUIRE_INTEGRATION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(prometheus, "binaries_available", lambda: False)
    monkeypatch.setattr(mongowire, "nx_available", lambda: False)
    with pytest.raises(outcome, match="install"):
        fixtures.require_binaries(kind)


# --- Prometheus ------------------------------------------------------------------------


def test_openmetrics_counter_sorts_series_and_escapes_labels() -> None:
    text = openmetrics_counter(
        "node_cpu_seconds",
        [({"mode": WEIRD}, 2, T0 + 60), ({}, float("inf"), T0), ({"mode": WEIRD}, 1.5, T0)],
    )
    assert text == (
        "# TYPE node_cpu_seconds counter\n"
        'node_cpu_seconds_total{mode="back\\\\slash \\"quoted\\"\\nnewline"} 1.5 1704067200.0\n'
        'node_cpu_seconds_total{mode="back\\\\slash \\"quoted\\"\\nnewline"} 2.0 1704067260.0\n'
        "node_cpu_seconds_total +Inf 1704067200.0\n"
    )


@pytest.mark.parametrize(
    ("name", "samples", "error"),
    [
        ("x_total", [], "without _total"),
        ("x", [({"bad-label": "v"}, 1.0, T0)], "bad label name"),
        ("x", [({}, 1.0, T0), ({}, 2.0, T0)], "duplicate timestamps"),
    ],
)
def test_openmetrics_counter_rejects_what_promtool_would_mangle(
    name: str, samples: list[tuple[dict[str, str], float, float]], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        openmetrics_counter(name, samples)


@pytest.mark.prometheus
def test_write_blocks_reports_promtool_stderr(tmp_path: Path) -> None:
    fixtures.require_binaries("prometheus")
    with pytest.raises(RuntimeError, match="expected label value"):
        prometheus.write_blocks('# TYPE x counter\nx_total{a="1} 1 1\n', tmp_path / "data")


@pytest.mark.prometheus
def test_write_blocks_writes_longer_blocks_when_allowed(tmp_path: Path) -> None:
    fixtures.require_binaries("prometheus")
    text = openmetrics_counter("x", [({}, float(k), T0 + k * 3600) for k in range(12)])
    prometheus.write_blocks(text, tmp_path / "default")
    prometheus.write_blocks(text, tmp_path / "week", max_block_duration="168h")
    assert len(list((tmp_path / "default").iterdir())) == 6  # 2 h each
    assert len(list((tmp_path / "week").iterdir())) == 1


@pytest.mark.prometheus
def test_backfilled_blocks_are_queryable_as_soon_as_ready(
    prometheus_factory: PrometheusFactory,
) -> None:
    recent = time.time() - 3600
    server = prometheus_factory(
        openmetrics_counter(
            "node_cpu_seconds",
            [
                ({"mode": "idle", "odd": WEIRD}, 10.0, T0),
                ({"mode": "idle", "odd": WEIRD}, 70.0, T0 + 60),
                ({"mode": "user"}, 5.0, recent),
            ],
        )
    )
    (old,) = query(server, "node_cpu_seconds_total", T0 + 90)
    assert old["metric"] == {"__name__": "node_cpu_seconds_total", "mode": "idle", "odd": WEIRD}
    assert old["value"] == [T0 + 90, "70"]
    (rate,) = query(server, "rate(node_cpu_seconds_total[5m])", T0 + 90)
    assert float(rate["value"][1]) > 0
    (new,) = query(server, "node_cpu_seconds_total", recent + 1)
    assert new["metric"]["mode"] == "user"


@pytest.mark.prometheus
def test_promtool_silently_drops_out_of_order_samples(
    prometheus_factory: PrometheusFactory,
) -> None:
    """Why openmetrics_counter sorts: unsorted raw text loses samples without an error."""
    unsorted = [({"a": "1"}, 2.0, T0 + 60), ({"a": "1"}, 1.0, T0)]
    raw = "# TYPE raw counter\n" + "".join(
        f'raw_total{{a="1"}} {value} {ts}\n' for _, value, ts in unsorted
    )
    server = prometheus_factory(raw + openmetrics_counter("sorted", unsorted))
    counts = {
        name: query(server, f"count_over_time({name}_total[1h])", T0 + 120)[0]["value"][1]
        for name in ("raw", "sorted")
    }
    assert counts == {"raw": "1", "sorted": "2"}


@pytest.mark.prometheus
def test_prometheus_restart_keeps_port_and_data(prometheus_factory: PrometheusFactory) -> None:
    server = prometheus_factory(openmetrics_counter("up_seconds", [({}, 1.0, T0)]))
    url = server.url
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/-/ready")
    server.restart()
    assert server.url == url
    assert query(server, "up_seconds_total", T0)[0]["value"][1] == "1"


@pytest.mark.prometheus
def test_prometheus_start_failure_reports_log_tail(tmp_path: Path) -> None:
    fixtures.require_binaries("prometheus")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        server = PrometheusServer(tmp_path / "data", port=taken.getsockname()[1])
        with pytest.raises(RuntimeError, match=r"(?s)prometheus exited.*address already in use"):
            server.start()


# --- nx-27017 and the blackhole --------------------------------------------------------

BOUND = datetime(2024, 1, 1, tzinfo=timezone.utc)
WORKSPACES: list[dict[str, Any]] = [
    {"_id": "missing"},
    {"_id": "null", "deleted_time": None},
    {"_id": "str_old", "deleted_time": "2023-01-01"},
    {"_id": "str_new", "deleted_time": "2099-01-01"},
    {"_id": "str_junk", "deleted_time": "not a date"},
    {"_id": "number", "deleted_time": 5},
    {"_id": "before", "deleted_time": BOUND - timedelta(days=1)},
    {"_id": "at_bound", "deleted_time": BOUND},
    {"_id": "after", "deleted_time": BOUND + timedelta(days=1)},
]
ALL = {doc["_id"] for doc in WORKSPACES}
STRINGS = {"str_old", "str_new", "str_junk"}
DATES = {"before", "at_bound", "after"}


@pytest.fixture
def client(mongo_wire: MongoWireServer) -> Iterator[Client]:
    """A pymongo client on the nx-27017 server."""
    with connect(mongo_wire.uri) as mongo:
        yield mongo


@pytest.fixture
def workspaces(client: Client) -> Workspaces:
    """WORKSPACES inserted with insert_many (the datetimes go over the wire as BSON dates)."""
    collection = client.ada.workspaces
    collection.insert_many([dict(doc) for doc in WORKSPACES])
    return collection


@pytest.mark.mongowire
def test_datetimes_round_trip_as_naive_utc(workspaces: Workspaces) -> None:
    # Same as MongoDB with pymongo's default tz_aware=False.
    assert workspaces.find_one({"_id": "after"}) == {
        "_id": "after",
        "deleted_time": datetime(2024, 1, 2),
    }


@pytest.mark.mongowire
def test_field_level_not_is_unsupported(workspaces: Workspaces) -> None:
    """MongoDB returns everything except "before"; nx-27017 rejects the operator outright."""
    with pytest.raises(OperationFailure, match=r"Operator '\$not' is not currently implemented"):
        list(workspaces.find({"deleted_time": {"$not": {"$lt": BOUND}}}))


# (query, what MongoDB returns, what nx-27017 0.8.1 returns); ids say where they differ.
# nx compares dates with date-like strings and numbers (no BSON type brackets), never
# matches $type "date", and handles null vs missing differently depending on how the
# query is shaped (compare eq_null with or_eq_null). Only trust query forms pinned here.
STRING = {"deleted_time": {"$type": "string"}}
GTE = {"deleted_time": {"$gte": BOUND}}
# Same answer on both servers, and the same as $not/$lt for every type except numbers.
PORTABLE_NOT_LT = {"$or": [{"deleted_time": {"$in": [None]}}, STRING, GTE]}
NOT_LT = ALL - {"before", "number"}
QUERY_SEMANTICS = {
    "lt": ({"deleted_time": {"$lt": BOUND}}, {"before"}, {"before", "str_old", "number"}),
    "gte": (GTE, {"at_bound", "after"}, {"at_bound", "after", "str_new"}),
    "nor_lt": (
        {"$nor": [{"deleted_time": {"$lt": BOUND}}]},
        ALL - {"before"},
        {"at_bound", "after", "str_new"},
    ),
    "exists": ({"deleted_time": {"$exists": True}}, ALL - {"missing"}, ALL - {"missing", "null"}),
    "not_exists": ({"deleted_time": {"$exists": False}}, {"missing"}, {"missing", "null"}),
    "ne_null": ({"deleted_time": {"$ne": None}}, ALL - {"missing", "null"}, ALL - {"null"}),
    "type_null": ({"deleted_time": {"$type": "null"}}, {"null"}, {"missing", "null"}),
    "type_date": ({"deleted_time": {"$type": "date"}}, DATES, set()),
    "type_string": (STRING, STRINGS, STRINGS),
    "eq_null": ({"deleted_time": None}, {"missing", "null"}, {"missing", "null"}),
    "in_null": ({"deleted_time": {"$in": [None]}}, {"missing", "null"}, {"missing", "null"}),
    "or_eq_null": ({"$or": [{"deleted_time": None}]}, {"missing", "null"}, {"missing"}),
    "or_eq_null_string_gte": (
        {"$or": [{"deleted_time": None}, STRING, GTE]},
        NOT_LT,
        NOT_LT - {"null"},
    ),
    "portable_not_lt": (PORTABLE_NOT_LT, NOT_LT, NOT_LT),
}


@pytest.mark.mongowire
@pytest.mark.parametrize(
    ("query_filter", "mongodb", "nx"),
    list(QUERY_SEMANTICS.values()),
    ids=[f"{k}-{'same' if m == n else 'DEVIATES'}" for k, (_, m, n) in QUERY_SEMANTICS.items()],
)
def test_deleted_time_query_semantics(
    workspaces: Workspaces, query_filter: dict[str, Any], mongodb: set[str], nx: set[str]
) -> None:
    """Pin nx-27017's answer; `mongodb` is MongoDB's, kept beside it for readers and the id."""
    assert {doc["_id"] for doc in workspaces.find(query_filter, {"_id": 1})} == nx


@pytest.mark.mongowire
def test_in_and_projections(client: Client) -> None:
    machines = client.ada.machines
    machines.insert_many(
        [
            {"platform_name": "cpu", "user": "u1", "spec": {"cores": 4, "ram": 8}},
            {"platform_name": "gpu", "user": "u2"},
            {"platform_name": "other", "user": "u3"},
        ]
    )
    found = machines.find({"platform_name": {"$in": ["cpu", "gpu"]}}, {"_id": 0, "user": 1})
    assert sorted(doc["user"] for doc in found) == ["u1", "u2"]
    assert list(machines.find({"platform_name": {"$in": []}})) == []
    assert machines.find_one({"user": "u2"}, {"_id": 0, "user": 0}) == {"platform_name": "gpu"}
    # Deviation: MongoDB gives {"spec": {"cores": 4}} and drops spec.ram for an exclusion.
    assert machines.find_one({"user": "u1"}, {"_id": 0, "spec.cores": 1}) == {"spec.cores": 4}
    excluded = machines.find_one({"user": "u1"}, {"_id": 0, "spec.ram": 0})
    assert excluded is not None and excluded["spec"] == {"cores": 4, "ram": 8}


@pytest.mark.mongowire
def test_restart_keeps_uri_and_loses_in_memory_data(
    mongo_wire: MongoWireServer, client: Client
) -> None:
    client.ada.x.insert_one({"k": 1})
    uri = mongo_wire.uri
    mongo_wire.restart()
    assert mongo_wire.uri == uri
    # The same client reconnects by itself, as it would to a restarted mongod.
    assert client.ada.x.count_documents({}) == 0


@pytest.mark.mongowire
def test_persistent_server_keeps_data_across_restart(tmp_path: Path) -> None:
    fixtures.require_binaries("mongowire")
    with (
        MongoWireServer(tmp_path, persistent=True) as server,
        connect(server.uri) as mongo,
    ):
        mongo.ada.x.insert_one({"k": 1})
        server.restart()
        assert mongo.ada.x.count_documents({}) == 1


@pytest.mark.mongowire
def test_stopped_server_raises_server_selection_timeout(mongo_wire: MongoWireServer) -> None:
    mongo_wire.stop()
    with (
        connect(mongo_wire.uri, 500) as mongo,
        pytest.raises(ServerSelectionTimeoutError),
    ):
        mongo.admin.command("ping")


def test_blackhole_makes_pymongo_time_out_quickly(blackhole: BlackholeServer) -> None:
    started = time.monotonic()
    with (
        connect(blackhole.uri, 500) as mongo,
        pytest.raises(PyMongoError) as raised,
    ):
        mongo.admin.command("ping")
    assert time.monotonic() - started < 2.0
    assert isinstance(raised.value, ServerSelectionTimeoutError)


@pytest.mark.mongowire
def test_faulty_proxy_delays_or_withholds_replies_then_passes_them_again(
    mongo_wire: MongoWireServer,
) -> None:
    with FaultyProxy(mongo_wire.port, slow_seconds=0.4) as proxy, connect(proxy.uri) as mongo:
        mongo.ada.x.insert_one({"k": 1})
        proxy.fault = "slow"
        started = time.monotonic()
        assert mongo.ada.x.count_documents({}) == 1
        assert time.monotonic() - started >= 0.4
        proxy.fault = "hang"
        with pytest.raises(PyMongoError), pymongo.timeout(0.3):
            mongo.ada.x.count_documents({})
        proxy.fault = "ok"
        assert mongo.ada.x.count_documents({}) == 1
