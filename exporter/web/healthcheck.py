"""The container's HEALTHCHECK: is the exporter on this machine answering HTTP(S)?

``python -m exporter.web.healthcheck [HOST:PORT]`` asks ``/-/healthy`` over HTTP, then
over HTTPS, and exits 0 on any answer below 500. Without an argument it asks where
the exporter listens by default: ``$WEB_LISTEN_ADDRESS`` if set, else ``:9877``, the
same default ``--web.listen-address`` takes, so the Dockerfile sets the address once,
in that variable, for both. A wildcard host (``:9877``, ``0.0.0.0``, ``[::]``) is
asked on loopback.

A 401 counts as healthy: with ``--web.config.file`` every path needs a password,
and the question is only whether the server answers. The HTTPS attempt does not
verify the certificate: it talks to its own process, and sends no credentials.
Standard library only, as it runs every 30 s beside the exporter.
"""

from __future__ import annotations

import http.client
import os
import ssl
import sys
from collections.abc import Mapping

LISTEN_ENV = "WEB_LISTEN_ADDRESS"
DEFAULT_LISTEN = ":9877"
TIMEOUT_SECONDS = 2.0
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def listen_address(environ: Mapping[str, str] = os.environ) -> str:
    """The default of ``--web.listen-address``: ``$WEB_LISTEN_ADDRESS``, else ``:9877``."""
    return environ.get(LISTEN_ENV) or DEFAULT_LISTEN


def parse_listen_address(address: str) -> tuple[str, int]:
    """``host:port`` (``:9877`` means every interface) to a (host, port) pair."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def local_target(address: str) -> tuple[str, int]:
    """Where to reach a server listening on ``address`` from this machine, as (host, port)."""
    host, port = parse_listen_address(address)
    return _LOOPBACK.get(host, host), port


def healthy(address: str = DEFAULT_LISTEN, timeout: float = TIMEOUT_SECONDS) -> bool:
    """True if ``address`` answers ``GET /-/healthy`` over HTTP or HTTPS with a status < 500."""
    host, port = local_target(address)
    own_process = ssl.create_default_context()
    own_process.check_hostname = False
    own_process.verify_mode = ssl.CERT_NONE
    connections: list[http.client.HTTPConnection] = [
        http.client.HTTPConnection(host, port, timeout=timeout),
        http.client.HTTPSConnection(host, port, timeout=timeout, context=own_process),
    ]
    for conn in connections:
        try:
            conn.request("GET", "/-/healthy")
            return conn.getresponse().status < 500
        except (OSError, http.client.HTTPException):
            continue  # not listening, or the other protocol
        finally:
            conn.close()
    return False


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        return 0 if healthy(args[0] if args else listen_address()) else 1
    except ValueError as exc:  # a bad address: the exporter would not have started either
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
