"""The Prometheus adapter: the queries it sends, and how it reads (or refuses) the answers."""

import logging
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import httpx
import pytest

from exporter.config import Config, PrometheusConfig, RecordingRulesConfig, load
from exporter.model import SourceError
from exporter.refresh import Refresh
from exporter.sources.carbon_intensity.fixed import FixedIntensity
from exporter.sources.prometheus.client import http_client
from exporter.sources.prometheus.parse import parse_vector, rule_evaluations, rule_steps
from exporter.sources.prometheus.queries import HEARTBEAT_LABEL
from exporter.sources.prometheus.usage import PrometheusUsage
from tests.harness.faulty_http import INSTANCE, FaultyPrometheus
from tests.stubs import StubOwnership, ws

URL = "http://prom.test:9090/prefix"
END = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
BUSY = ("user", "nice", "system", "irq", "softirq")
IDLE = ("idle", "iowait")


def source(**config):
    cfg = PrometheusConfig(url=URL, **config)
    return PrometheusUsage(httpx.Client(), cfg, BUSY, IDLE)


def series(instance, cls, value, project="IDAaaS", machine="Muon"):
    return {
        "metric": {
            "instance": instance,
            "cloud_project_name": project,
            "machine_name": machine,
            "class": cls,
        },
        "value": [END.timestamp(), str(value)],
    }


def vector(*items):
    return {"status": "success", "data": {"resultType": "vector", "result": list(items)}}


def form(request):
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def answer_by_class(*items, heartbeat=None):
    """A pytest-httpx callback: each class's query gets its series, the busy one the heartbeat."""

    def respond(request):
        query = form(request)["query"]
        cls = "busy" if '"class", "busy"' in query else "idle"
        mine = [i for i in items if i["metric"].get("class") == cls]
        if cls == "busy" and heartbeat is not None:
            marker = {HEARTBEAT_LABEL: "newest"}
            mine.append({"metric": marker, "value": [END.timestamp(), str(heartbeat)]})
        return httpx.Response(200, json=vector(*mine))

    return respond


def test_window_usage_is_two_posts_of_an_increase_over_the_window_one_per_class(httpx_mock):
    httpx_mock.add_callback(
        answer_by_class(
            series("172.16.100.50:9100", "busy", 120.5),
            series("172.16.100.50:9100", "idle", 3000),
        ),
        method="POST",
        url=URL + "/api/v1/query",
        is_reusable=True,
    )
    src = source()
    usage = src.window_usage(END, 3600)
    assert [(u.host, u.busy_seconds, u.idle_seconds) for u in usage] == [
        ("172.16.100.50", 120.5, 3000.0)
    ]
    sent = [form(r) for r in httpx_mock.get_requests()]
    (busy,) = [f["query"] for f in sent if '"class", "busy"' in f["query"]]
    (idle,) = [f["query"] for f in sent if '"class", "idle"' in f["query"]]
    # Summed per host, group, job and class first, labelled after: cheap for Prometheus.
    by = "instance, cloud_project_name, machine_name, job"
    assert busy == (
        f"label_replace(sum by ({by}) (increase("
        'node_cpu_seconds_total{mode=~"irq|nice|softirq|system|user"}[3600s])), '
        '"class", "busy", "", "")'
    )
    # The idle query also gives the jobs that scraped a host at one end of the window
    # only: 1 at its start, 2 at its end (see exporter.sources.prometheus.parse).
    # From the series of one idle mode: each CPU has every mode.
    idle_series = 'node_cpu_seconds_total{mode=~"idle|iowait"}'
    flag_series = 'node_cpu_seconds_total{mode=~"idle"}'
    assert idle == (
        f"label_replace(sum by ({by}) (increase({idle_series}[3600s])), "
        '"class", "idle", "", "") or '
        f"label_replace(sum by ({by}) (2 * group by ({by}) ({flag_series}) or "
        f"label_replace(group by ({by}) ({flag_series} offset 3600s), "
        '"at", "start", "", "")) != 3, "class", "scraped", "", "")'
    )
    assert all(float(f["time"]) == END.timestamp() for f in sent)
    assert src.requests == 2


