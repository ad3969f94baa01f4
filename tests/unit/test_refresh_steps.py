"""The steps of the hosts that changed hands: asked for once the totals and the owners are in."""

import logging
from datetime import datetime, timezone

import pytest

from exporter.config import Config, IntensityConfig
from exporter.model import SourceError
from exporter.refresh import Refresh
from tests.stubs import StubIntensity, StubOwnership, StubUsage, steady_steps, usage, ws

END = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
T = END.timestamp()
A, B, C = "172.16.100.50", "172.16.100.51", "172.16.100.52"


def key(host):
    return (f"{host}:9100", "IDAaaS", "Muon")


def handed_over(host, at):
    return [
        ws(f"{host}-1", "alice", T - 86400, deleted=at, host=host),
        ws(f"{host}-2", "bob", at, host=host),
    ]


def engine(u, o):
    cfg = Config(carbon_intensity=IntensityConfig(default_gco2_per_kwh=150.0))
    return Refresh(cfg, u, o, StubIntensity())


def shares(snap):
    return {k: (round(v.busy_seconds, 6), round(v.idle_seconds, 6)) for k, v in snap.usage.items()}


def test_a_handover_is_split_by_the_steps_and_every_refresh_gives_the_same_result():
    # A's load doubles when bob takes it over: the split must follow the steps.
    steps = steady_steps(T, busy=1800.0)[:40] + steady_steps(T, busy=5400.0)[40:]
    u = StubUsage([usage(A, busy=sum(s.busy_seconds for s in steps)), usage(C)], {key(A): steps})
    o = StubOwnership([*handed_over(A, T - 1200), ws("c", "carol", T - 86400, host=C)])
    e = engine(u, o)
    try:
        first = e.snapshot(END)
        again = e.snapshot(END)
    finally:
        e.close()
    # Each refresh asks for the steps of the split host, once, after the totals.
    assert u.steps_asked == [[f"{A}:9100"]] * 2
    assert [s.sources["prometheus"].requests for s in (first, again)] == [2, 2]
    assert shares(again) == shares(first)
    bob = next(v for k, v in again.usage.items() if k[3] == "bob")
    assert bob.busy_seconds == pytest.approx(5400.0 / 3)


def test_each_refresh_asks_for_the_steps_of_exactly_the_hosts_split_in_its_window():
    """A and C are measured; A changed hands, then C too, then A's handover left the window."""
    steps = {key(A): steady_steps(T), key(C): steady_steps(T)}
    u = StubUsage([usage(A), usage(C)], steps)
    carol = ws("c", "carol", T - 86400, host=C)
    o = StubOwnership([*handed_over(A, T - 1200), carol])
    e = engine(u, o)
    try:
        only_a = e.snapshot(END)
        o.workspaces_ = [*handed_over(A, T - 1200), *handed_over(C, T - 600)]
        both = e.snapshot(END)
        o.workspaces_ = [ws("a", "alice", T - 86400, host=A), *handed_over(C, T - 600)]
        only_c = e.snapshot(END)
    finally:
        e.close()
    assert u.steps_asked == [[f"{A}:9100"], [f"{A}:9100", f"{C}:9100"], [f"{C}:9100"]]
    assert [s.split_hosts for s in (only_a, both, only_c)] == [1, 2, 1]
    # One request for the totals and one for the steps, whatever the number of split hosts.
    assert [s.sources["prometheus"].requests for s in (only_a, both, only_c)] == [2, 2, 2]
    alice = sum(v.busy_seconds for k, v in only_c.usage.items() if k[3] == "alice")
    # all of A's window and C's first 50 minutes
    assert alice == pytest.approx(3600.0 + 3600.0 * 3000 / 3600)
    bob = sum(v.busy_seconds for k, v in both.usage.items() if k[3] == "bob")
    assert bob == pytest.approx(3600.0 * (1200 + 600) / 3600)


def test_a_failed_steps_call_leaves_the_totals_split_by_tenure_and_says_so(caplog):
    """A steps request refused (VictoriaMetrics' 422 for a query too long) or failed: the
    window totals still stand, the host is split by how long each owner held it, and the
    log and ada_carbon_split_hosts_without_steps say so."""
    # A's load doubles when bob takes it over: the steps give bob half, durations a third.
    steps = steady_steps(T, busy=1800.0)[:40] + steady_steps(T, busy=5400.0)[40:]
    u = StubUsage([usage(A, busy=3600.0), usage(C)], {key(A): steps})
    o = StubOwnership([*handed_over(A, T - 1200), ws("c", "carol", T - 86400, host=C)])
    e = engine(u, o)
    caplog.set_level(logging.INFO, logger="exporter.health")
    try:
        good = e.snapshot(END)
        u.fail_steps = True
        failed = [e.snapshot(END) for _ in range(2)]
        u.fail_steps = False
        back = e.snapshot(END)
    finally:
        e.close()
    assert len(u.steps_asked) == 4
    for snap, unstepped in ((good, 0), (failed[0], 1), (failed[1], 1), (back, 0)):
        assert snap.sources["prometheus"].up and snap.usage is not None
        assert (snap.split_hosts, snap.split_hosts_without_steps) == (1, unstepped)
        total = sum(v.busy_seconds for v in snap.usage.values())
        assert total == pytest.approx(2 * 3600.0)  # conserved either way

    def bob(snap):
        return sum(v.busy_seconds for k, v in snap.usage.items() if k[3] == "bob")

    assert bob(good) == pytest.approx(3600.0 * 1200 * 3 / (2400 + 1200 * 3))
    assert bob(failed[0]) == pytest.approx(3600.0 / 3)
    lines = [r.getMessage() for r in caplog.records if r.name == "exporter.health"]
    assert lines == [
        "source prometheus steps is down: prometheus is down",
        "source prometheus steps recovered",
    ]


