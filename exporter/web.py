"""The exporter's HTTP endpoints: ``/`` landing page, ``/metrics``, ``/-/healthy``, ``/-/ready``."""

from __future__ import annotations

import html
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import CollectorRegistry

from exporter import __version__

log = logging.getLogger("exporter.web")
StartResponse = Callable[..., Any]

LANDING = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Ada Carbon Exporter</title></head>
<body>
<h1>Ada Carbon Exporter</h1>
<p>Energy and carbon of STFC Ada workspaces by user, machine type and facility,
for Prometheus. Version {version}.</p>
<ul>
<li><a href="metrics">Metrics</a></li>
<li><a href="-/healthy">Health</a> and <a href="-/ready">readiness</a></li>
</ul>
<p>Sources: {sources}</p>
<p>Carbon intensity data: Carbon Intensity API, NESO, CC BY 4.0.</p>
</body></html>
"""


class _QuietHandler(WSGIRequestHandler):
    """Request logs go to the ``exporter.web`` logger at debug level, not to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def make_app(
    registry: CollectorRegistry, description: str
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI app serving the landing page, the metrics and the health endpoints."""
    metrics = make_wsgi_app(registry)
    landing = LANDING.format(
        version=html.escape(__version__), sources=html.escape(description)
    ).encode()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [landing]
        if path in ("/-/healthy", "/-/ready"):
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"OK\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Not found. Try /metrics\n"]

    return app


def parse_listen_address(address: str) -> tuple[str, int]:
    """``host:port`` (``:9877`` means every interface) to a (host, port) pair."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--web.listen-address must be host:port, got {address!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def make_http_server(address: str, app: Callable[..., Iterable[bytes]]) -> ThreadingWSGIServer:
    """Bind (but do not start) a threaded HTTP server; each scrape gets its own thread."""
    host, port = parse_listen_address(address)

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    return make_server(host, port, app, Server, handler_class=_QuietHandler)