def test_the_refresh_has_the_two_class_queries_in_flight_together(httpx_mock):
    """Prometheus evaluates each query on one core: the idle one must not wait for the busy one."""
    both_in = threading.Barrier(2, timeout=5)

    answer = answer_by_class(series("h:9100", "busy", 2), series("h:9100", "idle", 3))

    def respond(request):
        both_in.wait()  # breaks (and the test fails) if the second query never comes
        return answer(request)

    httpx_mock.add_callback(respond, url=URL + "/api/v1/query", is_reusable=True)
    engine = Refresh(Config(), source(), StubOwnership(), FixedIntensity(200))
    try:
        snap = engine.snapshot(END)
    finally:
        engine.close()
    assert snap.sources["prometheus"].up and snap.sources["prometheus"].requests == 2
    assert [(u.busy_seconds, u.idle_seconds) for u in snap.usage.values()] == [(2.0, 3.0)]


def test_a_failed_class_query_fails_the_window(httpx_mock):
    def respond(request):
        if '"class", "idle"' in form(request)["query"]:
            return httpx.Response(503, text="overloaded")
        return httpx.Response(200, json=vector(series("h:9100", "busy", 1)))

    httpx_mock.add_callback(respond, url=URL + "/api/v1/query", is_reusable=True)
    with pytest.raises(SourceError, match="HTTP 503"):
        source().window_usage(END, 3600)


def test_extra_headers_and_matchers_reach_prometheus(httpx_mock):
    httpx_mock.add_response(json=vector(), is_reusable=True)
    cfg = PrometheusConfig(url=URL, matchers={"job": "node"})
    client = httpx.Client(headers={"X-Scope-OrgID": "ada"})
    PrometheusUsage(client, cfg, BUSY, IDLE).window_usage(END, 600)
    request = httpx_mock.get_requests()[0]
    assert request.headers["X-Scope-OrgID"] == "ada"
    assert 'job="node"' in form(request)["query"]


def test_headers_from_the_config_file_reach_prometheus_on_every_request(tmp_path):
    """prometheus.headers (a Mimir tenant, say) go over the wire with the window totals,
    the handover steps and the look at the handover, asked late and early, from the client
    built from the config."""
    t = END.timestamp()
    host = INSTANCE.rsplit(":", 1)[0]
    owners = StubOwnership(
        [ws("a", "alice", t - 86400, t - 1200, host), ws("b", "bob", t - 1200, None, host)]
    )
    with FaultyPrometheus() as prom:
        path = tmp_path / "exporter.yaml"
        path.write_text(
            f"prometheus:\n  url: {prom.url}\n"
            "  headers:\n    X-Scope-OrgID: team-a\n    X-Request-Source: ada-carbon\n"
        )
        config = load(path, env={})
        modes = config.modes
        usage = PrometheusUsage(
            http_client(config.prometheus), config.prometheus, modes.busy, modes.idle
        )
        engine = Refresh(config, usage, owners, FixedIntensity(200))
        try:
            # The first refresh asks for the split host's steps once MongoDB has answered,
            # the second beside the totals.
            for _ in range(2):
                snap = engine.snapshot(END)
                assert snap.sources["prometheus"].up and snap.split_hosts == 1
        finally:
            engine.close()
    # Per refresh: the steps and the look at the handover.
    assert prom.requests == {"/api/v1/query": 4, "/api/v1/query_range": 4}
    for _, headers in prom.received:
        assert headers["x-scope-orgid"] == "team-a"
        assert headers["x-request-source"] == "ada-carbon"


