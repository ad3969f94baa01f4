"""The MongoDB adapter over pymongo's real network path (nx-27017 on loopback)."""

import time
from datetime import timedelta

import pytest
from pymongo import MongoClient

from exporter.model import SourceError
from exporter.sources.mongodb import MongoOwnership
from tests import scenario
from tests.harness.prometheus import free_port
from tests.scenario import END

START = END - timedelta(hours=1)


def ownership(uri, timeout=1.0):
    ms = int(timeout * 1000)
    client = MongoClient(uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms)
    return MongoOwnership(client, "ada", timeout)


@pytest.mark.mongowire
def test_the_window_query_means_the_same_over_the_wire(mongo_wire):
    client = MongoClient(mongo_wire.uri)
    client["ada"]["workspaces"].insert_many(scenario.workspaces())
    batch = ownership(mongo_wire.uri).workspaces(START, END)
    assert {w.workspace_id for w in batch.workspaces} == {
        "w-alice",
        "w-bob",
        "w-carol",
        "w-pool",
        "w-dave",
        "w-unmeasured",
    }
    assert batch.skipped == {"bad_hostname": 1, "bad_created_time": 1}


@pytest.mark.mongowire
def test_a_server_that_never_answers_fails_within_the_timeout(blackhole):
    source = ownership(blackhole.uri, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SourceError):
        source.workspaces(START, END)
    assert time.monotonic() - started < 5  # generous: a bound, not a benchmark


def test_an_unreachable_server_is_one_short_line_naming_it_and_the_timeout():
    port = free_port()  # nothing listens: connection refused
    with pytest.raises(SourceError) as raised:
        ownership(f"mongodb://127.0.0.1:{port}", timeout=0.5).workspaces(START, END)
    message = str(raised.value)
    assert message.startswith("ServerSelectionTimeoutError reading workspaces: ")
    assert f"no server answered within 0.5s: 127.0.0.1:{port} (" in message
    assert "Connection refused" in message and "Topology" not in message
    assert "\n" not in message and len(message) < 160


@pytest.mark.mongowire
def test_a_stopped_server_is_a_source_error_and_recovery_needs_no_restart(mongo_wire):
    # 2 s, not less: on a loaded machine the driver needs a moment to re-discover
    # the restarted server; still well inside the 8 s scrape budget.
    source = ownership(mongo_wire.uri, timeout=2.0)
    assert source.workspaces(START, END).workspaces == ()
    mongo_wire.stop()
    with pytest.raises(SourceError, match=r"ServerSelectionTimeoutError|AutoReconnect"):
        source.workspaces(START, END)
    mongo_wire.start()
    MongoClient(mongo_wire.uri)["ada"]["workspaces"].insert_many(scenario.workspaces()[:1])
    assert len(source.workspaces(START, END).workspaces) == 1
