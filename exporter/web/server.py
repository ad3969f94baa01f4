"""The exporter's HTTP endpoints: ``/`` landing page, ``/metrics``, ``/-/healthy``, ``/-/ready``."""

from __future__ import annotations

import html
import logging
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import CollectorRegistry

from exporter import __version__
from exporter.exposition import make_metrics_app

log = logging.getLogger("exporter.web")
HANDSHAKE_TIMEOUT_SECONDS = 10.0
CONNECTION_TIMEOUT_SECONDS = 60.0
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

    # A connection silent this long is dropped, so idle clients cannot pile up threads.
    timeout = CONNECTION_TIMEOUT_SECONDS

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def make_app(
    registry: CollectorRegistry,
    description: str,
    allows: Callable[[str | None], bool] | None = None,
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI app serving the landing page, the metrics and the health endpoints.

    With ``allows`` (see :class:`exporter.web.basic_auth.BasicAuth`), every path needs an
    ``Authorization`` header it accepts, as with the Prometheus exporter-toolkit.
    """
    metrics = make_metrics_app(registry)
    landing = LANDING.format(
        version=html.escape(__version__), sources=html.escape(description)
    ).encode()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if allows is not None and not allows(environ.get("HTTP_AUTHORIZATION")):
            start_response(
                "401 Unauthorized",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("WWW-Authenticate", 'Basic realm="ada-carbon-exporter"'),
                ],
            )
            return [b"Unauthorized\n"]
        if path == "/metrics":
            return metrics(environ, start_response)
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


def make_http_server(
    address: str, app: Callable[..., Iterable[bytes]], tls: ssl.SSLContext | None = None
) -> ThreadingWSGIServer:
    """Bind (but do not start) a threaded HTTP(S) server; each scrape gets its own thread.

    With ``tls``, the handshake runs in the connection's own thread under a timeout,
    so a client that connects and says nothing cannot hold up anyone else's scrape.
    """
    host, port = parse_listen_address(address)

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        request_queue_size = 128  # a burst of scrapes waits in the backlog, not in SYN retries

        def finish_request(self, request: Any, client_address: Any) -> None:
            if tls is None:
                super().finish_request(request, client_address)
                return
            request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
            try:
                secure = tls.wrap_socket(request, server_side=True)
            except OSError as exc:  # ssl.SSLError and timeouts are OSErrors
                log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
                return
            try:
                super().finish_request(secure, client_address)
            finally:
                secure.close()

        def handle_error(self, request: Any, client_address: Any) -> None:
            # A client gone mid-answer (or timed out) is its own problem: no traceback on stderr.
            log.debug("connection from %s failed", client_address[0], exc_info=True)

    return make_server(host, port, app, Server, handler_class=_QuietHandler)
