"""Every query stays under VictoriaMetrics' length limit, in a constant number of requests,
whatever the number of hosts that change hands (issue 20, item 1)."""

import re
from datetime import datetime, timezone
from urllib.parse import parse_qs

import httpx
import pytest

from exporter.config import Config, PrometheusConfig
from exporter.refresh import Refresh
from exporter.sources.carbon_intensity.fixed import FixedIntensity
from exporter.sources.prometheus.usage import PrometheusUsage
from tests.stubs import StubOwnership, ws

END = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
T = END.timestamp()
BUSY = ("user", "nice", "system", "irq", "softirq")
IDLE = ("idle", "iowait")
MAX_QUERY_LEN = 16_384  # VictoriaMetrics' default -search.maxQueryLen: HTTP 422 beyond
# The stated bound on requests to Prometheus per scrape (docs/performance.md).
BOUND = {"raw": 18, "recording_rules": 10}
HOST_REGEX = re.compile(r'instance=~"((?:[^"\\]|\\.)*)"')


class VictoriaLike:
    """Answers as VictoriaMetrics would: 422 for a query over its limit; else each host named
    in a steps query gets rates, and every host its window totals."""

    def __init__(self, hosts, rules):
        self.hosts, self.rules = hosts, rules
        self.queries = []

    def __call__(self, request):
        f = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        q = f["query"]
        self.queries.append(q)
        if len(q.encode()) > MAX_QUERY_LEN:
            return httpx.Response(422, json={"status": "error", "error": "too long query"})
        if "ada_carbon_handover" in q:
            return _answer("matrix", [])
        named = set()
        for pattern in HOST_REGEX.findall(q):
            regex = re.compile(pattern.replace("\\\\", "\\"))
            named |= {h for h in self.hosts if regex.fullmatch(h)}
        if request.url.path.endswith("query_range"):
            times = [float(f["start"]) + 60 * k for k in range(60)]
            points = [[t, "1"] for t in times if t <= float(f["end"])]
            rows = [_row(h, {"class": c}, values=points) for h in named for c in ("busy", "idle")]
            return _answer("matrix", rows)
        if "__name__=~" in q:  # the rule samples of the hosts that changed hands
            points = [[T - 60 * k, "1"] for k in range(60)]
            rows = [_row(h, {"__name__": m}, values=points) for h in named for m in self.rules]
            return _answer("matrix", rows)
        cls = "busy" if '"class", "busy"' in q else "idle"
        return _answer("vector", [_row(h, {"class": cls}, value=[T, "3600"]) for h in self.hosts])


def _row(host, labels, **data):
    metric = {"instance": host, "cloud_project_name": "IDAaaS", "machine_name": "Muon", **labels}
    return {"metric": metric, **data}


def _answer(kind, result):
    return httpx.Response(
        200, json={"status": "success", "data": {"resultType": kind, "result": result}}
    )


def fleet(n):
    """n hosts, each handed over once, the handovers spread over the window's minutes."""
    ips = [f"172.16.{k // 250}.{k % 250}" for k in range(n)]
    owners = []
    for k, ip in enumerate(ips):
        at = T - 30 - (k * 3593 % 3540)
        owners += [
            ws(f"{k}a", "alice", T - 86400, deleted=at, host=ip),
            ws(f"{k}b", "bob", at, host=ip),
        ]
    return [f"{ip}:9100" for ip in ips], owners


def scrape(path, hosts, owners):
    cfg = Config(prometheus=PrometheusConfig(url="http://vm.test:8428", source=path))
    rules = cfg.prometheus.recording_rules
    upstream = VictoriaLike(hosts, (rules.busy_metric, rules.idle_metric))
    http = httpx.Client(transport=httpx.MockTransport(upstream))
    usage = PrometheusUsage(http, cfg.prometheus, BUSY, IDLE)
    engine = Refresh(cfg, usage, StubOwnership(owners), FixedIntensity(200))
    try:
        snap = engine.snapshot(END)
    finally:
        engine.close()
    assert max(len(q.encode()) for q in upstream.queries) <= 16_000
    assert snap.sources["prometheus"].up and snap.usage is not None
    assert len(upstream.queries) == snap.sources["prometheus"].requests <= BOUND[path]
    # All the window's usage is shared out, whether split by the steps or by tenure.
    assert sum(u.busy_seconds for u in snap.usage.values()) == pytest.approx(3600.0 * len(hosts))
    assert snap.split_hosts == len(hosts)
    return snap


@pytest.mark.parametrize("path", ["raw", "recording_rules"])
@pytest.mark.parametrize("split", [1_000, 5_000])
def test_every_query_stays_under_the_length_limit_in_a_constant_number_of_requests(
    path, split, caplog
):
    """1,000 hosts changing hands (the 10,000-host tier's tenth) all get their steps; of
    5,000, those beyond 8 steps requests on the raw counters are split by tenure, counted
    and logged, and the rest of the scrape is whole."""
    snap = scrape(path, *fleet(split))
    if split == 1_000 or path == "recording_rules":
        assert snap.split_hosts_without_steps == 0
    else:
        assert 0 < snap.split_hosts_without_steps < split
        assert "do not fit in 8 requests of 16000 bytes" in caplog.text


LOOK_CLAUSE = re.compile(r'instance=~"((?:[^"\\]|\\.)*)".*?"ada_carbon_handover", "(\d+)"')


def test_each_handover_is_looked_at_once_however_the_look_is_split():
    """A host handed over twice within a minute, named in two of the look's requests,
    would have both answers added: its minutes around the handover counted twice. Each
    (host, minute) is asked in one request only, and only for hosts that have steps."""
    from exporter.sources.prometheus import batches
    from exporter.sources.prometheus.usage import PrometheusUsage as Usage

    hosts = [f"host-{i:04d}.ada.example.ac.uk:9100" for i in range(600)]
    handovers = {
        h: [T - 3600 + (i % 55) * 60 + 5 + d for d in (0, 10)] for i, h in enumerate(hosts)
    }
    source = Usage(httpx.Client(), PrometheusConfig(url="http://prometheus.invalid"), BUSY, IDLE)
    seen: dict[tuple[str, str], int] = {}
    real_post, looks = source.client.post, []
    source.client.post = lambda path, form, *a, **k: looks.append(form["query"])  # type: ignore
    try:
        for fetch in source.steps_fetches(hosts, END, 3600.0, 60.0, handovers):
            fetch()
    finally:
        source.client.post = real_post
    look_queries = [q for q in looks if "ada_carbon_handover" in q]
    assert 1 < len(look_queries) <= batches.MAX_REQUESTS  # split, as the test needs
    for k, q in enumerate(look_queries):
        for names, centre in LOOK_CLAUSE.findall(q):
            for host in names.replace("\\\\", "\\").replace("\\.", ".").split("|"):
                assert seen.setdefault((host, centre), k) == k, (host, centre)
    assert len(seen) == len(hosts)  # every host once, at the one minute both handovers share