def answer_range_query(httpx_mock, series):
    """Answer the steps' range query with these (labels, values) series."""
    result = [{"metric": m, "values": v} for m, v in series]
    httpx_mock.add_response(
        url=URL + "/api/v1/query_range",
        json={"status": "success", "data": {"resultType": "matrix", "result": result}},
    )


def test_usage_steps_query_matches_exactly_the_given_instances(httpx_mock):
    answer_range_query(httpx_mock, [])
    source().usage_steps([".*", "172.16.0.1:9100"], END, 3600, 60)
    sent = form(httpx_mock.get_requests()[0])
    assert 'instance=~"172\\\\.16\\\\.0\\\\.1:9100|\\\\.\\\\*"' in sent["query"]
    # each series' rate over two steps, before the sum, so a reset stays in its series;
    # a host seen by several jobs counts once at every step: the largest job
    assert (
        "max by (instance, cloud_project_name, machine_name) ("
        "sum by (instance, cloud_project_name, machine_name, job) (rate("
    ) in sent["query"]
    assert "[120000ms]" in sent["query"]
    assert sent["step"] == "60"
    # the last rate at the window's end; the first one's tile [t - 90, t - 30] reaches its start
    assert float(sent["end"]) == END.timestamp()
    assert END.timestamp() - 3600 - 60 < float(sent["start"]) - 90 <= END.timestamp() - 3600


def test_usage_steps_keep_the_rate_at_an_end_prometheus_got_rounded_to_the_millisecond(
    httpx_mock,
):
    """A live scrape's end has microseconds; Prometheus evaluates at the millisecond sent,
    which may be later: that last rate is still the window's end."""
    end = END + timedelta(microseconds=600)
    t = round(end.timestamp(), 3)  # 0.6 ms rounds up
    metric = {"instance": "h:9100", "cloud_project_name": "P", "machine_name": "M"}
    answer_range_query(httpx_mock, [({**metric, "class": "busy"}, [[t - 60, "1"], [t, "2"]])])
    (steps,) = source().usage_steps(["h:9100"], end, 3600, 60).values()
    assert float(form(httpx_mock.get_requests()[0])["end"]) == t > end.timestamp()
    assert [s.busy_seconds for s in steps] == [60.0, 2 * 90.0]


def test_usage_steps_cover_the_window_when_the_step_does_not_divide_it(httpx_mock):
    answer_range_query(httpx_mock, [])
    source().usage_steps(["172.16.0.1:9100"], END, 3600, 420)
    sent = form(httpx_mock.get_requests()[0])
    first_tile_start = float(sent["start"]) - (840 + 420) / 2
    assert float(sent["end"]) == END.timestamp()
    assert END.timestamp() - 3600 - 420 < first_tile_start <= END.timestamp() - 3600


def test_usage_steps_for_no_instances_sends_nothing(httpx_mock):
    assert source().usage_steps([], END, 3600, 60) == {}
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(503, text="<html>Service Unavailable</html>"), "HTTP 503"),
        (httpx.Response(200, text="not json"), "without a JSON body"),
        (
            httpx.Response(
                400, json={"status": "error", "errorType": "bad_data", "error": "parse error"}
            ),
            "bad_data: parse error",
        ),
        (
            httpx.Response(
                200, json={"status": "success", "warnings": ["store down"], "data": {"result": []}}
            ),
            "partial answer",
        ),
        (
            httpx.Response(
                200,
                json={
                    "status": "success",
                    "data": {"resultType": "matrix", "result": [{"metric": {}, "values": []}]},
                },
            ),
            "a matrix where a vector was due",  # not an empty fleet
        ),
    ],
)
def test_bad_answers_raise_source_error(httpx_mock, response, message):
    httpx_mock.add_response(
        status_code=response.status_code,
        content=response.content,
        headers=dict(response.headers),
        is_reusable=True,
    )
    with pytest.raises(SourceError, match=message):
        source().window_usage(END, 3600)


