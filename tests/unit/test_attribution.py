"""Attribution: each host's usage goes to whoever owned it at the time, and nothing is lost."""

import math
from collections import defaultdict
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.attribution import (
    Tenure,
    attribute,
    build_timelines,
)
from exporter.attribution.split import split_fractions
from exporter.model import UNATTRIBUTED, HostUsage, UsageStep, Workspace

H = 3600.0  # the window is [0, H)
HOST = "172.16.100.50"
INSTANCE = HOST + ":9100"
KEY = (INSTANCE, "IDAaaS", "Muon")


def ws(wid, owner, created, deleted=None, state="CLAIMED", acquired=None, host=HOST):
    return Workspace(wid, host, host, owner, state, "ISIS", created, deleted, acquired)


def usage(busy=3600.0, idle=7200.0, host=HOST):
    return HostUsage(host + ":9100", host, "IDAaaS", "Muon", busy, idle)


def steady_steps(busy=3600.0, idle=7200.0, step=60.0):
    n = int(H / step)
    return [UsageStep(i * step, (i + 1) * step, busy / n, idle / n) for i in range(n)]


def by_user(shares):
    out = defaultdict(lambda: [0.0, 0.0])
    for s in shares:
        out[s.user][0] += s.busy_seconds
        out[s.user][1] += s.idle_seconds
    return {k: tuple(v) for k, v in out.items()}


def run(workspaces, steps=None, hosts=(HOST,)):
    timelines = build_timelines(workspaces, 0, H)
    step_map = {KEY: steps} if steps is not None else {}
    return attribute([usage(host=h) for h in hosts], timelines, step_map, 0, H), timelines


def test_one_owner_for_the_whole_window_gets_everything():
    shares, _ = run([ws("w1", "alice", -86400)])
    assert by_user(shares) == {"alice": (3600.0, 7200.0)}


def test_handover_20_minutes_before_the_end_gives_the_previous_owner_two_thirds():
    """The old service gave the whole hour to the owner at the end (bob)."""
    shares, _ = run(
        [ws("w1", "alice", -86400, deleted=40 * 60), ws("w2", "bob", 40 * 60)], steady_steps()
    )
    users = by_user(shares)
    assert users["alice"] == pytest.approx((2400.0, 4800.0))
    assert users["bob"] == pytest.approx((1200.0, 2400.0))


def test_gap_between_owners_is_unattributed():
    shares, _ = run(
        [ws("w1", "alice", -86400, deleted=1800), ws("w2", "bob", 2700)], steady_steps()
    )
    users = by_user(shares)
    assert users[UNATTRIBUTED] == pytest.approx((900.0, 1800.0))
    assert users["alice"] == pytest.approx((1800.0, 3600.0))


def test_ready_pool_workspace_owns_nothing():
    shares, _ = run([ws("w1", "pooluser", -86400, state="READY")])
    assert by_user(shares) == {UNATTRIBUTED: (3600.0, 7200.0)}


def test_host_with_no_workspace_is_unattributed_not_dropped():
    shares, _ = run([])
    assert by_user(shares) == {UNATTRIBUTED: (3600.0, 7200.0)}


def test_acquired_time_starts_the_tenure_of_a_claimed_pool_workspace():
    shares, _ = run([ws("w1", "alice", -86400, acquired=1800)], steady_steps())
    users = by_user(shares)
    assert users["alice"] == pytest.approx((1800.0, 3600.0))
    assert users[UNATTRIBUTED] == pytest.approx((1800.0, 3600.0))


def test_deleted_inside_window_leaves_the_rest_unattributed():
    shares, _ = run([ws("w1", "alice", -86400, deleted=900, state="DELETED")], steady_steps())
    users = by_user(shares)
    assert users["alice"] == pytest.approx((900.0, 1800.0))
    assert users[UNATTRIBUTED] == pytest.approx((2700.0, 5400.0))


def test_overlapping_workspaces_newest_claim_wins_and_host_is_counted():
    shares, timelines = run(
        [ws("w1", "alice", -86400), ws("w2", "bob", 1800)],  # alice's record never deleted
        steady_steps(),
    )
    assert timelines.conflicted_hosts == {HOST}
    users = by_user(shares)
    assert users["alice"] == pytest.approx((1800.0, 3600.0))
    assert users["bob"] == pytest.approx((1800.0, 3600.0))


def test_overlap_tie_is_broken_by_workspace_id_deterministically():
    a = run([ws("w1", "alice", 0), ws("w2", "bob", 0)])[0]
    b = run([ws("w2", "bob", 0), ws("w1", "alice", 0)])[0]
    assert by_user(a) == by_user(b) == {"bob": (3600.0, 7200.0)}


def test_split_follows_actual_usage_not_clock_time():
    # All busy time falls in the first 10 minutes, when alice owned the host.
    steps = [
        UsageStep(i * 60.0, (i + 1) * 60.0, 360.0 if i < 10 else 0.0, 120.0) for i in range(60)
    ]
    shares, _ = run([ws("w1", "alice", -86400, deleted=1800), ws("w2", "bob", 1800)], steps)
    users = by_user(shares)
    assert users["alice"][0] == pytest.approx(3600.0)
    assert users["bob"][0] == pytest.approx(0.0)
    assert users["alice"][1] == pytest.approx(3600.0)


