"""The join of Prometheus' hosts with MongoDB's: groups, workspace info, unmatched hosts."""

import pytest

from exporter.attribution import join
from exporter.model import UNATTRIBUTED, WorkspaceBatch
from tests.stubs import usage, ws

T0, T1 = 0.0, 3600.0


def batch():
    return WorkspaceBatch(
        (
            ws("a", "alice", -100.0, host="172.16.0.1"),
            ws("b", "bob", -100.0, deleted=1800.0, host="172.16.0.2"),  # gone by the end
            ws("c", None, -100.0, state="READY", host="172.16.0.3"),  # pool: alive, unowned
            ws("d", "dave", -100.0, host="172.16.0.9"),  # not measured
        )
    )


def test_the_join_gives_alive_workspaces_their_measured_group_and_counts_each_side():
    owned = join.owned(batch(), T0, T1)
    measured = join.measured(
        [
            usage("172.16.0.1", project="IDAaaS", machine="Muon"),
            usage("172.16.0.2"),
            usage("172.16.0.3", project="CDAaaS", machine="SANS"),
            usage("172.16.0.7"),  # no workspace
        ]
    )
    assert owned.by_tag_state == {("ISIS", "CLAIMED"): 2, ("ISIS", "READY"): 1}
    assert join.workspace_info(owned, measured) == (
        ("a", "172.16.0.1", "alice", "CLAIMED", "IDAaaS", "Muon"),
        ("c", "172.16.0.3", UNATTRIBUTED, "READY", "CDAaaS", "SANS"),
        ("d", "172.16.0.9", "dave", "CLAIMED", "", ""),
    )
    assert join.unmatched(owned, measured) == {
        "mongodb": 1,  # d's host
        "prometheus": 2,  # .7, and .3 (its only workspace is an unowned pool one)
        "unparseable_instance": 0,
    }


@pytest.mark.parametrize("reverse", [False, True])
def test_a_host_measured_in_two_groups_gets_one_whatever_the_answers_order(reverse):
    """Relabelled inside the window: the group is the same at every scrape, not the order's."""
    rows = [
        usage("10.0.0.1", project="B", machine="M"),
        usage("10.0.0.2"),
        usage("10.0.0.1", project="A", machine="M"),
    ]
    measured = join.measured(rows[::-1] if reverse else rows)
    assert measured.groups == {"10.0.0.1": ("B", "M"), "10.0.0.2": ("IDAaaS", "Muon")}