@pytest.mark.parametrize(
    "exception", [httpx.ReadTimeout("timed out"), httpx.ConnectError("refused")], ids=repr
)
def test_timeouts_and_refused_connections_raise_source_error(httpx_mock, exception):
    httpx_mock.add_exception(exception, is_reusable=True)
    with pytest.raises(SourceError, match=type(exception).__name__):
        source().window_usage(END, 3600)


def test_timeout_is_passed_on_each_request(httpx_mock):
    httpx_mock.add_response(json=vector(), is_reusable=True)
    source(timeout_seconds=2.5).window_usage(END, 3600)
    assert [r.extensions["timeout"]["read"] for r in httpx_mock.get_requests()] == [2.5, 2.5]


def test_parse_vector_ignores_nan_inf_negative_and_unlabelled_series():
    data = vector(
        series("a:9100", "busy", "NaN"),
        series("b:9100", "busy", "+Inf"),
        series("c:9100", "busy", -1),
        {"metric": {"class": "busy"}, "value": [0, "1"]},
        series("e:9100", ["busy"], 1),  # a class that is not a string: passed over
        series("f:9100", {"busy": 1}, 1),
        series("d:9100", "busy", 5),
        series("d:9100", "idle", 7),
        series("d:9100", "busy", 1),  # a duplicated series adds up
    )["data"]
    usage, unparsed = parse_vector(data)
    assert [(u.instance, u.busy_seconds, u.idle_seconds) for u in usage] == [("d:9100", 6.0, 7.0)]
    assert unparsed == 0


def test_parse_vector_keeps_unparseable_instances_and_counts_them():
    usage, unparsed = parse_vector(vector(series("not a host!", "idle", 9))["data"])
    assert usage[0].host == "not a host!"
    assert unparsed == 1


def test_usage_steps_turn_each_hosts_rates_into_tiles_by_class(httpx_mock):
    metric = {"instance": "h:9100", "cloud_project_name": "P", "machine_name": "M"}
    t = END.timestamp()
    series = [
        ({**metric, "class": "busy"}, [[t - 120, "1"], [t - 60, "2"], [t, "3"]]),
        # idle misses t - 60 and has a NaN: neither shifts its other tiles
        ({**metric, "class": "idle"}, [[t - 120, "0.5"], [t, "NaN"]]),
        # a second series of the same host, group and class adds up
        ({**metric, "class": "busy", "job": "other"}, [[t, "1"]]),
        ({**metric, "class": "steal"}, [[t, "9"]]),  # neither class: ignored
    ]
    answer_range_query(httpx_mock, series)
    (steps,) = source().usage_steps(["h:9100"], END, 3600, 60).values()
    # a rate over (t - 120, t] stands for [t - 90, t - 30]; the last tile reaches the end
    assert [tuple(s) for s in steps] == [
        (t - 210, t - 150, 60.0, 30.0),
        (t - 150, t - 90, 120.0, 0.0),
        (t - 90, t, 4 * 90.0, 0.0),
    ]


def test_usage_steps_with_a_sample_without_a_time_are_a_malformed_answer(httpx_mock):
    """A sample left out would leave a hole in the host's usage: the answer is refused."""
    metric = {"instance": "h:9100", "cloud_project_name": "P", "machine_name": "M"}
    t = END.timestamp()
    answer_range_query(httpx_mock, [({**metric, "class": "busy"}, [[t - 60, "1"], ["x", "1"]])])
    with pytest.raises(SourceError, match="malformed answer"):
        source().usage_steps(["h:9100"], END, 3600, 60)


# --- prometheus.source: recording_rules ------------------------------------------------

BUSY_RULE = "instance:node_cpu_busy_seconds:rate2m"
IDLE_RULE = "instance:node_cpu_idle_seconds:rate2m"


def recorded_source(**config):
    return source(source="recording_rules", **config)


