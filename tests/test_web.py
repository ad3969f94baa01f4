"""The HTTP endpoints, served by a real server on a loopback port."""

import gc
import threading
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry

from exporter.collector import AdaCarbonCollector
from exporter.config import Config, with_demo
from exporter.sources.build import build_refresh
from exporter.web import make_app, make_http_server, parse_listen_address


@pytest.fixture
def server():
    engine = build_refresh(with_demo(Config()))
    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(engine.snapshot))
    httpd = make_http_server("127.0.0.1:0", make_app(registry, "demo sources"))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    engine.close()


def test_landing_page_links_to_metrics_and_credits_the_data(server):
    r = httpx.get(server + "/")
    assert r.status_code == 200
    assert 'href="metrics"' in r.text
    assert "NESO, CC BY 4.0" in r.text


def test_metrics_serve_attributed_demo_values(server):
    r = httpx.get(server + "/metrics")
    assert r.status_code == 200
    assert "ada_carbon_emissions_grams{" in r.text
    assert 'ada_carbon_source_up{source="prometheus"} 1.0' in r.text
    # The server closes the body once sent, which resumes the GC held off for the scrape.
    deadline = time.monotonic() + 5
    while not gc.isenabled() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gc.isenabled()


def test_health_endpoints_answer(server):
    assert httpx.get(server + "/-/healthy").text == "OK\n"
    assert httpx.get(server + "/-/ready").status_code == 200
    assert httpx.get(server + "/nope").status_code == 404


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (":9877", ("0.0.0.0", 9877)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9877", ("::1", 9877)),
    ],
)
def test_listen_addresses(address, expected):
    assert parse_listen_address(address) == expected


@pytest.mark.parametrize("address", ["9877", "host:port", ":99999"])
def test_bad_listen_addresses_are_refused(address):
    with pytest.raises(ValueError):
        parse_listen_address(address)