def test_boundary_inside_a_step_splits_that_step_by_overlap():
    steps = [UsageStep(0, 1800, 100, 0), UsageStep(1800, 3600, 100, 0)]
    fractions = split_fractions([Tenure(0, 900, "a"), Tenure(900, 3600, "b")], steps)
    assert fractions[0][0] == pytest.approx(0.25)
    assert fractions[1][0] == pytest.approx(0.75)


def test_without_steps_the_split_is_by_duration():
    fractions = split_fractions([Tenure(0, 2400, "a"), Tenure(2400, 3600, "b")], None)
    assert fractions == [
        (pytest.approx(2 / 3), pytest.approx(2 / 3)),
        (pytest.approx(1 / 3), pytest.approx(1 / 3)),
    ]


def shared_out(timeline, steps):
    """The definition: each step shared between the pieces it overlaps, by overlap."""
    busy, idle = [0.0] * len(timeline), [0.0] * len(timeline)
    for s in steps:
        for k, p in enumerate(timeline):
            overlap = min(s.end, p.end) - max(s.start, p.start)
            if overlap > 0 and s.end > s.start:
                busy[k] += s.busy_seconds * overlap / (s.end - s.start)
                idle[k] += s.idle_seconds * overlap / (s.end - s.start)
    return busy, idle


times = st.integers(min_value=-600, max_value=4200).map(float)


@st.composite
def pieces_and_steps(draw):
    cuts = sorted({0.0, H, *draw(st.lists(st.integers(1, 3599).map(float), max_size=4))})
    timeline = [Tenure(a, b, f"u{k}") for k, (a, b) in enumerate(pairwise(cuts))]
    bounds = sorted(draw(st.lists(times, min_size=2, max_size=40)))
    amounts = st.floats(0, 500, allow_nan=False)
    steps = [  # in order, with gaps (odd pairs skipped), some of no width
        UsageStep(a, b, draw(amounts), draw(amounts))
        for k, (a, b) in enumerate(pairwise(bounds))
        if k % 3 != 2
    ]
    if draw(st.booleans()):  # out of order, overlapping
        steps = draw(st.permutations(steps)) + draw(st.lists(st.sampled_from(steps or [None])))
        steps = [s for s in steps if s is not None]
    return timeline, steps


@settings(max_examples=300, deadline=None)
@given(pieces_and_steps())
def test_split_fractions_share_each_step_by_its_overlap_with_each_piece(case):
    """Steps in any order, with gaps, overlaps and steps of no width."""
    timeline, steps = case
    busy, idle = shared_out(timeline, steps)
    durations = [p.end - p.start for p in timeline]
    fractions = split_fractions(timeline, steps)
    for got, want in zip(fractions, zip(busy, idle, strict=True), strict=True):
        for g, total, w in ((got[0], sum(busy), want[0]), (got[1], sum(idle), want[1])):
            if total > 1e-9:
                # As precise as the definition, for a short piece too (relative to it).
                assert g == pytest.approx(w / total, rel=1e-12, abs=1e-300)
    # Where the steps carry nothing, the split falls back to the pieces' durations.
    if sum(busy) == 0:
        assert [f[0] for f in split_fractions(timeline, steps)] == pytest.approx(
            [d / H for d in durations]
        )


def test_a_short_piece_at_the_end_of_a_long_window_keeps_its_own_precision():
    """Its share is summed from its own steps, not as a difference of window-long sums."""
    end = 1_700_000_000.0
    t0, cut = end - 86400, end - 3.7
    steps = [
        UsageStep(t0 + 60 * k, t0 + 60 * k + 60, 7000.0 + (k * 0.6180339887) % 977, 600.0)
        for k in range(1440)
    ]
    total = sum(s.busy_seconds for s in steps)
    exact = steps[-1].busy_seconds * (end - cut) / 60
    got = split_fractions([Tenure(t0, cut, "alice"), Tenure(cut, end, "bob")], steps)
    assert got[1][0] * total == pytest.approx(exact, rel=1e-14)
    assert f"{got[1][0] * total:.12g}" == f"{exact:.12g}"  # as the usage families write it


def test_conservation_every_host_total_is_kept_exactly():
    workspaces = [
        ws("w1", "alice", -86400, deleted=700),
        ws("w2", "bob", 900, deleted=2000),
        ws("w3", "carol", 1900),  # overlaps bob
        ws("w4", "dave", -5, state="READY", host="172.16.100.51"),
        ws("w5", "erin", 100, host="172.16.100.52"),
    ]
    hosts = (HOST, "172.16.100.51", "172.16.100.52", "172.16.100.53")
    steps = [UsageStep(i * 60.0, (i + 1) * 60.0, (i % 7) * 3.0, 50.0 + i) for i in range(60)]
    shares, _ = run(workspaces, steps, hosts)
    total_busy = sum(s.busy_seconds for s in shares)
    total_idle = sum(s.idle_seconds for s in shares)
    assert math.isclose(total_busy, 3600.0 * len(hosts), rel_tol=1e-12)
    assert math.isclose(total_idle, 7200.0 * len(hosts), rel_tol=1e-12)


def test_workspace_outside_the_window_is_ignored():
    shares, _ = run([ws("old", "alice", -86400, deleted=-10), ws("new", "bob", H + 10)])
    assert by_user(shares) == {UNATTRIBUTED: (3600.0, 7200.0)}