def test_recorded_window_total_sums_the_rule_samples_and_corrects_the_edges(httpx_mock):
    httpx_mock.add_callback(
        answer_by_class(
            series("172.16.100.50:9100", "busy", 720),
            series("h:9100", "idle", 60),
            heartbeat=END.timestamp() - 30,
        ),
        method="POST",
        url=URL + "/api/v1/query",
        is_reusable=True,
    )
    src = recorded_source(matchers={"job": "node"})
    usage = src.window_usage(END, 3600)
    assert [(u.instance, u.busy_seconds, u.idle_seconds) for u in usage] == [
        ("172.16.100.50:9100", 720.0, 0.0),
        ("h:9100", 0.0, 60.0),
    ]
    assert src.requests == 2
    sent = [form(r)["query"] for r in httpx_mock.get_requests()]
    (busy_query,) = [q for q in sent if '"class", "busy"' in q]
    (idle_query,) = [q for q in sent if '"class", "idle"' in q]
    # The newest evaluation's time, from the one-series heartbeat rule.
    newest = "max(timestamp(ada_carbon:rules:heartbeat))"
    for cls, rule, query in (("busy", BUSY_RULE, busy_query), ("idle", IDLE_RULE, idle_query)):
        rate = f'{rule}{{job="node"}}'
        # A closed Prometheus 2 range of window - 1 ms holds the samples of (end - 1h, end].
        # The end edge: each host's last rate (if it has one in the last 2 intervals)
        # times g = (range - interval)/2 + (end - newest evaluation). The start edge:
        # the rate of the first evaluation in the window times h, minus the part of its
        # tile before the window; the lattice of evaluations places it.
        # The edges' one-element weights (in intervals) bring the label that keeps
        # them apart for "or"; one last operation multiplies by I and adds the class.
        labelled = (
            "clamp_min(sum by (instance, cloud_project_name, machine_name) ("
            f"sum_over_time({rate}[3599999ms]) or "
            f"last_over_time({rate}[119999ms]) * on() group_left(part) "
            f'label_replace((30 + time() - {newest}) / 60, "part", "end", "", "") or '
            f"last_over_time({rate}[59999ms] offset 3540000ms) * on() group_left(part) "
            f"label_replace((({newest} - time() + 3599.999) % 60 + 0.001 - 90) / 60, "
            '"part", "start", "", "")), 0) * on() group_left(class) '
            f'label_replace(vector(60), "class", "{cls}", "", "")'
        )
        if cls == "busy":  # the heartbeat answers too, so that its absence shows
            labelled += f' or label_replace({newest}, "{HEARTBEAT_LABEL}", "newest", "", "")'
            # and the evaluations in the window, with the time from its start to the
            # newest, to check they are one every interval
            count = "max(count_over_time(ada_carbon:rules:heartbeat[3599999ms]))"
            labelled += f' or label_replace({count}, "{HEARTBEAT_LABEL}", "evaluations", "", "")'
            span = f"({newest} - time() + 3600)"
            labelled += f' or label_replace({span}, "{HEARTBEAT_LABEL}", "span", "", "")'
        assert query == labelled
        assert "node_cpu_seconds_total" not in query


def test_a_missing_heartbeat_is_logged_once_and_its_return_too(httpx_mock, caplog):
    caplog.set_level(logging.INFO, logger="exporter.sources.prometheus")
    src = recorded_source()
    now = {"heartbeat": None}
    httpx_mock.add_callback(
        lambda request: answer_by_class(series("h:9100", "busy", 1), **now)(request),
        url=URL + "/api/v1/query",
        is_reusable=True,
    )
    for heartbeat in (END.timestamp(), None, None, END.timestamp(), END.timestamp()):
        now["heartbeat"] = heartbeat
        assert [u.busy_seconds for u in src.window_usage(END, 3600)] == [1.0]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "no sample of ada_carbon:rules:heartbeat in the last 5 minutes" in messages[0]
    assert "older than this exporter" in messages[0]
    assert "heartbeat is back" in messages[1]


