"""The HTTP endpoints, served by a real server on a loopback port."""

import socket
import threading
import time
from contextlib import suppress

import httpx
import pytest
from prometheus_client import CollectorRegistry

from exporter.collectors import AdaCarbonCollector
from exporter.config import Config, with_demo
from exporter.sources.build import build_refresh
from exporter.web import server as web_server
from exporter.web.healthcheck import parse_listen_address
from exporter.web.server import make_app, make_http_server


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


def closed_by_the_server(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_dripping_clients_hold_at_most_the_cap_in_threads_and_are_dropped_at_the_deadline(
    monkeypatch,
):
    """30 clients send a header line every 0.25 s, never ending their request."""
    monkeypatch.setattr(web_server, "MAX_CONNECTIONS", 8)
    monkeypatch.setattr(web_server, "REQUEST_HEAD_SECONDS", 1.5)
    httpd = make_http_server("127.0.0.1:0", make_app(CollectorRegistry(), "no sources"))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    address = httpd.server_address[:2]
    before = threading.active_count()
    drips = [socket.create_connection(address) for _ in range(30)]
    try:
        most, scrape = 0, None
        for step in range(12):  # 3 s: twice the deadline
            for sock in drips:
                with suppress(OSError):  # dropped already
                    sock.sendall(b"GET /metrics HTTP/1.1\r\n" if step == 0 else b"X-Drip: 1\r\n")
            most = max(most, threading.active_count() - before)
            if step == 2:
                scrape = httpx.get(f"http://{address[0]}:{address[1]}/metrics", timeout=5)
            time.sleep(0.25)
        assert most <= 8
        assert scrape is not None and scrape.status_code == 200
        assert all(closed_by_the_server(sock) for sock in drips)
    finally:
        for sock in drips:
            sock.close()
        httpd.shutdown()
        httpd.server_close()
