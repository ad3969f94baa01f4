"""Pytest fixtures for real upstream servers; `tests/conftest.py` star-imports them.

Missing software skips the test locally but fails it in CI (`CI=true`) or when
`ADA_REQUIRE_INTEGRATION=1`, so integration coverage cannot silently disappear there.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pytest

from tests.harness import mongowire, prometheus, victoria
from tests.harness.mongowire import BlackholeServer, MongoWireServer
from tests.harness.prometheus import PrometheusServer

__all__ = [
    "PrometheusFactory",
    "blackhole",
    "mongo_wire",
    "prometheus_factory",
    "require_binaries",
]

PrometheusFactory = Callable[[str], PrometheusServer]

_INSTALL_HINTS = {
    "prometheus": "prometheus/promtool not on PATH; install with `apt-get install prometheus`",
    "mongowire": "nx-27017 not importable; install with `pip install -e '.[test]'`",
    "victoriametrics": "victoria-metrics/vmalert not on PATH; install with "
    "`apt-get install victoria-metrics`",
}
_AVAILABLE = {
    "prometheus": lambda: prometheus.binaries_available(),
    "mongowire": lambda: mongowire.nx_available(),
    "victoriametrics": lambda: victoria.binaries_available(),
}


def _integration_required() -> bool:
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("ADA_REQUIRE_INTEGRATION") == "1"
    )


def require_binaries(kind: Literal["prometheus", "mongowire", "victoriametrics"]) -> None:
    """Skip the calling test if `kind`'s server software is missing; fail instead in CI.

    CI means env `CI=true` (any case) or `ADA_REQUIRE_INTEGRATION=1`.
    """
    # Looked up through the modules at call time so tests can monkeypatch availability.
    if _AVAILABLE[kind]():
        return
    if _integration_required():
        pytest.fail(f"{_INSTALL_HINTS[kind]} (required because CI/ADA_REQUIRE_INTEGRATION is set)")
    pytest.skip(_INSTALL_HINTS[kind])


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[PrometheusFactory]:
    """Give a `start(openmetrics_text) -> PrometheusServer` that backfills and serves the text.

    Each call gets a fresh data dir under `tmp_path` (logs stay there after the test);
    every server started is stopped at teardown, even if the test failed.
    """
    require_binaries("prometheus")
    numbers = itertools.count()
    with contextlib.ExitStack() as stack:

        def start(openmetrics_text: str) -> PrometheusServer:
            workdir = tmp_path / f"prometheus-{next(numbers)}"
            prometheus.write_blocks(openmetrics_text, workdir / "data")
            server = PrometheusServer(workdir / "data", workdir=workdir)
            # Registered before start() so a half-started server is cleaned up too.
            stack.callback(server.stop)
            server.start()
            return server

        yield start


@pytest.fixture
def mongo_wire(tmp_path: Path) -> Iterator[MongoWireServer]:
    """Give a started in-memory nx-27017 server (`.uri`); stopped at teardown."""
    require_binaries("mongowire")
    server = MongoWireServer(tmp_path / "nx-27017")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def blackhole() -> Iterator[BlackholeServer]:
    """Give a TCP listener that accepts and never answers (`.uri`, `.port`); closed at teardown."""
    with BlackholeServer() as server:
        yield server
