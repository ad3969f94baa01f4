"""The simulated fleet behind ``--demo``: big enough, busy, moving, consistent and reproducible."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import pairwise

import pytest

from exporter.attribution.hosts import host_key
from exporter.attribution.timelines import owned_from, owner_of
from exporter.config import Config, with_demo
from exporter.config.settings import IntensityConfig
from exporter.demo import DemoFleet, DemoIntensity, DemoOwnership, DemoUsage
from exporter.grid import IntensityState, slot_starts
from exporter.model import Workspace
from exporter.sources.build import build_refresh

T = datetime(2025, 6, 10, 14, 7, 13, tzinfo=timezone.utc)  # a Tuesday afternoon, off the minute
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _handover_hosts(workspaces: tuple[Workspace, ...], start: float, end: float) -> set[str]:
    """Hosts where an owner's tenure starts or ends strictly inside (start, end)."""
    hosts = set()
    for ws in workspaces:
        if owner_of(ws) is None:
            continue
        if start < owned_from(ws) < end or (ws.deleted is not None and start < ws.deleted < end):
            hosts.add(ws.host)
    return hosts


def test_fleet_has_four_facilities_ten_machine_types_and_sixty_hosts() -> None:
    fleet = DemoFleet()
    assert {h.project for h in fleet.hosts} == {"IDAaaS", "CDAaaS", "DDAaaS", "TDAaaS"}
    assert {h.tag for h in fleet.hosts} == {"ISIS", "CLF", "DEV", "TRAINING"}
    assert len({h.machine for h in fleet.hosts}) >= 10
    assert {"Muon", "SANS", "Tomography", "Artemis (Matlab)"} <= {h.machine for h in fleet.hosts}
    assert len({h.ip for h in fleet.hosts}) == len(fleet.hosts) >= 60
    assert all(h.ip.startswith("172.16.") and h.instance == f"{h.ip}:9100" for h in fleet.hosts)
    assert all(2 <= h.cores <= 16 for h in fleet.hosts)
    assert len(fleet.users) >= 25
    assert all(len(u.platform_name) == 8 and u.platform_name[2:].isdigit() for u in fleet.users)


def test_a_day_has_at_least_fifty_workspaces_and_twenty_owners() -> None:
    batch = DemoOwnership(DemoFleet()).workspaces(T - DAY, T)
    assert len(batch.workspaces) >= 50
    assert len({ws.owner for ws in batch.workspaces if ws.owner}) >= 20
    assert len({ws.workspace_id for ws in batch.workspaces}) == len(batch.workspaces)
    assert {"READY", "CLAIMED", "DELETED"} <= {ws.state for ws in batch.workspaces}


def test_most_one_hour_windows_contain_a_handover() -> None:
    ownership = DemoOwnership(DemoFleet())
    ends = [T + timedelta(minutes=37 * k) for k in range(100)]  # spread over ~2.5 days
    with_handover = 0
    for end in ends:
        batch = ownership.workspaces(end - HOUR, end)
        if _handover_hosts(batch.workspaces, (end - HOUR).timestamp(), end.timestamp()):
            with_handover += 1
    assert with_handover >= 0.8 * len(ends)


def test_usage_moves_between_windows_ending_a_minute_apart() -> None:
    usage = DemoUsage(DemoFleet())
    before = {u.instance: u.busy_seconds for u in usage.window_usage(T, 3600)}
    after = {u.instance: u.busy_seconds for u in usage.window_usage(T + timedelta(minutes=1), 3600)}
    moved = [i for i in before if before[i] != pytest.approx(after[i])]
    assert len(moved) >= len(before) // 2


def test_window_usage_covers_every_core_second_of_every_host() -> None:
    fleet = DemoFleet()
    usage = DemoUsage(fleet).window_usage(T, 3600)
    assert [u.instance for u in usage] == [h.instance for h in fleet.hosts]
    for u, host in zip(usage, fleet.hosts, strict=True):
        assert u.busy_seconds >= 0 and u.idle_seconds >= 0
        assert u.busy_seconds + u.idle_seconds == pytest.approx(host.cores * 3600)
        assert u.group == (host.project, host.machine)


@pytest.mark.parametrize("step_seconds", [60.0, 300.0, 45.0, 7.0, 3600.0])
def test_usage_steps_sum_to_window_usage_per_host(step_seconds: float) -> None:
    usage = DemoUsage(DemoFleet())
    totals = usage.window_usage(T, 3600)
    steps = usage.usage_steps([u.instance for u in totals], T, 3600, step_seconds)
    assert len(steps) == len(totals)
    for total in totals:
        series = steps[total.instance, total.cloud_project_name, total.machine_name]
        assert series[0].start == pytest.approx(T.timestamp() - 3600)
        assert series[-1].end == T.timestamp()
        assert all(a.end == b.start for a, b in pairwise(series))
        assert sum(s.busy_seconds for s in series) == pytest.approx(total.busy_seconds, rel=1e-9)
        assert sum(s.idle_seconds for s in series) == pytest.approx(total.idle_seconds, rel=1e-9)


def test_usage_steps_leave_out_unknown_instances_and_count_requests() -> None:
    fleet = DemoFleet()
    usage = DemoUsage(fleet)
    known = fleet.hosts[0].instance
    steps = usage.usage_steps([known, "10.0.0.1:9100"], T, 600, 60)
    assert list(steps) == [(known, fleet.hosts[0].project, fleet.hosts[0].machine)]
    usage.window_usage(T, 600)
    assert usage.requests == 2


