"""The exporter as Prometheus meets it: a Refresh behind the real HTTP server on 127.0.0.1:0.

Scrapes use the standard library (not httpx), so pytest-httpx can mock the Carbon
Intensity API in the same test without intercepting the scrape itself.
"""

from __future__ import annotations

import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from exporter.collectors import AdaCarbonCollector
from exporter.refresh import Refresh
from exporter.web.basic_auth import BasicAuth
from exporter.web.server import make_app, make_http_server

USAGE_FAMILIES = (
    "ada_carbon_cpu_seconds",
    "ada_carbon_energy_joules",
    "ada_carbon_emissions_grams",
)


@dataclass(frozen=True)
class Scrape:
    """One answer of /metrics: how long it took, its status and its samples."""

    seconds: float
    status: int
    text: str

    def samples(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {
            tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(self.text)
            for s in family.samples
            if s.name == name
        }

    def value(self, name: str, **labels: str) -> float:
        return self.samples(name)[tuple(sorted(labels.items()))]

    def up(self) -> dict[str, float]:
        return {dict(k)["source"]: v for k, v in self.samples("ada_carbon_source_up").items()}

    def has_usage(self) -> bool:
        return all(self.samples(name) for name in USAGE_FAMILIES)

    def lacks_usage(self) -> bool:
        return not any(self.samples(name) for name in USAGE_FAMILIES)

    def help(self, name: str) -> str:
        for family in text_string_to_metric_families(self.text):
            if family.name == name:
                return family.documentation
        raise KeyError(name)


class ServedExporter:
    """Serves ``engine`` (window ending at ``end``, else now) until ``close()``."""

    def __init__(
        self,
        engine: Refresh,
        end: datetime | None = None,
        min_refresh_interval: float = 0.0,
        tls: ssl.SSLContext | None = None,
        auth: BasicAuth | None = None,
    ) -> None:
        self.engine = engine
        registry = CollectorRegistry()
        self.collector = AdaCarbonCollector(lambda: engine.snapshot(end), min_refresh_interval)
        registry.register(self.collector)
        app = make_app(registry, "test sources", auth)
        self._server = make_http_server("127.0.0.1:0", app, tls)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def scrape(self, path: str = "/metrics", timeout: float = 30.0) -> Scrape:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read()
        return Scrape(time.monotonic() - started, status, body.decode())

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.engine.close()

    def __enter__(self) -> ServedExporter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
