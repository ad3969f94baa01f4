"""The exporter's HTTP endpoints: ``/`` landing page, ``/metrics``, ``/-/healthy``, ``/-/ready``.

Slow or silent clients cannot starve a scrape: at most MAX_CONNECTIONS are served at
once (a thread each), and a client has REQUEST_HEAD_SECONDS in all from connecting to
finish its TLS handshake and send its request line and headers, however slowly it
drips them. When every connection is taken, the one sending its head longest is dropped.
"""

from __future__ import annotations

import html
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler

from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import CollectorRegistry

from exporter import __version__
from exporter.exposition import make_metrics_app
from exporter.web.healthcheck import parse_listen_address

if TYPE_CHECKING:
    from exporter.web.basic_auth import BasicAuth

log = logging.getLogger("exporter.web")
MAX_CONNECTIONS = 64
REQUEST_HEAD_SECONDS = 10.0
CONNECTION_TIMEOUT_SECONDS = 60.0  # per send, once the request is in
StartResponse = Callable[..., Any]
_TEXT = ("Content-Type", "text/plain; charset=utf-8")
_CHALLENGE = ("WWW-Authenticate", 'Basic realm="ada-carbon-exporter"')

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

    timeout = CONNECTION_TIMEOUT_SECONDS
    server: _Server

    def parse_request(self) -> bool:
        ok = super().parse_request()  # reads the headers
        return self.server.head_read(self.connection) and ok

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def make_app(
    registry: CollectorRegistry, description: str, auth: BasicAuth | None = None
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI app serving the landing page, the metrics and the health endpoints.

    With ``auth``, every path needs an ``Authorization`` header it accepts, as with
    the Prometheus exporter-toolkit.
    """
    metrics = make_metrics_app(registry)
    landing = LANDING.format(version=html.escape(__version__), sources=html.escape(description))

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if auth is not None:
            status = auth.check(environ.get("HTTP_AUTHORIZATION"), environ.get("REMOTE_ADDR", ""))
            if status is not HTTPStatus.OK:
                start_response(f"{status.value} {status.phrase}", [_TEXT, _CHALLENGE])
                return [f"{status.phrase}\n".encode()]
        if path == "/metrics":
            return metrics(environ, start_response)
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [landing.encode()]
        if path in ("/-/healthy", "/-/ready"):
            start_response("200 OK", [_TEXT])
            return [b"OK\n"]
        start_response("404 Not Found", [_TEXT])
        return [b"Not found. Try /metrics\n"]

    return app


class _Server(ThreadingWSGIServer):
    """A thread per connection, MAX_CONNECTIONS at most; TLS in the connection's thread."""

    request_queue_size = 128  # a burst of scrapes waits in the backlog, not in SYN retries

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext | None) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._heads: dict[socket.socket, float] = {}  # still sending its head: deadline
        self._lock = threading.Lock()
        super().__init__(address, _QuietHandler)
        if tls is not None:  # the handshake happens on the first read, in the connection's thread
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with self._lock:
                slowest = min(self._heads, key=self._heads.__getitem__, default=None)
                if slowest is not None:
                    self._hang_up(slowest)
            self._slots.acquire()  # a connection past its head ends within its timeouts
        with self._lock:
            self._heads[request] = time.monotonic() + REQUEST_HEAD_SECONDS
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.head_read(request)
            self._slots.release()

    def head_read(self, connection: socket.socket) -> bool:
        """The connection's head is in (or it failed): True if in time and not hung up on."""
        with self._lock:
            return self._heads.pop(connection, 0.0) > time.monotonic()

    def service_actions(self) -> None:
        """Hang up on clients past their deadline (serve_forever calls this every 0.5 s)."""
        now = time.monotonic()
        with self._lock:
            for connection in [c for c, end in self._heads.items() if end < now]:
                self._hang_up(connection)

    def _hang_up(self, connection: socket.socket) -> None:
        """End a connection another thread is reading (its read returns at once); hold the lock."""
        self._heads[connection] = 0.0
        with suppress(OSError):  # closed already
            socket.socket.shutdown(connection, socket.SHUT_RDWR)  # under TLS too

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client gone mid-answer (or timed out) is its own problem: no traceback on stderr.
        log.debug("connection from %s failed", client_address[0], exc_info=True)


def make_http_server(
    address: str, app: Callable[..., Iterable[bytes]], tls: ssl.SSLContext | None = None
) -> ThreadingWSGIServer:
    """Bind (but do not start) the threaded HTTP(S) server, with ``tls`` if given."""
    server = _Server(parse_listen_address(address), tls)
    server.set_app(app)
    return server