def test_failing_totals_ask_for_no_steps_and_log_one_line_per_episode(caplog):
    """Without the totals the steps are not needed, and not asked for; only a refresh
    with Prometheus up ends the episode."""

    class FlakyTotals(StubUsage):
        fails = False

        def window_usage(self, end, window_seconds):
            if self.fails:
                self.requests += 1
                raise SourceError("HTTP 422: query timed out")
            return super().window_usage(end, window_seconds)

    u = FlakyTotals([usage(A)], {key(A): steady_steps(T)})
    e = engine(u, StubOwnership(handed_over(A, T - 1200)))
    caplog.set_level(logging.INFO, logger="exporter.health")
    try:
        e.snapshot(END)
        u.fails = True
        down = [e.snapshot(END) for _ in range(3)]
        u.fails = False
        back = e.snapshot(END)
    finally:
        e.close()
    assert len(u.steps_asked) == 2  # the two refreshes with the totals
    assert all(not s.sources["prometheus"].up and s.usage is None for s in down)
    assert all(s.sources["mongodb"].up and s.sources["prometheus"].requests == 1 for s in down)
    assert back.sources["prometheus"].up and back.usage is not None
    assert {k[3] for k in back.usage} == {"alice", "bob"}
    lines = [r.getMessage() for r in caplog.records if r.name == "exporter.health"]
    assert lines == [
        "source prometheus is down: HTTP 422: query timed out",
        "source prometheus recovered",
    ]


def test_a_source_cut_off_by_the_budget_reports_how_long_it_was_waited_for():
    cfg = Config(scrape_budget_seconds=0.5, carbon_intensity=IntensityConfig(source="fixed"))
    e = Refresh(cfg, StubUsage([usage(A)], delay=2.0), StubOwnership(), StubIntensity())
    try:
        snap = e.snapshot(END)
    finally:
        e.close()
    assert not snap.sources["prometheus"].up
    assert snap.sources["prometheus"].duration_seconds >= 0.45


def test_workspace_info_is_absent_while_prometheus_is_down_not_groupless():
    """Each workspace's group comes from Prometheus: without it, no series rather than
    series with empty groups that change identity for the length of the outage."""
    o = StubOwnership([ws("c", "carol", T - 86400, host=C)])
    e = engine(StubUsage([usage(C)], fail=True), o)
    try:
        down = e.snapshot(END)
    finally:
        e.close()
    e = engine(StubUsage([usage(C)]), o)
    try:
        up = e.snapshot(END)
    finally:
        e.close()
    assert not down.sources["prometheus"].up and down.workspace_info == ()
    assert [(i.user, i.cloud_project_name, i.machine_name) for i in up.workspace_info] == [
        ("carol", "IDAaaS", "Muon")
    ]


def test_the_window_fetch_and_the_forecast_end_their_episodes_separately(caplog):
    """The grid intensity's window fetch recovers in the log when it is back, even while
    its forecast still fails (the README: they log separately)."""

    class Intensity(StubIntensity):
        window_fails = True
        forecast_fails = True

        def slots(self, start, end):
            if self.window_fails:
                raise SourceError("window: HTTP 500")
            return super().slots(start, end)

        def forecast(self, at, window_start=None):
            if self.forecast_fails:
                raise SourceError("forecast: HTTP 500")
            return super().forecast(at, window_start)

    intensity = Intensity()
    cfg = Config(carbon_intensity=IntensityConfig(default_gco2_per_kwh=150.0))
    e = Refresh(cfg, StubUsage([usage(C)]), StubOwnership(), intensity)
    caplog.set_level(logging.INFO, logger="exporter.health")

    def logged():
        lines = [r.getMessage() for r in caplog.records if r.name == "exporter.health"]
        caplog.clear()
        return sorted(lines)  # calls side by side log in either order

    try:
        e.snapshot(END)
        first = logged()
        intensity.window_fails = False
        half = e.snapshot(END)
        second = logged()
        intensity.forecast_fails = False
        e.snapshot(END)
        third = logged()
    finally:
        e.close()
    assert first == [
        "source carbon_intensity forecast is down: forecast: HTTP 500",
        "source carbon_intensity is down: window: HTTP 500",
    ]
    assert not half.sources["carbon_intensity"].up  # the forecast still failed
    assert second == ["source carbon_intensity recovered"]
    assert third == ["source carbon_intensity forecast recovered"]