def test_recorded_steps_are_one_instant_query_of_the_rule_samples(httpx_mock):
    matrix = {"status": "success", "data": {"resultType": "matrix", "result": []}}
    httpx_mock.add_response(method="POST", url=URL + "/api/v1/query", json=matrix)
    recorded_source().usage_steps(["172.16.0.1:9100"], END, 1800, 60)
    sent = form(httpx_mock.get_requests()[0])
    assert sent["query"] == (
        f'{{__name__=~"{BUSY_RULE}|{IDLE_RULE}", instance=~"172\\\\.16\\\\.0\\\\.1:9100"}}'
        "[1799999ms]"
    )
    assert float(sent["time"]) == END.timestamp()


def test_parse_steps_turns_samples_into_tiles_the_last_one_reaching_the_end():
    metric = {"instance": "h:9100", "cloud_project_name": "P", "machine_name": "M"}
    data = {
        "result": [
            {"metric": {**metric, "__name__": "busy_r"}, "values": [[60, "0.5"], [120, "1"]]},
            # The same host from a second job adds up; NaN is dropped.
            {"metric": {**metric, "__name__": "busy_r", "job": "x"}, "values": [[120, "0.25"]]},
            {"metric": {**metric, "__name__": "idle_r"}, "values": [[60, "2"], [120, "NaN"]]},
            {"metric": {**metric, "__name__": "other"}, "values": [[60, "9"]]},
            {"metric": {"__name__": "busy_r"}, "values": [[60, "9"]]},
        ]
    }
    rules = RecordingRulesConfig("busy_r", "idle_r", interval_seconds=60, range_seconds=120)
    steps = rule_steps(data["result"], rules, end=150)
    assert list(steps) == [("h:9100", "P", "M")]
    # A rate over [t - 120, t] stands for the minute in its middle, [t - 90, t - 30];
    # the last one stretches over the 60 s left before the end.
    assert [
        (s.start, s.end, s.busy_seconds, s.idle_seconds) for s in steps[("h:9100", "P", "M")]
    ] == [(-30.0, 30.0, 30.0, 120.0), (30.0, 150.0, 150.0, 0.0)]


def test_parse_steps_does_not_stretch_a_host_gone_before_the_end():
    metric = {"instance": "h:9100", "__name__": "busy_r"}
    data = {"result": [{"metric": metric, "values": [[60, "1"]]}]}
    rules = RecordingRulesConfig("busy_r", "idle_r", interval_seconds=60, range_seconds=120)
    (steps,) = rule_steps(data["result"], rules, end=600).values()
    assert [(s.start, s.end, s.busy_seconds) for s in steps] == [(-30.0, 30.0, 60.0)]


def test_parse_steps_reads_samples_out_of_order_or_repeated_as_a_sorted_series():
    """Prometheus answers each series in time order, once per time; an upstream may not."""
    metric = {"instance": "h:9100", "cloud_project_name": "P", "machine_name": "M"}

    def tiles(busy_values, idle_values):
        data = {
            "result": [
                {"metric": {**metric, "__name__": "busy_r"}, "values": busy_values},
                {"metric": {**metric, "__name__": "idle_r"}, "values": idle_values},
            ]
        }
        rules = RecordingRulesConfig("busy_r", "idle_r", interval_seconds=60, range_seconds=120)
        (steps,) = rule_steps(data["result"], rules, end=150).values()
        return [tuple(s) for s in steps]

    in_order = tiles([[60, "0.5"], [120, "1"]], [[60, "2"], [120, "3"]])
    assert tiles([[120, "1"], [60, "0.5"]], [[120, "3"], [60, "2"]]) == in_order
    # A repeated time adds up, as a second series of the host would; a sample later
    # than the end is dropped.
    assert tiles([[60, "0.25"], [60, "0.25"], [120, "1"]], [[60, "2"], [120, "3"], [999, "7"]]) == (
        in_order
    )


