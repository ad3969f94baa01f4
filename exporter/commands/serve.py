"""Serve ``/metrics`` until SIGTERM or SIGINT: the exporter itself, run without a subcommand."""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
from types import FrameType

from prometheus_client.registry import CollectorRegistry

from exporter import __version__
from exporter.collectors import AdaCarbonCollector
from exporter.config import Config
from exporter.refresh import Refresh
from exporter.web.basic_auth import BasicAuth
from exporter.web.config import WebConfig
from exporter.web.server import make_app, make_http_server

log = logging.getLogger("exporter")

# CPython's cyclic GC runs at every 700 net new objects (its default gen0 threshold).
# A 10,000-host scrape makes a few million that live until it ends (answers, accounts,
# 116,240 samples) and no cycles, so at 700 it ran about 970 collections per scrape,
# each re-walking what earlier ones kept. At 10,000, 63. Measured at 10,000 hosts in one
# benchmark run (2026-12-06, 887bc44 + this, scrapes alternating between the settings in
# one process, CPU seconds of the exporter per scrape, medians of 3): recording rules
# 1.68 at 700, 1.06 at 10,000 (0.87 with the GC off); raw 1.42 and 0.99 (0.84). That is
# 0.4-0.6 s of a 1.5-4.5 s scrape. Cycles are still collected, a little later.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """The one process-wide runtime setting: the GC thresholds above."""
    gc.set_threshold(*GC_THRESHOLDS)


def run(config: Config, listen: str, engine: Refresh, description: str, web: WebConfig) -> int:
    """Serve until stopped; 0 after a signal, 1 if the address cannot be listened on."""
    tune_gc()
    registry = CollectorRegistry()
    registry.register(
        AdaCarbonCollector(engine.snapshot, config.min_refresh_interval_seconds, config.budgets)
    )
    auth = BasicAuth(web.users) if web.users else None
    try:
        server = make_http_server(listen, make_app(registry, description, auth), web.tls)
    except (OSError, ValueError) as exc:
        print(f"ada-carbon-exporter: cannot listen on {listen}: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        # `make` passes its SIGTERM on, so a second signal can come while the first is
        # handled, or while Python exits: it is ignored. Nothing is logged here, where a
        # signal could land inside a log call.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Thread(target=server.shutdown, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    log.info(
        "ada-carbon-exporter %s listening on %s://%s:%s/metrics (%s; window %gs; %s)",
        __version__,
        "https" if web.tls else "http",
        host,
        port,
        web.describe(),
        config.window_seconds,
        description,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
    log.info("shutting down")
    return 0
