"""The look at the handovers: its PromQL, its answer read into patches, laid over the steps."""

from __future__ import annotations

import pytest

from exporter.config import PrometheusConfig
from exporter.model import SourceError, UsageStep
from exporter.sources.prometheus import handovers as look

END = 1_769_860_800.0
KEY = ("h:9100", "P", "M")
CFG = PrometheusConfig(url="http://prometheus:9090")
BUSY, IDLE = ("user", "system"), ("idle",)


def answer(centre_ms, points, busy=0.5, idle=1.5, skip=()):
    """The look's matrix for one host around one centre: each point at end + j * 15 s."""
    rows = []
    for cls, rate in (("busy", busy), ("idle", idle)):
        values = [[END + j * 15, str(rate)] for j in points if (cls, j) not in skip]
        metric = {"instance": KEY[0], "cloud_project_name": "P", "machine_name": "M"}
        rows.append({"metric": {**metric, "class": cls, look.AT: str(centre_ms)}, "values": values})
    return rows


def test_a_complete_look_becomes_tiles_of_one_scrape_interval_at_the_handover():
    centre = look.look_centre_ms(END - 1000.4)
    assert centre == (END - 1020) * 1000  # the minute before the handover
    points = look.look_points(60.0, 15.0)
    (patch,) = look.patches(answer(centre, points), END, points, 15.0)[KEY]
    assert len(patch) == len(points)
    first, last = patch[0], patch[-1]
    # A rate over (t - 30 s, t] stands for (t - 22.5 s, t - 7.5 s]
    assert first.start == pytest.approx(centre / 1000 + points[0] * 15 - 22.5)
    assert last.end == pytest.approx(centre / 1000 + points[-1] * 15 - 7.5)
    assert all(s.end - s.start == pytest.approx(15.0) for s in patch)
    assert all(s.busy_seconds == pytest.approx(7.5) and s.idle_seconds == 22.5 for s in patch)
    # The tiles reach 1.5 steps either side of the handover: every step that saw it
    assert first.start <= END - 1000.4 - 90 and last.end >= END - 1000.4 + 90


def test_a_look_with_a_point_missing_is_left_out_and_the_steps_stand():
    centre = look.look_centre_ms(END - 1000)
    points = look.look_points(60.0, 15.0)
    found = look.patches(answer(centre, points, skip={("idle", 3)}), END, points, 15.0)
    assert found == {}
    steps = {KEY: [UsageStep(END - 3600, END, 100.0, 200.0)]}
    assert look.patched(steps, found) == steps


def test_points_after_the_end_are_not_due():
    centre = look.look_centre_ms(END - 20)
    points = look.look_points(60.0, 15.0)
    due = [j for j in points if centre + j * 15_000 <= END * 1000]
    (patch,) = look.patches(answer(centre, due), END, points, 15.0)[KEY]
    assert len(patch) == len(due) < len(points)
    assert patch[-1].end <= END


def test_an_answer_without_one_usable_rate_is_refused():
    centre = look.look_centre_ms(END - 1000)
    points = look.look_points(60.0, 15.0)
    with pytest.raises(SourceError, match="look at the handovers"):
        look.patches(answer(centre, points, busy="NaN", idle="-1"), END, points, 15.0)


def test_a_patch_replaces_the_steps_under_it_and_keeps_their_parts_outside_pro_rata():
    steps = [UsageStep(0, 60, 60.0, 0.0), UsageStep(60, 120, 120.0, 60.0)]
    patch = [UsageStep(30, 45, 1.0, 2.0), UsageStep(45, 90, 3.0, 4.0)]
    out = look.overlay(steps, patch)
    assert sorted(out) == [
        UsageStep(0, 30, 30.0, 0.0),
        UsageStep(30, 45, 1.0, 2.0),
        UsageStep(45, 90, 3.0, 4.0),
        UsageStep(90, 120, 60.0, 30.0),
    ]


def test_a_host_without_steps_gets_no_patch_alone():
    patch = [UsageStep(30, 45, 1.0, 2.0)]
    assert look.patched({}, {KEY: [patch]}) == {}
    assert look.patched({KEY: []}, {KEY: [patch]}) == {KEY: []}


def test_handovers_within_a_minute_share_one_clause_whatever_the_fleet():
    at = END - 1000.4
    few = look.handover_look(CFG, BUSY, IDLE, {"a:9100": [at]}, END, 60.0)
    many = {f"10.0.{i // 250}.{i % 250}:9100": [at + (i % 7)] for i in range(2000)}
    form = look.handover_look(CFG, BUSY, IDLE, many, END, 60.0)
    # One clause per minute the handovers fall in, each with its two classes' selectors.
    assert few["query"].count("rate(") == 2
    assert form["query"].count("rate(") == 2 * len({look.look_centre_ms(at + k) for k in range(7)})
    assert form["step"] == "15"
    points = look.look_points(60.0, 15.0)
    assert float(form["start"]) == END + points[0] * 15
    assert float(form["end"]) == END + points[-1] * 15


def test_the_clauses_nest_as_a_balanced_tree_and_hosts_are_escaped():
    handovers = {".*:9100": [END - 100 - 60 * k for k in range(8)]}
    query = look.handover_look(CFG, BUSY, IDLE, handovers, END, 60.0)["query"]
    assert "\\\\.\\\\*:9100" in query and 'instance=~".*' not in query
    # Eight clauses: or-ed in three levels, not a chain seven deep.
    depth = max_depth = 0
    for ch in query:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        max_depth = max(max_depth, depth)
    chained = look.handover_look(CFG, BUSY, IDLE, {"a:9100": [END - 100]}, END, 60.0)["query"]
    depth = one_depth = 0
    for ch in chained:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        one_depth = max(one_depth, depth)
    assert max_depth == one_depth + 3
