"""Reading the exporter's series back: the PromQL, the parsing, and Prometheus' failures."""

import httpx
import pytest

from exporter.commands.report.fetch import (
    PrometheusQueries,
    parse_scalar,
    parse_usage,
    usage_query,
    windows_query,
)
from exporter.model import SourceError, Usage
from exporter.pricing import PowerModel

H = 3600.0


def test_the_usage_query_sums_non_overlapping_windows_counting_each_replica_once():
    assert usage_query(4 * H, H) == (
        "sum by (family, cloud_project_name, machine_name, facility, user, mode) ("
        "sum_over_time((max without (instance, job) ("
        'label_replace({__name__=~"ada_carbon_(cpu_seconds|energy_joules|emissions_grams|'
        'embodied_grams)"}, '
        '"family", "$1", "__name__", "ada_carbon_(.+)")))[14399999ms:3600s]))'
    )


def test_ranges_stop_1ms_short_so_the_window_ending_at_the_start_is_not_counted():
    assert "[2678399999ms:3600s]" in usage_query(31 * 86400, H)
    assert windows_query(86400, 900) == (
        "count_over_time((max(ada_carbon_cpu_seconds))[86399999ms:900s])"
    )


def series(family, mode, value, user="alice"):
    labels = {"cloud_project_name": "IDAaaS", "machine_name": "Muon", "facility": "ISIS"}
    return {"metric": {**labels, "user": user, "family": family, "mode": mode}, "value": [0, value]}


def test_parse_usage_gathers_the_numbers_of_each_group_embodied_grams_without_a_mode():
    embodied = series("embodied_grams", "", "2.68")
    del embodied["metric"]["mode"]
    result = [
        series("cpu_seconds", "busy", "3600"),
        series("cpu_seconds", "idle", "7200"),
        series("energy_joules", "busy", "43200"),
        series("energy_joules", "idle", "7200"),
        series("emissions_grams", "busy", "2.22"),
        series("emissions_grams", "idle", "0.37"),
        embodied,
        series("cpu_seconds", "busy", "10", user="bob"),
        series("cpu_seconds", "steal", "99"),  # not a mode the exporter serves
        series("cpu_seconds", "busy", "NaN", user="carol"),
        {"metric": None, "value": [0, "1"]},
        "garbage",
    ]
    assert parse_usage(result) == {
        ("IDAaaS", "Muon", "ISIS", "alice"): Usage(3600, 7200, 43200, 7200, 2.22, 0.37, 2.68),
        ("IDAaaS", "Muon", "ISIS", "bob"): Usage(busy_seconds=10),
    }
    assert parse_usage(None) == {}


def test_parse_scalar_is_none_for_an_empty_vector():
    assert parse_scalar([{"metric": {}, "value": [0, "3600"]}]) == 3600
    assert parse_scalar([]) is None


def reader(handler):
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return PrometheusQueries(client, "http://user:secret@prom:9090/", 5.0)


def answer(result):
    return httpx.Response(200, json={"status": "success", "data": {"result": result}})


def test_queries_are_posted_at_the_periods_end():
    seen = []

    def handler(request):
        seen.append(request)
        return answer([{"metric": {}, "value": [0, "3600"]}])

    r = reader(handler)
    assert r.window_seconds(0, 4 * H) == (3600, 3600)
    assert r.windows_present(0, 4 * H, H) == 3600
    assert [q.url.path for q in seen] == ["/api/v1/query"] * 3
    form = dict(httpx.QueryParams(seen[0].content.decode()))
    assert form == {
        "query": "min(min_over_time(ada_carbon_window_seconds[14400s]))",
        "time": "14400.000",
    }
    assert r.requests == 3


def test_no_window_series_means_the_exporters_series_are_absent():
    assert reader(lambda request: answer([])).window_seconds(0, H) is None


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.ConnectError("refused"), "cannot reach Prometheus at http://user:***@prom:9090"),
        (
            httpx.Response(400, json={"status": "error", "error": "parse error\nat char 3"}),
            "refused a query: parse error",
        ),
        (httpx.Response(502, text="<html>bad gateway</html>"), "answered HTTP 502"),
        (
            httpx.Response(200, json={"status": "success", "warnings": ["store down"], "data": {}}),
            "partial answer from Prometheus at http://user:***@prom:9090",
        ),
    ],
)
def test_failures_are_one_source_error_with_the_password_masked(response, message):
    def handler(request):
        if isinstance(response, Exception):
            raise response
        return response

    with pytest.raises(SourceError, match=message.replace("*", r"\*")) as caught:
        reader(handler).usage(0, H, H)
    assert "secret" not in str(caught.value) and "\n" not in str(caught.value)


def test_the_method_reads_each_model_and_the_windows_of_each_intensity_source():
    seen = []

    def handler(request):
        query = dict(httpx.QueryParams(request.content.decode()))["query"]
        seen.append(query)
        if "power_model_info" in query:
            return answer(
                [
                    {"metric": {**MODEL, "machine_name": "Muon"}, "value": [0, "1"]},
                    {"metric": {**MODEL, "machine_name": "SANS", "pue": "1.2"}, "value": [0, "1"]},
                    {"metric": {**MODEL, "machine_name": "X", "pue": "NaN"}, "value": [0, "1"]},
                    {"metric": {"machine_name": "no model"}, "value": [0, "1"]},
                ]
            )
        return answer(
            [
                {"metric": {"region": "GB", "source": "api"}, "value": [0, "3"]},
                {"metric": {"region": "GB", "source": "cache"}, "value": [0, "1"]},
                {"metric": {"region": "GB", "source": "default"}, "value": [0, "0"]},
            ]
        )

    method = reader(handler).method(0, 4 * H, H)
    assert seen == [
        "count by (machine_name, busy_watts_per_core, idle_watts_per_core, pue) "
        "(max_over_time(ada_carbon_power_model_info[14399999ms:3600s]))",
        "sum by (region, source) (sum_over_time((max without (instance, job) "
        "(ada_carbon_grid_intensity_source))[14399999ms:3600s]))",
    ]
    assert method.power == (("Muon", PowerModel(12, 1, 1)), ("SANS", PowerModel(12, 1, 1.2)))
    assert method.intensity == (
        "region GB: the Carbon Intensity API (NESO) for 3 windows; "
        "the Carbon Intensity API (NESO), cached for 1 window"
    )


MODEL = {"busy_watts_per_core": "12", "idle_watts_per_core": "1", "pue": "1"}
