"""Grid intensity at scrape level: the real adapter behind the Refresh, the API faked by httpx_mock.

Covers request economy with the forecast included, the scrape budget against a slow
API, serving energy while the API is down, regions, past windows and the new families.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from pytest_httpx import HTTPXMock

from exporter.cli import main
from exporter.collectors import families
from exporter.config import Config, IntensityConfig
from exporter.model import Snapshot
from exporter.refresh import Refresh
from exporter.sources.carbon_intensity.client import CarbonIntensityAPI
from exporter.sources.carbon_intensity.regions import NATIONAL, Region
from tests.stubs import StubOwnership, StubUsage, steady_steps, usage, ws

BASE = "https://api.carbonintensity.org.uk"
SLOT = 1800
ERROR_BODY = {
    "error": {"code": "500 Internal Server Error", "message": "Requested resource not found."}
}
USER = {"cloud_project_name": "IDAaaS", "machine_name": "Muon", "facility": "ISIS", "mode": "busy"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ts(text: str) -> float:
    return at(text).timestamp()


def api_time(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


class Clock:
    def __init__(self, text: str) -> None:
        self.now = ts(text)

    def __call__(self) -> float:
        return self.now

    def at(self) -> datetime:
        return datetime.fromtimestamp(self.now, timezone.utc)


class FakeGrid:
    """Answers the range and fw48h endpoints, national or regional, like the API.

    National slots that have ended carry an actual; regional ones never do. A request
    is a "forecast" (fw48h) or a "window" (a range: a scrape's also reaches 48 h ahead).
    Set ``failure`` (making a response or an exception) to fail every request,
    ``fail_forecast`` to fail only the fw48h ones, or ``gate`` to hold every answer.
    """

    def __init__(self, clock: Clock, value: Callable[[float], float] = lambda t: 200.0) -> None:
        self.clock = clock
        self.value = value
        self.kinds: list[str] = []
        self.failure: Callable[[], httpx.Response | Exception] | None = None
        self.fail_forecast = False
        self.gate: threading.Event | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        regional = parts[0] == "regional"
        _, lo_text, hi_text = parts[1:4] if regional else parts[:3]
        kind = "forecast" if hi_text == "fw48h" else "window"
        self.kinds.append(kind)
        if self.gate is not None:
            self.gate.wait(5)
        failure = self.failure() if self.failure else None
        if kind == "forecast" and self.fail_forecast:
            failure = httpx.Response(500, json=ERROR_BODY)
        if isinstance(failure, Exception):
            raise failure
        if failure is not None:
            return failure
        lo = ts(lo_text)
        hi = lo + 48 * 3600 if kind == "forecast" else ts(hi_text)
        items = []
        for t in range(int(lo) - SLOT, int(hi), SLOT):  # the API also sends the slot ending at from
            intensity: dict[str, object] = {"forecast": self.value(t), "index": "moderate"}
            if not regional:
                intensity["actual"] = self.value(t) if t + SLOT <= self.clock.now else None
            items.append({"from": api_time(t), "to": api_time(t + SLOT), "intensity": intensity})
        if regional:
            return httpx.Response(
                200, json={"data": {"regionid": 12, "shortname": "South England", "data": items}}
            )
        return httpx.Response(200, json={"data": items})


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def engine_for(
    client: httpx.Client,
    clock: Clock,
    region: Region = NATIONAL,
    budget: float = 8.0,
    owners: StubOwnership | None = None,
    usage_src: StubUsage | None = None,
) -> Refresh:
    config = Config(
        scrape_budget_seconds=budget,
        carbon_intensity=IntensityConfig(default_gco2_per_kwh=150.0, region=region),
    )
    api = CarbonIntensityAPI(client, timeout_seconds=min(3.0, budget / 2), now=clock, region=region)
    return Refresh(
        config,
        usage_src or StubUsage([usage()]),
        owners or StubOwnership([ws("w1", "alice", 0)]),
        api,
    )


def finish(engine: Refresh, grid: FakeGrid | None = None) -> None:
    """Let any call still held by the fake finish, so no thread outlives the test."""
    if grid is not None and grid.gate is not None:
        grid.gate.set()
    engine.close()
    for thread in threading.enumerate():
        if thread.name.startswith("source"):
            thread.join(5)


def samples(snap: Snapshot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for m in families(snap)
        for s in m.samples
    }


def value(snap: Snapshot, name: str, **labels: str) -> float:
    return samples(snap)[(name, tuple(sorted(labels.items())))]


def named(snap: Snapshot, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples(snap).items() if n == name}


def grams_per_kwh(snap: Snapshot, user: str) -> float:
    """The intensity one user's busy energy was priced at."""
    joules = value(snap, "ada_carbon_energy_joules", **USER, user=user)
    return value(snap, "ada_carbon_emissions_grams", **USER, user=user) / (joules / 3_600_000)


def noon_snapshot(client: httpx.Client, httpx_mock: HTTPXMock, body: object) -> Snapshot:
    """The scrape at 12:00 when the API answers the window 11:00-12:00 with ``body``.

    The one request also asks for the 48 h forecast from 12:00: ``body`` is all there is.
    """
    clock = Clock("2026-01-31T12:00Z")
    httpx_mock.add_response(url=f"{BASE}/intensity/2026-01-31T11:00Z/2026-02-02T12:00Z", json=body)
    engine = engine_for(client, clock)
    snap = engine.snapshot(clock.at())
    finish(engine)
    return snap


def steady_grid_at_12_45(
    client: httpx.Client, httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> tuple[Clock, FakeGrid, Refresh]:
    """A grid at a steady 120 g/kWh, its clock at 12:45, and an engine over it; logs kept."""
    caplog.set_level(logging.INFO)
    clock = Clock("2026-01-31T12:45Z")
    grid = FakeGrid(clock, lambda t: 120.0)
    httpx_mock.add_callback(grid, is_reusable=True)
    return clock, grid, engine_for(client, clock)


# --- economy ---


@pytest.mark.parametrize("region", [NATIONAL, Region("regionid", "12")], ids=["national", "region"])
@pytest.mark.parametrize("minute", ["00", "10", "29", "31", "59"])
def test_a_hundred_scrapes_in_any_hour_make_at_most_three_requests_in_all(
    minute: str, region: Region, client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    """The window and the forecast together: one request per half hour the hour touches."""
    first_call = f"2026-01-31T12:{minute}Z"
    clock = Clock(first_call)
    grid = FakeGrid(clock)
    httpx_mock.add_callback(grid, is_reusable=True)
    engine = engine_for(client, clock, region)
    counted = 0
    for step in range(100):  # every 36 s: one simulated hour
        clock.now = ts(first_call) + 36 * step
        snap = engine.snapshot(clock.at())
        counted += snap.sources["carbon_intensity"].requests
        assert snap.sources["carbon_intensity"].up
        assert snap.intensity.source == "api"
        assert len(named(snap, "ada_carbon_grid_intensity_forecast_gco2_per_kwh")) == 96
    finish(engine)
    total = len(httpx_mock.get_requests())
    assert counted == total == len(grid.kinds)
    assert total <= 3
    window, forecast = grid.kinds.count("window"), grid.kinds.count("forecast")
    print(f"{first_call} {region.label}: {total} requests ({window} range, {forecast} fw48h)")


# --- the scrape budget and a slow API ---


def test_a_slow_api_is_cut_off_by_the_budget_and_the_last_good_value_is_used(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    clock = Clock("2026-01-31T12:45Z")
    grid = FakeGrid(clock, lambda t: 180.0 if t < ts("2026-01-31T12:30Z") else 240.0)
    httpx_mock.add_callback(grid, is_reusable=True)
    engine = engine_for(client, clock, budget=0.5)
    try:
        assert engine.snapshot(clock.at()).sources["carbon_intensity"].up
        grid.gate = threading.Event()  # from now on the API hangs
        clock.now = ts("2026-01-31T13:15Z")  # a new half hour: the window needs a fetch
        started = time.monotonic()
        snap = engine.snapshot(clock.at())
        assert time.monotonic() - started < 1.5
    finally:
        finish(engine, grid)
    assert value(snap, "ada_carbon_source_up", source="carbon_intensity") == 0
    assert value(snap, "ada_carbon_source_up", source="prometheus") == 1
    assert value(snap, "ada_carbon_grid_intensity_source", region="GB", source="last_good") == 1
    assert value(snap, "ada_carbon_grid_intensity_gco2_per_kwh", region="GB") == 240
    assert value(snap, "ada_carbon_grid_intensity_age_seconds", region="GB") == 900  # since 13:00
    # 12:15-13:00 from the cache (180 then 240), 13:00-13:15 at the last good value
    assert grams_per_kwh(snap, "alice") == pytest.approx((15 * 180 + 45 * 240) / 60)
    forecast = named(snap, "ada_carbon_grid_intensity_forecast_gco2_per_kwh")
    assert len(forecast) == 95  # the 12:30 forecast, served from the cache from 13:00 on


def test_a_slow_api_on_the_first_scrape_means_the_default(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    clock = Clock("2026-01-31T12:45Z")
    grid = FakeGrid(clock)
    grid.gate = threading.Event()
    httpx_mock.add_callback(grid, is_reusable=True)
    engine = engine_for(client, clock, budget=0.3)
    try:
        snap = engine.snapshot(clock.at())
    finally:
        finish(engine, grid)
    assert value(snap, "ada_carbon_source_up", source="carbon_intensity") == 0
    assert value(snap, "ada_carbon_grid_intensity_source", region="GB", source="default") == 1
    assert value(snap, "ada_carbon_grid_intensity_age_seconds", region="GB") == float("inf")
    assert grams_per_kwh(snap, "alice") == pytest.approx(150)
    assert named(snap, "ada_carbon_grid_intensity_forecast_gco2_per_kwh") == {}


# --- the API down ---

FAILURES: dict[str, Callable[[], httpx.Response | Exception]] = {
    "http 500 json error": lambda: httpx.Response(500, json=ERROR_BODY),
    "html error page": lambda: httpx.Response(
        502, html="<html><title>502 Bad Gateway</title><body>nginx</body></html>"
    ),
    "read timeout": lambda: httpx.ReadTimeout("timed out"),
    "connection refused": lambda: httpx.ConnectError("connection refused"),
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_api_down_keeps_serving_attributed_energy_priced_by_the_fallback(
    failure: Callable[[], httpx.Response | Exception],
    client: httpx.Client,
    httpx_mock: HTTPXMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, grid, engine = steady_grid_at_12_45(client, httpx_mock, caplog)
    grid.failure = failure

    cold = engine.snapshot(clock.at())  # down from the start: the configured default
    grid.failure = None
    clock.now += 600
    live = engine.snapshot(clock.at())
    grid.failure = failure
    clock.now = ts("2026-01-31T13:20Z")  # down again, a half hour later: the last good value
    warm = engine.snapshot(clock.at())
    finish(engine)

    for snap, source, priced in (
        (cold, "default", 150),
        (live, "api", 120),
        (warm, "last_good", 120),
    ):
        up = 1 if source == "api" else 0
        assert value(snap, "ada_carbon_source_up", source="carbon_intensity") == up
        assert value(snap, "ada_carbon_source_up", source="prometheus") == 1
        assert value(snap, "ada_carbon_grid_intensity_source", region="GB", source=source) == 1
        assert value(snap, "ada_carbon_energy_joules", **USER, user="alice") == 3600 * 12
        assert grams_per_kwh(snap, "alice") == pytest.approx(priced)
    changes = [r.getMessage() for r in caplog.records if r.name == "exporter.intensity"]
    assert [m.split(" (")[0] for m in changes] == [
        "grid intensity now from default",
        "grid intensity now from api",
        "grid intensity now from last_good",
    ]


def test_repeated_scrapes_log_each_change_of_intensity_source_once(
    client: httpx.Client, httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    """Ten scrapes with the API up, ten with it down, ten with it back: one line a change."""
    caplog.set_level(logging.INFO)
    clock = Clock("2026-01-31T12:00Z")
    grid = FakeGrid(clock, lambda t: 120.0)
    httpx_mock.add_callback(grid, is_reusable=True)
    engine = engine_for(client, clock)
    seen = []
    for first, failure in (
        ("2026-01-31T12:00Z", None),
        ("2026-01-31T12:31Z", FAILURES["http 500 json error"]),  # a new half hour: asked
        ("2026-01-31T13:01Z", None),
    ):
        grid.failure = failure
        for step in range(10):
            clock.now = ts(first) + 36 * step
            snap = engine.snapshot(clock.at())
            seen.append((snap.intensity.source, snap.sources["carbon_intensity"].up))
    finish(engine)

    assert seen == [("api", True)] * 10 + [("last_good", False)] * 10 + [("api", True)] * 10
    changes = [r.getMessage() for r in caplog.records if r.name == "exporter.intensity"]
    assert [m.split(" (")[0] for m in changes] == [
        "grid intensity now from api",
        "grid intensity now from last_good",
        "grid intensity now from api",
    ]
    health = [r.getMessage() for r in caplog.records if r.name == "exporter.health"]
    for source in ("carbon_intensity", "carbon_intensity forecast"):
        assert [m for m in health if m.startswith(f"source {source} is down: ")] == [
            f"source {source} is down: Carbon Intensity API HTTP 500: "
            "500 Internal Server Error: Requested resource not found."
        ]
        assert health.count(f"source {source} recovered") == 1
    assert len(health) == 4


def test_forecast_failure_marks_the_source_down_but_the_window_stays_live(
    client: httpx.Client, httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    """Past windows (``snapshot --at``), whose forecast is asked for apart (fw48h): a
    scrape's comes in its window's request, so it cannot fail while the window answers."""
    caplog.set_level(logging.INFO)
    clock = Clock("2026-02-10T09:00Z")
    grid = FakeGrid(clock)
    httpx_mock.add_callback(grid, is_reusable=True)
    engine = engine_for(client, clock)
    engine.snapshot(at("2026-01-31T12:45Z"))
    grid.fail_forecast = True
    snaps = [engine.snapshot(at("2026-01-31T13:05Z")) for _ in range(3)]
    finish(engine)
    snap = snaps[-1]
    assert value(snap, "ada_carbon_source_up", source="carbon_intensity") == 0
    assert value(snap, "ada_carbon_grid_intensity_source", region="GB", source="api") == 1
    assert len(named(snap, "ada_carbon_grid_intensity_forecast_gco2_per_kwh")) == 95
    assert grid.kinds.count("forecast") == 4  # a failed forecast is asked again next scrape
    health = [r.getMessage() for r in caplog.records if r.name == "exporter.health"]
    assert health == [
        "source carbon_intensity forecast is down: Carbon Intensity API HTTP 500: "
        "500 Internal Server Error: Requested resource not found."
    ]


SHAPELESS = {
    "null": ("null", "the body is null, not an object with data"),
    "empty object": ("{}", "the body has no data field"),
    "data null": ('{"data": null}', "data is null, not a list of slots"),
}


@pytest.mark.parametrize(("body", "reason"), SHAPELESS.values(), ids=SHAPELESS.keys())
def test_a_200_without_data_is_the_api_down_and_is_asked_again_at_the_next_scrape(
    body: str,
    reason: str,
    client: httpx.Client,
    httpx_mock: HTTPXMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, grid, engine = steady_grid_at_12_45(client, httpx_mock, caplog)
    live = engine.snapshot(clock.at())
    grid.failure = lambda: httpx.Response(200, text=body)
    clock.now = ts("2026-01-31T13:05Z")  # a new half hour: the window needs a fetch
    down = [engine.snapshot(clock.at()) for _ in range(2)]
    grid.failure = None
    back = engine.snapshot(clock.at())
    finish(engine)

    assert value(live, "ada_carbon_source_up", source="carbon_intensity") == 1
    for snap in down:
        assert value(snap, "ada_carbon_source_up", source="carbon_intensity") == 0
        # 12:05-13:00 from the cache, 13:00-13:05 at the last good value
        assert value(snap, "ada_carbon_grid_intensity_source", region="GB", source="last_good")
        assert grams_per_kwh(snap, "alice") == pytest.approx(120)
    assert value(back, "ada_carbon_source_up", source="carbon_intensity") == 1
    assert value(back, "ada_carbon_grid_intensity_source", region="GB", source="api") == 1
    # Every scrape asked (while down, both its window's call and its forecast's, each
    # for the window and the forecast together): nothing was taken as checked.
    assert grid.kinds == ["window"] * 6
    health = [r.getMessage() for r in caplog.records if r.name == "exporter.health"]
    assert health.count(f"source carbon_intensity is down: Carbon Intensity API: {reason}") == 1
    assert "source carbon_intensity recovered" in health


# --- odd payloads, at scrape level ---


def items(values: list[float | None], actual: bool = True) -> list[dict[str, object]]:
    """National slots from 11:00 on; a None value leaves its slot out."""
    t0 = ts("2026-01-31T11:00Z")
    return [
        {
            "from": api_time(t0 + i * SLOT),
            "to": api_time(t0 + (i + 1) * SLOT),
            "intensity": {"forecast": v, "actual": v if actual else None, "index": "low"},
        }
        for i, v in enumerate(values)
        if v is not None
    ]


PAYLOADS = {
    # name: (window body, intensity source, priced at, actual ratio)
    "actual null": ({"data": items([100, 100, 100], actual=False)}, "api", 100, 0.0),
    "missing slot": ({"data": items([100, None, 100])}, "last_good", 100, 0.5),
    "whole day empty": ({"data": []}, "default", 150, 0.0),
    "data as object": ({"data": items([100])[0]}, "last_good", 100, 0.5),
    # 11:00 twice: the measured 100 wins over a later forecast-only 300
    "duplicated slot": ({"data": items([100, 90]) + items([300], actual=False)}, "api", 95, 1.0),
}


@pytest.mark.parametrize(
    ("body", "source", "priced", "actual"), PAYLOADS.values(), ids=PAYLOADS.keys()
)
def test_odd_payloads_still_give_a_truthful_scrape(
    body: object,
    source: str,
    priced: float,
    actual: float,
    client: httpx.Client,
    httpx_mock: HTTPXMock,
) -> None:
    snap = noon_snapshot(client, httpx_mock, body)
    assert value(snap, "ada_carbon_source_up", source="carbon_intensity") == 1
    assert value(snap, "ada_carbon_grid_intensity_source", region="GB", source=source) == 1
    assert grams_per_kwh(snap, "alice") == pytest.approx(priced)
    assert value(snap, "ada_carbon_grid_intensity_actual_ratio", region="GB") == actual
    assert named(snap, "ada_carbon_greenest_window_start_timestamp_seconds") == {}


def test_a_missing_half_hour_takes_the_value_before_it_not_the_one_at_the_windows_end(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    """11:00 measured 100, 11:30 missing, 12:00 forecast 500: the window 11:00-12:00 is 100."""
    body = {"data": items([100]) + items([None, None, 500], actual=False)}
    snap = noon_snapshot(client, httpx_mock, body)
    # The 12:00 slot starts at the window's end: no overlap, so no say in the mean.
    assert value(snap, "ada_carbon_grid_intensity_window_mean_gco2_per_kwh", region="GB") == 100
    assert grams_per_kwh(snap, "alice") == pytest.approx(100)
    assert value(snap, "ada_carbon_grid_intensity_source", region="GB", source="last_good") == 1
    assert value(snap, "ada_carbon_grid_intensity_actual_ratio", region="GB") == 0.5
    # It is still the half hour containing the end, so the current value.
    assert value(snap, "ada_carbon_grid_intensity_gco2_per_kwh", region="GB") == 500


# --- time weighting across an ownership boundary ---


def test_each_owner_is_priced_at_the_slots_of_their_own_sub_interval(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    """11:00-11:30 at 120 g/kWh, 11:30-12:00 at 250; alice until 11:40, bob after."""
    end = ts("2026-01-31T12:00Z")
    clock = Clock("2026-01-31T12:00Z")
    httpx_mock.add_callback(
        FakeGrid(clock, lambda t: 120.0 if t < end - SLOT else 250.0), is_reusable=True
    )
    owners = StubOwnership(
        [ws("w1", "alice", end - 86400, deleted=end - 1200), ws("w2", "bob", end - 1200)]
    )
    usage_src = StubUsage([usage()], {("172.16.100.50:9100", "IDAaaS", "Muon"): steady_steps(end)})
    engine = engine_for(client, clock, owners=owners, usage_src=usage_src)
    snap = engine.snapshot(clock.at())
    finish(engine)
    assert grams_per_kwh(snap, "alice") == pytest.approx((30 * 120 + 10 * 250) / 40)  # 152.5
    assert grams_per_kwh(snap, "bob") == pytest.approx(250)
    assert value(snap, "ada_carbon_grid_intensity_window_mean_gco2_per_kwh", region="GB") == 185
    assert value(snap, "ada_carbon_grid_intensity_gco2_per_kwh", region="GB") == 250


# --- regions ---


@pytest.mark.parametrize(
    "region", [Region("regionid", "12"), Region("postcode", "OX11")], ids=["id", "postcode"]
)
def test_a_region_labels_every_intensity_family_and_is_forecast_only(
    region: Region, client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    clock = Clock("2026-01-31T12:10Z")
    httpx_mock.add_callback(FakeGrid(clock, lambda t: 90.0), is_reusable=True)
    engine = engine_for(client, clock, region)
    snap = engine.snapshot(clock.at())
    finish(engine)
    paths = [r.url.path for r in httpx_mock.get_requests()]
    # The window and the 48 h forecast from 12:00, in one request to the regional range
    assert paths == [
        f"/regional/intensity/2026-01-31T11:00Z/2026-02-02T12:00Z/{region.kind}/{region.code}"
    ]
    r = {"region": "South England"}
    assert value(snap, "ada_carbon_grid_intensity_gco2_per_kwh", **r) == 90
    assert value(snap, "ada_carbon_grid_intensity_actual_ratio", **r) == 0  # the metric says so
    assert value(snap, "ada_carbon_grid_intensity_index", **r, index="moderate") == 1
    assert value(snap, "ada_carbon_grid_intensity_age_seconds", **r) == 0
    assert (
        value(snap, "ada_carbon_grid_intensity_forecast_gco2_per_kwh", **r, hours_ahead="47.5")
        == 90
    )
    labels = {dict(k)["region"] for (n, k) in samples(snap) if "region" in dict(k)}
    assert labels == {"South England"}


# --- forecast families ---


def test_forecast_greenest_windows_and_index_families(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    # 200 g/kWh, except 60 from 03:00Z to 06:00Z and 90 from 13:00Z to 16:00Z (GMT = UTC).
    def curve(t: float) -> float:
        hour = (t % 86400) / 3600
        return 60.0 if 3 <= hour < 6 else 90.0 if 13 <= hour < 16 else 200.0

    clock = Clock("2026-01-31T12:10Z")
    httpx_mock.add_callback(FakeGrid(clock, curve), is_reusable=True)
    engine = engine_for(client, clock)
    snap = engine.snapshot(clock.at())
    finish(engine)
    forecast = named(snap, "ada_carbon_grid_intensity_forecast_gco2_per_kwh")
    hours = sorted(float(dict(k)["hours_ahead"]) for k in forecast)
    assert hours == [h / 2 for h in range(96)]
    assert forecast[(("hours_ahead", "1"), ("region", "GB"))] == 90  # 13:00Z
    start = named(snap, "ada_carbon_greenest_window_start_timestamp_seconds")
    mean = named(snap, "ada_carbon_greenest_window_mean_gco2_per_kwh")
    assert start == {
        (("region", "GB"), ("scope", "next_24h")): ts("2026-02-01T03:00Z"),
        (("region", "GB"), ("scope", "working_hours")): ts("2026-01-31T13:00Z"),
    }
    assert mean == {
        (("region", "GB"), ("scope", "next_24h")): 60,
        (("region", "GB"), ("scope", "working_hours")): 90,
    }
    index = named(snap, "ada_carbon_grid_intensity_index")
    assert index[(("index", "moderate"), ("region", "GB"))] == 1  # the API's index, not the band
    assert sum(index.values()) == 1 and len(index) == 5


# --- a past window ---


def test_a_past_window_uses_that_windows_slots(client: httpx.Client, httpx_mock: HTTPXMock) -> None:
    clock = Clock("2026-02-10T09:00Z")  # today; the window asked about is ten days earlier
    grid = FakeGrid(clock, lambda t: 100.0 + (t - ts("2026-01-31T00:00Z")) / SLOT)
    httpx_mock.add_callback(grid, is_reusable=True)
    engine = engine_for(client, clock)
    snap = engine.snapshot(at("2026-01-31T12:00Z"))
    finish(engine)
    [window, forecast] = sorted(str(r.url) for r in httpx_mock.get_requests())
    assert window == f"{BASE}/intensity/2026-01-31T11:00Z/2026-01-31T12:30Z"
    assert forecast == f"{BASE}/intensity/2026-01-31T12:00Z/fw48h"
    # the 11:00 and 11:30 slots: 100 + 22 and 100 + 23
    assert value(snap, "ada_carbon_grid_intensity_window_mean_gco2_per_kwh", region="GB") == 122.5
    assert grams_per_kwh(snap, "alice") == pytest.approx(122.5)
    assert value(snap, "ada_carbon_grid_intensity_actual_ratio", region="GB") == 1


def test_snapshot_command_prints_a_past_window_priced_at_its_own_slots(
    httpx_mock: HTTPXMock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    httpx_mock.add_callback(
        FakeGrid(
            Clock("2026-02-10T09:00Z"), lambda t: 100.0 + (t - ts("2026-01-31T00:00Z")) / SLOT
        ),
        is_reusable=True,
    )
    monkeypatch.setenv("USE_FAKE_PROMETHEUS", "true")
    monkeypatch.setenv("USE_FAKE_MONGODB", "true")
    monkeypatch.chdir(str(tmp_path))  # no exporter.yaml here: built-in defaults
    assert main(["snapshot", "--at", "2026-01-31T12:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert 'ada_carbon_grid_intensity_window_mean_gco2_per_kwh{region="GB"} 122.5' in out
    assert 'ada_carbon_source_up{source="carbon_intensity"} 1.0' in out
    assert any(
        str(r.url).endswith("/intensity/2026-01-31T11:00Z/2026-01-31T12:30Z")
        for r in httpx_mock.get_requests()
    )


def test_history_fetches_the_period_once_and_no_forecast(httpx_mock):
    """A day of backfill costs one API request, not two per window."""
    day = [datetime(2026, 1, 10, h, tzinfo=timezone.utc) for h in range(1, 24)]
    slots = {
        "data": [
            {
                "from": f"2026-01-{10 + (m // 48):02d}T{(m % 48) // 2:02d}:{30 * (m % 2):02d}Z",
                "to": f"2026-01-{10 + ((m + 1) // 48):02d}T{((m + 1) % 48) // 2:02d}:"
                f"{30 * ((m + 1) % 2):02d}Z",
                "intensity": {"forecast": 150, "actual": 140, "index": "moderate"},
            }
            for m in range(48)
        ]
    }
    httpx_mock.add_response(json=slots)
    api = CarbonIntensityAPI(
        httpx.Client(),
        "https://api.test",
        2.0,
        now=lambda: datetime(2026, 11, 23, tzinfo=timezone.utc).timestamp(),
    )
    engine = Refresh(Config(), StubUsage(), StubOwnership(), api)
    try:
        snaps = list(engine.history(day))
    finally:
        engine.close()
    assert len(snaps) == 23
    assert api.requests == 1
    assert len(httpx_mock.get_requests()) == 1
    assert all(s.intensity.source == "api" for s in snaps)
    assert all(s.intensity.window_mean.gco2_per_kwh == 140 for s in snaps)
