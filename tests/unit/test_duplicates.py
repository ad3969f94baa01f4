"""A host scraped by several jobs counts once; a renamed job's two series add up."""

import pytest

from exporter.sources.prometheus.parse import counted_once, parse_vector

STOPPED, STARTED = 1, 2  # scraped at the window's start only, at its end only


@pytest.mark.parametrize(
    ("jobs", "flags", "expected"),
    [
        # Two jobs scraping the node all window (no flags: scraped at both ends): the
        # same CPU-seconds twice, counted once (the largest: the two jobs' increase()
        # differ by their scrape times).
        ({"node": [900, 2700], "again": [901, 2699]}, {}, (901, 2700)),
        # A job renamed at a quarter of the window: up to the rename, and after it.
        ({"node": [225, 675], "node-exporter": [675, 2025]},
         {"node": STOPPED, "node-exporter": STARTED}, (900, 2700)),
        # A duplicate job removed (or its target down at the end) beside one that saw it all.
        ({"node": [900, 2700], "again": [450, 1350]}, {"again": STOPPED}, (900, 2700)),
        # A duplicate job added inside the window, or one whose scrape at the start failed.
        ({"node": [900, 2700], "again": [450, 1350]}, {"again": STARTED}, (900, 2700)),
        # A host deleted inside the window, scraped by two jobs until then.
        ({"node": [450, 1350], "again": [449, 1351]}, {"node": STOPPED, "again": STOPPED},
         (450, 1351)),
        # A host created inside the window, scraped by two jobs since.
        ({"node": [450, 1350], "again": [449, 1351]}, {"node": STARTED, "again": STARTED},
         (450, 1351)),
        # Renamed, then the host deleted: the part before the rename and the larger of
        # those after it (a rename, or duplicates that stopped together).
        ({"a": [100, 1], "b": [300, 3], "c": [200, 2]}, {"a": STOPPED, "b": STARTED, "c": STARTED},
         (400, 4)),
    ],
)  # fmt: skip
def test_each_part_of_the_window_counts_once(jobs, flags, expected):
    assert counted_once(jobs, flags) == expected


def row(instance, cls, value, job=None):
    metric = {"instance": instance, "cloud_project_name": "P", "machine_name": "M", "class": cls}
    if job is not None:
        metric["job"] = job
    return {"metric": metric, "value": [0, str(value)]}


def test_parse_vector_counts_two_jobs_once_and_keeps_one_job_unchanged():
    data = {
        "result": [
            row("a:9100", "busy", 900.5, "node"),
            row("a:9100", "idle", 2700.25, "node"),
            row("b:9100", "busy", 900, "node"),
            row("b:9100", "busy", 901, "again"),
            row("b:9100", "idle", 2700, "node"),
            row("b:9100", "idle", 2699, "again"),
            row("c:9100", "busy", 225, "node"),
            row("c:9100", "busy", 675, "node-exporter"),
            row("c:9100", "scraped", 1, "node"),
            row("c:9100", "scraped", 2, "node-exporter"),
            row("d:9100", "busy", 5),  # no job label: one job, as before
            row("d:9100", "busy", 1),  # the same host, group and job twice: they add up
            {"metric": {"instance": "", "class": "busy"}, "value": [0, "7"]},  # all empty
        ]
    }
    usage, _ = parse_vector(data)
    assert [(u.instance, u.busy_seconds, u.idle_seconds) for u in usage] == [
        ("", 7.0, 0.0),
        ("a:9100", 900.5, 2700.25),
        ("b:9100", 901.0, 2700.0),
        ("c:9100", 900.0, 0.0),
        ("d:9100", 6.0, 0.0),
    ]


def test_scrape_flags_alone_make_no_host_and_odd_flags_are_none():
    data = {
        "result": [
            # Scraped just before the window and never in it: not a measured host.
            row("gone:9100", "scraped", 1, "node"),
            row("h:9100", "busy", 100, "node"),
            row("h:9100", "busy", 300, "other"),
            # Not flags Prometheus would send: each job taken as scraped at both ends.
            row("h:9100", "scraped", 0.5, "node"),
            row("h:9100", "scraped", "NaN", "other"),
            row("h:9100", "scraped", 3, "other"),
        ]
    }
    usage, _ = parse_vector(data)
    assert [(u.instance, u.busy_seconds) for u in usage] == [("h:9100", 300.0)]
