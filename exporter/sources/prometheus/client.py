"""The one Prometheus HTTP client, used by the exporter and by ``report``.

Every query is POSTed, so long selectors never hit URL limits, and every failure
(transport, HTTP status, an error or partial answer, a result of the wrong shape or
type) is one :class:`~exporter.model.SourceError` whose message holds no credentials.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import httpx

from exporter.config import PrometheusConfig, mask_url
from exporter.model import SourceError


def http_client(p: PrometheusConfig, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The HTTP client for Prometheus: auth, extra headers (e.g. X-Scope-OrgID), TLS settings.

    Answers come uncompressed unless ``prometheus.gzip`` is on: beside Prometheus,
    gzip costs more than it saves (at 10,000 hosts Prometheus spends about 0.3 s of
    CPU compressing the 5 MB answer of the split hosts' steps, which then arrives
    3 times later). A ``headers`` entry for Accept-Encoding wins over both.
    """
    headers = httpx.Headers(p.headers)
    if not p.gzip and "accept-encoding" not in headers:
        headers["Accept-Encoding"] = "identity"
    auth: httpx.Auth | None = None
    if p.bearer_token:
        headers["Authorization"] = f"Bearer {p.bearer_token}"
    elif p.username is not None:
        auth = httpx.BasicAuth(p.username, p.password or "")
    # TLS is verified unless tls_verify is false; ca_file adds a private CA to trust.
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=p.ca_file) if p.ca_file else p.tls_verify
    )
    return httpx.Client(
        headers=headers, auth=auth, verify=verify, timeout=p.timeout_seconds, transport=transport
    )


class PrometheusClient:
    """Instant and range queries over the Prometheus HTTP API; counts its requests."""

    def __init__(self, http: httpx.Client, url: str, timeout_seconds: float) -> None:
        self._http = http
        self._base = url.rstrip("/")
        self.url = mask_url(self._base)  # for messages
        self._timeout = timeout_seconds
        self.requests = 0
        self._lock = threading.Lock()  # queries run side by side in the refresh's pool

    def query(self, promql: str, at: float, result_type: str = "vector") -> list[Any]:
        """The result list of ``promql`` evaluated at unix time ``at``."""
        form = {"query": promql, "time": f"{at:.3f}"}
        return self.post("/api/v1/query", form, result_type)

    def post(self, path: str, form: dict[str, str], result_type: str) -> list[Any]:
        """POST ``form`` to ``path``; the answer's result list, checked to be a ``result_type``."""
        with self._lock:
            self.requests += 1
        where = f"Prometheus at {self.url}{path}"
        try:
            response = self._http.post(self._base + path, data=form, timeout=self._timeout)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise SourceError(f"cannot reach {where}: {reason}") from exc
        body = _json(response)
        if not isinstance(body, dict):
            raise SourceError(f"{where} answered HTTP {response.status_code} without a JSON body")
        if body.get("status") != "success":
            raise SourceError(
                f"{where} refused a query: {_error(body)} (HTTP {response.status_code})"
            )
        if body.get("warnings"):
            # Thanos and friends answer 200 with warnings when some stores failed:
            # the data may be partial, and a partial total must not pass as complete.
            raise SourceError(f"partial answer from {where}: {str(body['warnings'])[:200]}")
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("result"), list):
            # An answer without a result list is no answer, not an empty fleet.
            raise SourceError(f"malformed answer from {where}: no data.result list")
        got = data.get("resultType", result_type)
        if got != result_type:
            # Its series would all be skipped: an empty fleet that looks like an answer.
            raise SourceError(
                f"malformed answer from {where}: a {got} where a {result_type} was due"
            )
        result: list[Any] = data["result"]
        return result


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error(body: dict[str, Any]) -> str:
    """An error answer's type and first line, cut short: it may echo the query."""
    kind = f"{body['errorType']}: " if body.get("errorType") else ""
    return kind + str(body.get("error") or "").strip().split("\n")[0][:200]
