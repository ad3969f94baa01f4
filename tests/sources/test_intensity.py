"""Carbon Intensity API adapter: parsing literals, HTTP failures, and the per-slot cache."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from pytest_httpx import HTTPXMock

from exporter.model import IntensitySlot, SourceError
from exporter.sources.carbon_intensity.client import CarbonIntensityAPI, parse_slots, region_name
from exporter.sources.carbon_intensity.fixed import FixedIntensity
from exporter.sources.carbon_intensity.regions import Region

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intensity"
BASE = "https://api.carbonintensity.org.uk"
HALF_HOUR = timedelta(minutes=30)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ts(text: str) -> float:
    return at(text).timestamp()


def api_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def entry(start: str, forecast: object, actual: object = None, index: str = "moderate") -> object:
    """One national slot as the API writes it."""
    return {
        "from": start,
        "to": api_time(at(start) + HALF_HOUR),
        "intensity": {"forecast": forecast, "actual": actual, "index": index},
    }


def golden(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def url(start: str, end: str) -> str:
    return f"{BASE}/intensity/{start}/{end}"


class Clock:
    """Wall-clock time the test moves by hand."""

    def __init__(self, text: str) -> None:
        self.now = ts(text)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def slowly(answer: Callable[[httpx.Request], httpx.Response]) -> Callable[..., httpx.Response]:
    """``answer``, 0.2 s late: long enough for a second call to arrive mid-fetch."""

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(0.2)
        return answer(request)

    return slow


def fake_api(clock: Clock) -> Callable[[httpx.Request], httpx.Response]:
    """Answer any /intensity/{from}/{to} like the API: actuals for ended slots only."""

    def respond(request: httpx.Request) -> httpx.Response:
        _, _, lo, hi = request.url.path.split("/")
        moment, items = at(lo) - HALF_HOUR, []  # the API also sends the slot ending at `from`
        while moment < at(hi):
            ended = (moment + HALF_HOUR).timestamp() <= clock.now
            items.append(entry(api_time(moment), 210, 200 if ended else None))
            moment += HALF_HOUR
        return httpx.Response(200, json={"data": items})

    return respond


# --- parse_slots: pure, tested with literals ---


def test_national_response_gives_actual_values_oldest_first() -> None:
    slots = parse_slots(golden("national_2018-01-20.json"))
    assert [s.start for s in slots] == [ts("2018-01-20T11:30Z") + i * 1800 for i in range(5)]
    assert slots[1] == IntensitySlot(
        ts("2018-01-20T12:00Z"), ts("2018-01-20T12:30Z"), 263.0, actual=True, index="moderate"
    )


def test_null_actual_falls_back_to_forecast_marked_not_actual() -> None:
    [slot] = parse_slots({"data": [entry("2018-01-20T12:00Z", 266, None, "high")]})
    assert (slot.gco2_per_kwh, slot.actual, slot.index) == (266.0, False, "high")


def test_slot_with_neither_actual_nor_forecast_is_dropped() -> None:
    body = {"data": [entry("2018-01-20T12:00Z", None), entry("2018-01-20T12:30Z", 250, 240)]}
    assert [s.start for s in parse_slots(body)] == [ts("2018-01-20T12:30Z")]


def test_missing_slot_leaves_a_gap() -> None:
    body = {"data": [entry("2018-01-20T12:00Z", 266, 263), entry("2018-01-20T13:00Z", 250, 251)]}
    starts = [s.start for s in parse_slots(body)]
    assert starts == [ts("2018-01-20T12:00Z"), ts("2018-01-20T13:00Z")]


def test_data_as_a_single_object_is_accepted() -> None:
    [slot] = parse_slots({"data": entry("2018-01-20T12:00Z", 266, 263)})
    assert slot.gco2_per_kwh == 263.0


def test_empty_data_or_only_unusable_entries_give_no_slots() -> None:
    bodies: list[object] = [{"data": []}, {"data": {}}, {"data": [None, 3, "x"]}]
    for body in bodies:
        assert parse_slots(body) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (None, "the body is null, not an object with data"),
        ([], "the body is a list, not an object with data"),
        ({}, "the body has no data field"),
        ({"data": None}, "data is null, not a list of slots"),
        ({"data": "x"}, "data is a string, not a list of slots"),
    ],
)
def test_body_without_a_data_list_is_a_source_error_not_an_empty_answer(
    body: object, reason: str
) -> None:
    with pytest.raises(SourceError) as caught:
        parse_slots(body)
    assert str(caught.value) == f"Carbon Intensity API: {reason}"


def test_duplicated_slot_keeps_the_one_with_an_actual_else_the_last() -> None:
    with_actual = [
        entry("2018-01-20T12:00Z", 266, 263),
        entry("2018-01-20T12:00Z", 270, None),
    ]
    assert parse_slots({"data": with_actual})[0].gco2_per_kwh == 263.0
    forecasts = [entry("2018-01-20T12:00Z", 266), entry("2018-01-20T12:00Z", 270)]
    assert [s.gco2_per_kwh for s in parse_slots({"data": forecasts})] == [270.0]


def test_regional_shape_is_parsed_as_forecasts_with_index() -> None:
    slots = parse_slots(golden("regional_south_england.json"))
    assert [(s.start, s.gco2_per_kwh, s.actual, s.index) for s in slots] == [
        (ts("2018-05-15T11:30Z"), 266.0, False, "moderate"),
        (ts("2018-05-15T12:00Z"), 258.0, False, "moderate"),
    ]


def test_regional_list_of_regions_is_flattened() -> None:
    region = {"regionid": 12, "data": [{"from": "2018-05-15T12:00Z", "intensity": {"forecast": 9}}]}
    [slot] = parse_slots({"data": [region]})
    assert (slot.end, slot.gco2_per_kwh, slot.index) == (ts("2018-05-15T12:30Z"), 9.0, "")


def test_seconds_and_offset_time_forms_are_accepted_and_sorted() -> None:
    body = {
        "data": [
            {
                "from": "2018-01-20T13:00:00+00:00",
                "to": "2018-01-20T13:30:00+00:00",
                "intensity": {"forecast": 1},
            },
            {"from": "2018-01-20T12:30:00Z", "intensity": {"forecast": 2}},
            {"to": "2018-01-20T12:30+00:00", "intensity": {"forecast": 3}},
        ]
    }
    assert [(s.start, s.gco2_per_kwh) for s in parse_slots(body)] == [
        (ts("2018-01-20T12:00Z"), 3.0),
        (ts("2018-01-20T12:30Z"), 2.0),
        (ts("2018-01-20T13:00Z"), 1.0),
    ]


def test_unparseable_entries_are_dropped_not_fatal() -> None:
    good = entry("2018-01-20T12:00Z", 266, 263)
    bad = [
        {"from": "yesterday", "intensity": {"forecast": 1}},
        {"from": "2018-01-20T12:10Z", "intensity": {"forecast": 1}},  # not on a boundary
        {"from": "2018-01-20T12:30Z", "to": "2018-01-20T14:00Z", "intensity": {"forecast": 1}},
        {"from": "2018-01-20T12:30Z", "intensity": "266"},
        {"from": "2018-01-20T12:30Z", "intensity": {"forecast": "266", "actual": True}},
        {"intensity": {"forecast": 1}},
    ]
    assert parse_slots({"data": [*bad, good]}) == parse_slots({"data": [good]})


def test_negative_or_non_finite_values_are_dropped() -> None:
    body = {
        "data": [
            entry("2018-01-20T12:00Z", -5, float("nan")),
            entry("2018-01-20T12:30Z", float("inf")),
            entry("2018-01-20T13:00Z", 250, -1),  # a bad actual falls back to the forecast
        ]
    }
    [slot] = parse_slots(body)
    assert (slot.start, slot.gco2_per_kwh, slot.actual) == (ts("2018-01-20T13:00Z"), 250.0, False)


def test_error_body_raises_source_error_with_code_and_message() -> None:
    with pytest.raises(SourceError) as caught:
        parse_slots(golden("error_500.json"))
    assert "500 Internal Server Error: Requested resource not found." in str(caught.value)


# --- CarbonIntensityAPI over HTTP ---


def test_normal_response_asks_for_the_floored_range_with_the_timeout(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=url("2018-01-20T12:00Z", "2018-01-20T14:00Z"), json=golden("national_2018-01-20.json")
    )
    api = CarbonIntensityAPI(client, timeout_seconds=2.5, now=Clock("2018-01-21T00:00Z"))
    slots = api.slots(at("2018-01-20T12:10Z"), at("2018-01-20T13:45Z"))
    assert [s.gco2_per_kwh for s in slots] == [263.0, 259.0, 257.0, 251.0]
    assert api.region == "GB"
    assert api.requests == 1
    [request] = httpx_mock.get_requests()
    assert request.extensions["timeout"] == dict.fromkeys(("connect", "read", "write", "pool"), 2.5)


def test_slot_ending_at_from_is_cached_too(client: httpx.Client, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=golden("national_2018-01-20.json"))
    api = CarbonIntensityAPI(client, now=Clock("2018-01-21T00:00Z"))
    api.slots(at("2018-01-20T12:00Z"), at("2018-01-20T13:45Z"))
    [slot] = api.slots(at("2018-01-20T11:30Z"), at("2018-01-20T11:45Z"))
    assert (slot.gco2_per_kwh, api.requests) == (268.0, 1)


def test_missing_slot_is_a_gap_not_an_error(client: httpx.Client, httpx_mock: HTTPXMock) -> None:
    body = {"data": [entry("2018-01-20T12:00Z", 266, 263), entry("2018-01-20T13:00Z", 250, 251)]}
    httpx_mock.add_response(url=url("2018-01-20T12:00Z", "2018-01-20T13:30Z"), json=body)
    api = CarbonIntensityAPI(client, now=Clock("2018-01-21T00:00Z"))
    slots = api.slots(at("2018-01-20T12:00Z"), at("2018-01-20T13:00Z"))
    assert [s.start for s in slots] == [ts("2018-01-20T12:00Z"), ts("2018-01-20T13:00Z")]


def test_empty_day_returns_no_slots_and_is_not_asked_again_this_half_hour(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=url("2018-01-20T00:00Z", "2018-01-21T00:00Z"), json={"data": []})
    api = CarbonIntensityAPI(client, now=Clock("2018-01-22T00:00Z"))
    day = (at("2018-01-20T00:00Z"), at("2018-01-20T23:59Z"))
    assert api.slots(*day) == []
    assert api.slots(*day) == []
    assert api.requests == len(httpx_mock.get_requests()) == 1


def test_http_500_with_error_body_raises_source_error_with_the_message(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=500, json=golden("error_500.json"))
    api = CarbonIntensityAPI(client)
    with pytest.raises(SourceError, match=r"HTTP 500: 500 Internal .*: Requested resource not"):
        api.slots(at("2018-01-20T12:00Z"), at("2018-01-20T13:00Z"))


def test_html_502_page_raises_a_short_source_error(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>" + "x" * 5000 + "</body></html>"
    httpx_mock.add_response(status_code=502, html=page)
    api = CarbonIntensityAPI(client)
    with pytest.raises(SourceError) as caught:
        api.slots(at("2018-01-20T12:00Z"), at("2018-01-20T13:00Z"))
    assert str(caught.value) == "Carbon Intensity API HTTP 502: Bad Gateway"


def test_malformed_json_raises_source_error(client: httpx.Client, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        text='{"data": [{"from": "2018-01-20T12:00Z"', headers={"content-type": "application/json"}
    )
    api = CarbonIntensityAPI(client)
    with pytest.raises(SourceError, match="HTTP 200: body is not JSON"):
        api.slots(at("2018-01-20T12:00Z"), at("2018-01-20T13:00Z"))


def test_error_body_with_status_200_raises_source_error(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json=golden("error_500.json"))
    with pytest.raises(SourceError, match="Requested resource not found"):
        CarbonIntensityAPI(client).slots(at("2018-01-20T12:00Z"), at("2018-01-20T13:00Z"))


@pytest.mark.parametrize("body", ["null", "{}", '{"data": null}'])
def test_http_200_without_data_raises_caches_nothing_and_the_next_call_asks_again(
    body: str, client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    asked = url("2018-01-20T12:00Z", "2018-01-20T13:30Z")
    httpx_mock.add_response(url=asked, text=body, headers={"content-type": "application/json"})
    httpx_mock.add_response(url=asked, json=golden("national_2018-01-20.json"))
    api = CarbonIntensityAPI(client, now=Clock("2018-01-21T00:00Z"))
    window = (at("2018-01-20T12:00Z"), at("2018-01-20T13:00Z"))
    with pytest.raises(SourceError, match=r"^Carbon Intensity API: "):
        api.slots(*window)
    assert api.cached(*window) == []
    # Same wall-clock half hour: nothing was recorded as checked, so it is asked again.
    assert [s.gco2_per_kwh for s in api.slots(*window)] == [263.0, 259.0, 257.0]
    assert api.requests == len(httpx_mock.get_requests()) == 2


def test_timeout_raises_source_error(client: httpx.Client, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"))
    api = CarbonIntensityAPI(client)
    with pytest.raises(SourceError, match="ReadTimeout"):
        api.slots(at("2018-01-20T12:00Z"), at("2018-01-20T13:00Z"))
    assert api.requests == 1


def test_cached_keeps_serving_slots_after_a_failure(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    clock = Clock("2018-01-20T13:10Z")
    body = {"data": [entry("2018-01-20T12:00Z", 266, 263), entry("2018-01-20T12:30Z", 260, 258)]}
    httpx_mock.add_response(json=body)
    httpx_mock.add_response(status_code=500, json=golden("error_500.json"))
    api = CarbonIntensityAPI(client, now=clock)
    window = (at("2018-01-20T12:10Z"), at("2018-01-20T13:10Z"))
    first = api.slots(*window)
    clock.now += 1800  # the 13:00 slot is now stale and must be asked for
    with pytest.raises(SourceError):
        api.slots(*window)
    assert api.cached(*window) == first
    assert [s.gco2_per_kwh for s in first] == [263.0, 258.0]


# --- the cache ---


def test_past_window_with_actuals_is_fetched_once(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json=golden("national_2018-01-20.json"))
    clock = Clock("2018-01-21T00:00Z")
    api = CarbonIntensityAPI(client, now=clock)
    window = (at("2018-01-20T12:00Z"), at("2018-01-20T13:45Z"))
    first = api.slots(*window)
    clock.now += 7 * 86400  # final slots stay final however much later
    assert api.slots(*window) == first
    assert api.requests == len(httpx_mock.get_requests()) == 1


def test_forecast_slot_is_refetched_only_after_the_half_hour_changes(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    clock = Clock("2018-01-20T12:05Z")
    httpx_mock.add_callback(fake_api(clock), is_reusable=True)
    api = CarbonIntensityAPI(client, now=clock)
    window = (at("2018-01-20T11:00Z"), at("2018-01-20T12:15Z"))
    assert [s.actual for s in api.slots(*window)] == [True, True, False]
    clock.now = ts("2018-01-20T12:29:59Z")
    api.slots(*window)
    assert api.requests == 1
    clock.now = ts("2018-01-20T12:30Z")
    assert [s.actual for s in api.slots(*window)] == [True, True, True]
    [_, refetch] = httpx_mock.get_requests()
    assert str(refetch.url) == url("2018-01-20T12:00Z", "2018-01-20T12:30Z")  # only the stale slot
    clock.now = ts("2018-01-20T13:30Z")
    api.slots(*window)
    assert api.requests == 2


@pytest.mark.parametrize("first_call", ["2018-01-20T12:00Z", "2018-01-20T12:10Z"])
def test_moving_one_hour_window_makes_at_most_three_requests_an_hour(
    first_call: str, client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    clock = Clock(first_call)
    httpx_mock.add_callback(fake_api(clock), is_reusable=True)
    api = CarbonIntensityAPI(client, now=clock)
    for step in range(101):  # every 36 s across one hour, both ends included
        clock.now = ts(first_call) + 36 * step
        end = datetime.fromtimestamp(clock.now, timezone.utc)
        slots = api.slots(end - timedelta(hours=1), end)
        assert len(slots) == 3 and all(s.actual for s in slots[:-1])
    assert api.requests == len(httpx_mock.get_requests()) <= 3
    print(f"{first_call}: {api.requests} requests for 101 calls")


def test_half_hour_in_progress_missing_from_the_answer_is_asked_again_five_minutes_later(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    clock = Clock("2018-01-20T12:05Z")
    partial = {"data": [entry("2018-01-20T11:00Z", 210, 200), entry("2018-01-20T11:30Z", 210, 200)]}
    # A window ending now: its request reaches 48 h ahead for the forecast (held, empty).
    httpx_mock.add_response(url=url("2018-01-20T11:00Z", "2018-01-22T12:00Z"), json=partial)
    httpx_mock.add_response(
        url=url("2018-01-20T12:00Z", "2018-01-20T12:30Z"),
        json={"data": [entry("2018-01-20T12:00Z", 220)]},
    )
    api = CarbonIntensityAPI(client, now=clock)
    window = (at("2018-01-20T11:05Z"), at("2018-01-20T12:05Z"))
    assert len(api.slots(*window)) == 2
    clock.now = ts("2018-01-20T12:09:59Z")
    assert len(api.slots(*window)) == 2
    assert api.requests == 1  # not at every scrape
    clock.now = ts("2018-01-20T12:10Z")  # not only from 12:30, the next half hour
    assert [s.gco2_per_kwh for s in api.slots(*window)] == [200.0, 200.0, 220.0]
    assert api.requests == len(httpx_mock.get_requests()) == 2  # only the missing slot


def test_ended_half_hour_missing_from_the_answer_is_asked_again_once_per_half_hour(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    clock = Clock("2018-01-21T00:00Z")
    partial = {"data": [entry("2018-01-20T12:00Z", 266, 263), entry("2018-01-20T13:00Z", 250, 251)]}
    httpx_mock.add_response(url=url("2018-01-20T12:00Z", "2018-01-20T13:30Z"), json=partial)
    httpx_mock.add_response(
        url=url("2018-01-20T12:30Z", "2018-01-20T13:00Z"),
        json={"data": [entry("2018-01-20T12:30Z", 260, 258)]},
    )
    api = CarbonIntensityAPI(client, now=clock)
    window = (at("2018-01-20T12:00Z"), at("2018-01-20T13:00Z"))
    assert len(api.slots(*window)) == 2
    for minute in range(1, 30):  # a missing past day must not cost a request per scrape
        clock.now = ts(f"2018-01-21T00:{minute:02d}Z")
        assert len(api.slots(*window)) == 2
    assert api.requests == 1
    clock.now = ts("2018-01-21T00:30Z")
    assert [s.gco2_per_kwh for s in api.slots(*window)] == [263.0, 258.0, 251.0]
    assert api.requests == len(httpx_mock.get_requests()) == 2


@pytest.mark.parametrize("first_call", ["2018-01-20T12:00Z", "2018-01-20T12:10Z"])
def test_half_hour_in_progress_never_answered_costs_one_request_per_five_minutes(
    first_call: str, client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    clock = Clock(first_call)
    answer = fake_api(clock)

    def without_the_half_hour_in_progress(request: httpx.Request) -> httpx.Response:
        body = json.loads(answer(request).content)
        body["data"] = [e for e in body["data"] if ts(e["to"]) <= clock.now]
        return httpx.Response(200, json=body)

    httpx_mock.add_callback(without_the_half_hour_in_progress, is_reusable=True)
    api = CarbonIntensityAPI(client, now=clock)
    for step in range(101):  # every 36 s across one hour, both ends included
        clock.now = ts(first_call) + 36 * step
        end = datetime.fromtimestamp(clock.now, timezone.utc)
        assert all(s.actual for s in api.slots(end - timedelta(hours=1), end))
    assert api.requests == len(httpx_mock.get_requests()) <= 13  # 12 x 5 min, and the end
    print(f"{first_call}: {api.requests} requests for 101 calls")


def test_fifteen_day_range_is_split_into_two_requests(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=url("2018-01-01T00:00Z", "2018-01-15T00:00Z"), json={"data": []})
    httpx_mock.add_response(
        url=url("2018-01-15T00:00Z", "2018-01-16T00:00Z"),
        json={"data": [entry("2018-01-15T23:30Z", 120, 118)]},
    )
    api = CarbonIntensityAPI(client, now=Clock("2018-02-01T00:00Z"))
    [slot] = api.slots(at("2018-01-01T00:00Z"), at("2018-01-15T23:45Z"))
    assert slot.gco2_per_kwh == 118.0
    assert api.requests == len(httpx_mock.get_requests()) == 2


def test_concurrent_scrapes_share_one_fetch(client: httpx.Client, httpx_mock: HTTPXMock) -> None:
    clock = Clock("2018-01-21T00:00Z")
    httpx_mock.add_callback(slowly(fake_api(clock)), is_reusable=True)
    api = CarbonIntensityAPI(client, now=clock)
    window = (at("2018-01-20T12:00Z"), at("2018-01-20T13:00Z"))
    results: list[list[IntensitySlot]] = []
    threads = [threading.Thread(target=lambda: results.append(api.slots(*window))) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1] and len(results[0]) == 3
    assert api.requests == len(httpx_mock.get_requests()) == 1


def test_cached_does_not_wait_for_a_fetch_in_progress(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    clock = Clock("2018-01-21T00:00Z")
    answer = fake_api(clock)
    window = (at("2018-01-20T12:00Z"), at("2018-01-20T13:00Z"))
    during: list[list[IntensitySlot]] = []

    def respond(request: httpx.Request) -> httpx.Response:
        reader = threading.Thread(target=lambda: during.append(api.cached(*window)))
        reader.start()
        reader.join(timeout=2)
        return answer(request)

    httpx_mock.add_callback(respond)
    api = CarbonIntensityAPI(client, now=clock)
    assert len(api.slots(*window)) == 3
    assert during == [[]]  # answered at once, from the (still empty) cache


def test_naive_datetimes_are_refused(client: httpx.Client) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CarbonIntensityAPI(client).slots(datetime(2018, 1, 20), datetime(2018, 1, 21))


# --- FixedIntensity ---


def test_fixed_intensity_covers_the_range_with_actual_slots_and_no_requests() -> None:
    fixed = FixedIntensity(180)
    slots = fixed.slots(at("2018-01-20T12:10Z"), at("2018-01-20T13:00Z"))
    assert slots == [
        IntensitySlot(ts("2018-01-20T12:00Z"), ts("2018-01-20T12:30Z"), 180.0, True, ""),
        IntensitySlot(ts("2018-01-20T12:30Z"), ts("2018-01-20T13:00Z"), 180.0, True, ""),
        IntensitySlot(ts("2018-01-20T13:00Z"), ts("2018-01-20T13:30Z"), 180.0, True, ""),
    ]
    assert fixed.cached(at("2018-01-20T12:10Z"), at("2018-01-20T13:00Z")) == slots
    assert (fixed.requests, fixed.region) == (0, "GB")


def test_fixed_intensity_refuses_a_negative_or_non_finite_value() -> None:
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            FixedIntensity(bad)


# --- regions ---


def regional_url(start: str, end: str, kind: str = "regionid", code: str = "12") -> str:
    return f"{BASE}/regional/intensity/{start}/{end}/{kind}/{code}"


def test_region_id_asks_the_regional_endpoint_and_gets_forecasts(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=regional_url("2018-05-15T11:30Z", "2018-05-15T12:30Z"),
        json=golden("regional_south_england.json"),
    )
    api = CarbonIntensityAPI(
        client, now=Clock("2018-05-20T00:00Z"), region=Region("regionid", "12")
    )
    assert api.region == "South England"  # from the id table, before any request
    slots = api.slots(at("2018-05-15T11:30Z"), at("2018-05-15T12:15Z"))
    assert [(s.gco2_per_kwh, s.actual) for s in slots] == [(266.0, False), (258.0, False)]


def test_postcode_region_is_labelled_by_postcode_until_a_response_names_it(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    body = golden("regional_south_england.json")
    assert isinstance(body, dict)
    body["data"]["postcode"] = "OX11"
    httpx_mock.add_response(
        url=regional_url("2018-05-15T11:30Z", "2018-05-15T12:30Z", "postcode", "OX11"), json=body
    )
    api = CarbonIntensityAPI(
        client, now=Clock("2018-05-20T00:00Z"), region=Region("postcode", "OX11")
    )
    assert api.region == "OX11"
    api.slots(at("2018-05-15T11:30Z"), at("2018-05-15T12:15Z"))
    assert api.region == "South England"


def test_region_name_reads_the_shortname_of_either_shape() -> None:
    region = {"regionid": 12, "shortname": "South England", "data": []}
    assert region_name({"data": region}) == "South England"
    assert region_name({"data": [region]}) == "South England"
    assert region_name({"data": [{"regionid": 12}]}) is None
    assert region_name(golden("national_2018-01-20.json")) is None
    assert region_name({"data": {"shortname": "x" * 500}}) == "x" * 64


def test_ended_regional_slots_are_final_as_they_never_get_an_actual(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json=golden("regional_south_england.json"))
    clock = Clock("2018-05-16T00:00Z")
    api = CarbonIntensityAPI(client, now=clock, region=Region("regionid", "12"))
    window = (at("2018-05-15T11:30Z"), at("2018-05-15T12:15Z"))
    first = api.slots(*window)
    clock.now += 7 * 86400
    assert api.slots(*window) == first
    assert api.requests == 1


# --- the 48 h forecast ---


def forecast_body(first: str, values: list[float]) -> object:
    """A national fw48h answer: from ``first``, forecasts only."""
    start = at(first)
    return {"data": [entry(api_time(start + i * HALF_HOUR), v) for i, v in enumerate(values)]}


def test_forecast_asks_fw48h_from_the_half_hour_in_progress_once_per_half_hour(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    clock = Clock("2018-01-20T12:10Z")
    httpx_mock.add_response(
        url=f"{BASE}/intensity/2018-01-20T12:00Z/fw48h",
        json=forecast_body("2018-01-20T11:30Z", [300.0, *range(100, 198)]),  # 99 slots
    )
    httpx_mock.add_response(
        url=f"{BASE}/intensity/2018-01-20T12:30Z/fw48h",
        json=forecast_body("2018-01-20T12:30Z", [90.0] * 96),
    )
    api = CarbonIntensityAPI(client, now=clock)
    slots = api.forecast(at("2018-01-20T12:10Z"))
    # the slot that ended at `from` and those beyond 48 h are dropped
    assert len(slots) == 96 and slots[0].start == ts("2018-01-20T12:00Z")
    assert (slots[0].gco2_per_kwh, slots[-1].gco2_per_kwh) == (100.0, 195.0)
    assert not any(s.actual for s in slots)
    for minute in range(11, 30):
        clock.now = ts(f"2018-01-20T12:{minute}Z")
        assert api.forecast(at(f"2018-01-20T12:{minute}Z")) == slots
    assert api.requests == 1
    assert api.forecast(at("2018-01-20T12:30Z"))[0].gco2_per_kwh == 90.0
    assert api.requests == len(httpx_mock.get_requests()) == 2


def test_regional_forecast_asks_the_regional_fw48h_endpoint(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=regional_url("2018-05-15T12:00Z", "fw48h", "postcode", "OX11"),
        json=golden("regional_south_england.json"),
    )
    api = CarbonIntensityAPI(client, region=Region("postcode", "OX11"))
    [slot] = api.forecast(at("2018-05-15T12:05Z"))
    assert (slot.gco2_per_kwh, api.region) == (258.0, "South England")


def test_failed_forecast_raises_then_serves_the_last_one_trimmed_and_retries(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json=forecast_body("2018-01-20T12:00Z", [200.0] * 96))
    httpx_mock.add_response(status_code=500, json=golden("error_500.json"))
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"))
    api = CarbonIntensityAPI(client)
    api.forecast(at("2018-01-20T12:00Z"))
    later = at("2018-01-20T13:00Z")
    with pytest.raises(SourceError, match="HTTP 500"):
        api.forecast(later)
    with pytest.raises(SourceError, match="ReadTimeout"):
        api.forecast(later)  # a failure is not remembered: the next call asks again
    cached = api.cached_forecast(later)
    assert len(cached) == 94 and cached[0].start == ts("2018-01-20T13:00Z")
    assert api.requests == 3


def test_empty_forecast_is_held_for_the_half_hour(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"data": []})
    api = CarbonIntensityAPI(client)
    assert api.forecast(at("2018-01-20T12:00Z")) == []
    assert api.forecast(at("2018-01-20T12:20Z")) == []
    assert api.requests == 1


# --- a scrape: its window and its forecast in one request ---


def window_ending(text: str) -> tuple[datetime, datetime]:
    """The one-hour window ending at ``text``: (start, end)."""
    return at(text) - timedelta(hours=1), at(text)


@pytest.mark.parametrize("forecast_first", [False, True], ids=["window first", "forecast first"])
def test_a_window_ending_now_and_its_forecast_cost_one_request(
    forecast_first: bool, client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    clock = Clock("2018-01-20T12:10Z")
    httpx_mock.add_callback(fake_api(clock), is_reusable=True)
    api = CarbonIntensityAPI(client, now=clock)
    start, end = window_ending("2018-01-20T12:10Z")
    if forecast_first:
        forecast = api.forecast(end, window_start=start)
        window = api.slots(start, end)
    else:
        window = api.slots(start, end)
        forecast = api.forecast(end, window_start=start)
    [request] = httpx_mock.get_requests()
    assert str(request.url) == url("2018-01-20T11:00Z", "2018-01-22T12:00Z")
    assert [s.actual for s in window] == [True, True, False]
    assert len(forecast) == 96 and forecast[0].start == ts("2018-01-20T12:00Z")
    for minute in range(11, 30):  # the rest of the half hour: from the cache
        clock.now = ts(f"2018-01-20T12:{minute}Z")
        start, end = window_ending(f"2018-01-20T12:{minute}Z")
        assert (api.slots(start, end), api.forecast(end, start)) == (window, forecast)
    assert api.requests == 1


def test_a_scrapes_window_and_forecast_asked_side_by_side_share_one_request(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    clock = Clock("2018-01-20T12:10Z")
    httpx_mock.add_callback(slowly(fake_api(clock)), is_reusable=True)
    api = CarbonIntensityAPI(client, now=clock)
    start, end = window_ending("2018-01-20T12:10Z")
    got: dict[str, list[IntensitySlot]] = {}
    threads = [
        threading.Thread(target=lambda: got.update(window=api.slots(start, end))),
        threading.Thread(target=lambda: got.update(forecast=api.forecast(end, start))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(got["window"]), len(got["forecast"])) == (3, 96)
    assert api.requests == len(httpx_mock.get_requests()) == 1


def test_the_forecast_fetched_with_a_window_never_stands_in_for_a_later_windows_slot(
    client: httpx.Client, httpx_mock: HTTPXMock
) -> None:
    """At 13:05, with the API down, 13:00 is not in the window cache: it was only forecast."""
    clock = Clock("2018-01-20T12:10Z")
    httpx_mock.add_callback(fake_api(clock))
    httpx_mock.add_response(status_code=500, json=golden("error_500.json"))
    api = CarbonIntensityAPI(client, now=clock)
    start, end = window_ending("2018-01-20T12:10Z")
    api.slots(start, end)
    clock.now = ts("2018-01-20T13:05Z")
    start, end = window_ending("2018-01-20T13:05Z")
    with pytest.raises(SourceError, match="HTTP 500"):
        api.slots(start, end)
    assert [s.start for s in api.cached(start, end)] == [ts("2018-01-20T12:00Z")]
    assert api.cached_forecast(end)[0].start == ts("2018-01-20T13:00Z")  # the forecast still is


def test_fixed_intensity_has_no_forecast() -> None:
    fixed = FixedIntensity(180)
    assert (
        fixed.forecast(at("2018-01-20T12:00Z"))
        == fixed.cached_forecast(at("2018-01-20T12:00Z"))
        == []
    )