def test_parse_steps_extends_the_last_tiles_when_the_newest_evaluation_is_not_written_yet():
    """Evaluations every 60 s; the one due at 599 s is not in yet, so the newest is at 539 s.

    Host a has it: its tile [449, 509] is extended by g = 30 + (600 - 539) = 91 s to the
    end. Host b's last sample is one evaluation older, 121 s before the end: like the
    total query (which extends rates of the last 2 intervals), this takes b as gone.
    """
    rows = {"a": [[479, "1"], [539, "1"]], "b": [[419, "2"], [479, "2"]], "c": [[119, "1"]]}
    data = {
        "result": [
            {"metric": {"instance": host, "__name__": "busy_r"}, "values": values}
            for host, values in rows.items()
        ]
    }
    rules = RecordingRulesConfig("busy_r", "idle_r", interval_seconds=60, range_seconds=120)
    steps = {key[0]: s for key, s in rule_steps(data["result"], rules, end=600).items()}
    span = {host: [(s.start, s.end, s.busy_seconds) for s in out] for host, out in steps.items()}
    assert span["a"] == [(389.0, 449.0, 60.0), (449.0, 600.0, 151.0)]
    assert span["b"] == [(329.0, 389.0, 120.0), (389.0, 449.0, 120.0)]
    assert span["c"] == [(29.0, 89.0, 60.0)]


def test_steps_answered_with_a_vector_raise_source_error(httpx_mock):
    httpx_mock.add_response(url=URL + "/api/v1/query_range", json=vector())
    with pytest.raises(SourceError, match="a vector where a matrix was due"):
        source().usage_steps(["172.16.0.1:9100"], END, 3600, 60)


def heartbeat_rows(evaluations, span):
    return [
        {"metric": {HEARTBEAT_LABEL: "evaluations"}, "value": [END.timestamp(), str(evaluations)]},
        {"metric": {HEARTBEAT_LABEL: "span"}, "value": [END.timestamp(), str(span)]},
    ]


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (3590.0, 60),  # the newest evaluation 10 s before the end
        (3600.0, 60),  # the newest at the end itself: the one a window before is not in it
        (3599.999, 60),
        (3540.0, 59),  # the next one overdue: a window holds one fewer
        (3540.001, 60),
    ],
)
def test_the_rule_evaluations_a_window_holds_at_the_interval_are_counted_exactly(span, expected):
    assert rule_evaluations(heartbeat_rows(60, span), 60.0) == (60, expected)


def test_rules_evaluated_at_another_interval_refuse_the_window(httpx_mock):
    """Every 5 minutes where the config says 1: 12 evaluations where 60 are due."""
    rows = [series("h:9100", "busy", 720), *heartbeat_rows(12, 3590.0)]

    def respond(request):
        busy = '"class", "busy"' in form(request)["query"]
        return httpx.Response(200, json=vector(*(rows if busy else ())))

    httpx_mock.add_callback(respond, url=URL + "/api/v1/query", is_reusable=True)
    with pytest.raises(SourceError, match=r"evaluated 12 times .* \(60s\) makes 60"):
        recorded_source().window_usage(END, 3600)
    for seen, refused in ((58, True), (59, False), (60, False), (61, True)):
        rows[1:] = heartbeat_rows(seen, 3590.0)
        if refused:
            with pytest.raises(SourceError, match=f"evaluated {seen} times"):
                recorded_source().window_usage(END, 3600)
        else:
            assert [u.busy_seconds for u in recorded_source().window_usage(END, 3600)] == [720.0]
    rows[1:] = heartbeat_rows(12, 3590.0)
    src = recorded_source(recording_rules=RecordingRulesConfig(interval_seconds=300.0))
    assert [u.busy_seconds for u in src.window_usage(END, 3600)] == [720.0]
