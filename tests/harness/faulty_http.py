"""A loopback stand-in for the Prometheus HTTP API that misbehaves on purpose.

`FaultyPrometheus` answers `/api/v1/query` and `/api/v1/query_range` with a fixed,
valid fleet until told to fail in one of the ways upstreams fail (see `FAULTS`):
it can hang, answer slowly or byte by byte, answer 5xx, malformed JSON, an
error body, or a success carrying Thanos-style `warnings`. It counts requests per
path, so tests can say how many upstream computations a burst of scrapes caused,
and keeps each request's headers.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import Counter
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

# fault -> what the server does (for every path, or only `fault_path` if set)
FAULTS = {
    "ok": "a valid answer (after `delay` seconds)",
    "hang": "accepts, reads the request, never answers",
    "slow": "answers validly, but only after `slow_seconds`",
    "trickle": "sends headers, then the body one byte every 0.2 s",
    "http_503": "503 with an HTML body, as a proxy in front of Prometheus would",
    "malformed_json": "200 with a truncated JSON body",
    "status_error": '422 {"status": "error", "errorType": "execution", ...}',
    "warnings": "200 success whose data is partial, flagged by `warnings` (Thanos, Mimir)",
    "wrong_shape": "200 success whose `data` is a list, not an object",
    "reset": "closes the connection without answering",
}
INSTANCE = "172.16.100.50:9100"
GROUP = {"cloud_project_name": "IDAaaS", "machine_name": "Muon"}


def vector_answer(
    busy: float = 1800.0, idle: float = 5400.0, classes: tuple[str, ...] = ("busy", "idle")
) -> dict[str, Any]:
    """A valid instant-query answer: one host of the fleet, its busy and idle CPU-seconds
    (of the classes asked for: the exporter asks for each in a query of its own)."""
    result = [
        {"metric": {"instance": INSTANCE, **GROUP, "class": cls}, "value": [0, str(v)]}
        for cls, v in (("busy", busy), ("idle", idle))
        if cls in classes
    ]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def matrix_answer(start: float, end: float, step: float = 60.0) -> dict[str, Any]:
    """A valid range-query answer: that host's busy and idle CPU rates, steady."""
    times = [start + k * step for k in range(int((end - start) // step) + 1)]
    result = [
        {
            "metric": {"instance": INSTANCE, **GROUP, "class": cls},
            "values": [[t, str(rate)] for t in times],
        }
        for cls, rate in (("busy", 0.5), ("idle", 1.5))
    ]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the exporter hung up on a slow answer: that is the point of the fault


class FaultyPrometheus:
    """A threaded HTTP(S) server on 127.0.0.1; set `.fault` (a key of FAULTS) at any time."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.fault = "ok"
        self.fault_path: str | None = None  # e.g. "/api/v1/query_range": fail only there
        self.delay = 0.0
        self.slow_seconds = 3.0
        self.requests: Counter[str] = Counter()
        self.authorizations: list[str] = []  # the Authorization headers received
        # (path, headers with lower-case names) of every request received
        self.received: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port: int = self._server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Release hung handlers, stop serving and free the port."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultyPrometheus:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _count(self, path: str, headers: Message) -> None:
        with self._lock:
            self.requests[path] += 1
            self.received.append((path, {k.lower(): v for k, v in headers.items()}))
            authorization = headers.get("Authorization")
            if authorization:
                self.authorizations.append(authorization)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                server._count(self.path, self.headers)
                fault = server.fault
                if server.fault_path not in (None, self.path):
                    fault = "ok"
                self._answer(fault, form)

            def _answer(self, fault: str, form: dict[str, str]) -> None:
                if fault == "hang":
                    server._closing.wait()
                    return
                if fault == "reset":
                    self.close_connection = True
                    return
                if fault == "slow":
                    server._closing.wait(server.slow_seconds)
                if fault == "ok" and server.delay:
                    time.sleep(server.delay)
                if fault == "http_503":
                    self._send(503, b"<html><body>Service Unavailable</body></html>", "text/html")
                elif fault == "malformed_json":
                    self._send(200, b'{"status": "success", "data": {"resultType": "vec')
                elif fault == "status_error":
                    body = {"status": "error", "errorType": "execution", "error": "query timed out"}
                    self._send(422, json.dumps(body).encode())
                elif fault == "wrong_shape":
                    self._send(200, json.dumps({"status": "success", "data": []}).encode())
                else:
                    answer = self._valid(form)
                    if fault == "warnings":
                        answer["data"]["result"] = answer["data"]["result"][:1]
                        answer["warnings"] = ["store 10.0.0.7:10901 unavailable: partial response"]
                    body = json.dumps(answer).encode()
                    if fault == "trickle":
                        self._trickle(body)
                    else:
                        self._send(200, body)

            def _valid(self, form: dict[str, str]) -> dict[str, Any]:
                if self.path.endswith("/query_range"):
                    return matrix_answer(float(form["start"]), float(form["end"]))
                query = form.get("query", "")
                asked = tuple(c for c in ("busy", "idle") if f'"class", "{c}"' in query)
                return vector_answer(classes=asked or ("busy", "idle"))

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _trickle(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for i in range(len(body)):
                    if server.fault != "trickle" or server._closing.wait(0.2):
                        self.close_connection = True
                        return  # told to stop: drop the connection mid-body
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()

        return Handler