def test_same_seed_and_time_give_the_same_output() -> None:
    one, two = DemoFleet(seed=7), DemoFleet(seed=7)
    assert DemoUsage(one).window_usage(T, 3600) == DemoUsage(two).window_usage(T, 3600)
    assert DemoOwnership(one).workspaces(T - DAY, T) == DemoOwnership(two).workspaces(T - DAY, T)
    assert DemoIntensity(seed=7).slots(T - DAY, T) == DemoIntensity(seed=7).slots(T - DAY, T)


def test_different_seeds_give_different_fleets() -> None:
    one, two = DemoFleet(seed=1), DemoFleet(seed=2)
    assert [h.ip for h in one.hosts] != [h.ip for h in two.hosts]
    assert DemoUsage(one).window_usage(T, 3600) != DemoUsage(two).window_usage(T, 3600)


def test_every_workspace_host_is_reported_with_a_matching_instance_label() -> None:
    fleet = DemoFleet()
    reported = {u.instance.rsplit(":", 1)[0]: u for u in DemoUsage(fleet).window_usage(T, 3600)}
    assert all(u.host == ip for ip, u in reported.items())
    batch = DemoOwnership(fleet).workspaces(T - DAY, T)
    for ws in batch.workspaces:
        assert ws.host in reported
        assert host_key(ws.hostname) == ws.host  # the real normaliser agrees with the demo
    assert any(ws.hostname.startswith("host-172-16-") for ws in batch.workspaces)


def test_a_host_is_idle_without_a_workspace_and_nearly_idle_while_in_the_pool() -> None:
    fleet = DemoFleet()
    usage = DemoUsage(fleet)
    host = fleet.hosts[0]
    tenures = fleet.tenures(host, T.timestamp() - 86400, T.timestamp())
    gap_start, gap_end = tenures[0].deleted, tenures[1].created
    gap = usage.window_usage(datetime.fromtimestamp(gap_end, timezone.utc), gap_end - gap_start)
    assert gap[0].busy_seconds == 0 and gap[0].idle_seconds == host.cores * (gap_end - gap_start)
    pool = next(t for t in tenures if t.owner is None or t.acquired is not None)
    ready_until = pool.deleted if pool.acquired is None else pool.acquired
    ready = usage.window_usage(datetime.fromtimestamp(ready_until, timezone.utc), 600)
    assert ready[0].busy_seconds < 0.05 * host.cores * 600


def test_workspace_records_are_consistent_as_stored_at_the_window_end() -> None:
    now = T.timestamp()
    for ws in DemoOwnership(DemoFleet()).workspaces(T - DAY, T).workspaces:
        assert ws.created <= now and (ws.deleted is None or ws.deleted > now - 86400)
        assert (ws.state == "DELETED") == (ws.deleted is not None and ws.deleted <= now)
        assert ws.state != "READY" or ws.owner is None
        assert ws.state != "CLAIMED" or ws.owner is not None
        assert ws.acquired is None or ws.created < ws.acquired <= now
        assert ws.tag in {"ISIS", "CLF", "DEV", "TRAINING"}


def test_intensity_slots_are_contiguous_half_hours_within_a_plausible_range() -> None:
    start, end = T - 7 * DAY, T
    slots = DemoIntensity().slots(start, end)
    assert slots[0].start <= start.timestamp() < slots[0].end
    assert slots[-1].start < end.timestamp() <= slots[-1].end
    assert all(s.start % 1800 == 0 and s.end - s.start == 1800 for s in slots)
    assert all(a.end == b.start for a, b in pairwise(slots))
    assert all(50 <= s.gco2_per_kwh <= 400 for s in slots)
    values = [s.gco2_per_kwh for s in slots]
    assert max(values) - min(values) > 80  # a daily curve, not a constant
    bands = {"very low": (0, 50), "low": (50, 100), "moderate": (100, 200), "high": (200, 300)}
    for s in slots:
        low, high = bands.get(s.index, (300, float("inf")))
        assert low <= s.gco2_per_kwh < high


def test_intensity_slots_are_actual_only_once_they_have_ended() -> None:
    intensity = DemoIntensity(clock=lambda: T.timestamp())
    slots = intensity.slots(T - HOUR, T + HOUR)
    assert [s.actual for s in slots] == [s.end <= T.timestamp() for s in slots]
    assert any(s.actual for s in slots) and not all(s.actual for s in slots)
    assert intensity.cached(T - HOUR, T + HOUR) == slots
    assert intensity.requests == 1  # a cache read is not an upstream request
    assert intensity.region == "GB"


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DemoUsage(DemoFleet()).window_usage(datetime(2025, 6, 10, 14, 0), 3600)


def test_the_current_intensity_at_a_half_hour_boundary_is_the_half_hour_starting_there() -> None:
    """As for the real adapter: a window ending at 12:00 is priced with the slot 12:00-12:30
    as its current intensity, not the half hour that just ended (one rule, ``slot_starts``)."""
    noon = datetime(2025, 6, 10, 12, 0, tzinfo=timezone.utc)
    demo = DemoIntensity(clock=lambda: noon.timestamp())
    slots = demo.slots(noon - HOUR, noon)
    assert [s.start for s in slots] == slot_starts(noon - HOUR, noon)
    starting, ended = demo.slots(noon, noon + HOUR)[0], slots[-2]
    assert (starting.start, ended.end) == (noon.timestamp(), noon.timestamp())
    assert starting.gco2_per_kwh != ended.gco2_per_kwh
    reading = IntensityState(IntensityConfig()).read(slots, demo, noon - HOUR, noon, up=True)
    assert reading.current == starting.gco2_per_kwh
    # The whole demo exporter, as a scrape at 12:00 serves it.
    engine = build_refresh(with_demo(Config()))
    try:
        snap = engine.snapshot(noon, with_forecast=False)
    finally:
        engine.close()
    assert snap.intensity.current == starting.gco2_per_kwh
