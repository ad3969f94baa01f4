"""The container's HEALTHCHECK: is the exporter on this machine answering HTTP(S)?

``python -m exporter.healthcheck [HOST:PORT]`` (default ``127.0.0.1:9877``) asks
``/-/healthy`` over HTTP, then over HTTPS, and exits 0 on any answer below 500.
A 401 counts as healthy: with ``--web.config.file`` every path needs a password,
and the question is only whether the server answers. The HTTPS attempt does not
verify the certificate: it talks to its own process, and sends no credentials.
"""

from __future__ import annotations

import http.client
import ssl
import sys

DEFAULT_ADDRESS = "127.0.0.1:9877"
TIMEOUT_SECONDS = 2.0


def healthy(address: str = DEFAULT_ADDRESS, timeout: float = TIMEOUT_SECONDS) -> bool:
    """True if ``address`` answers ``GET /-/healthy`` over HTTP or HTTPS with a status < 500."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    own_process = ssl.create_default_context()
    own_process.check_hostname = False
    own_process.verify_mode = ssl.CERT_NONE
    connections: list[http.client.HTTPConnection] = [
        http.client.HTTPConnection(host, int(port), timeout=timeout),
        http.client.HTTPSConnection(host, int(port), timeout=timeout, context=own_process),
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
    return 0 if healthy(args[0] if args else DEFAULT_ADDRESS) else 1


if __name__ == "__main__":
    sys.exit(main())
