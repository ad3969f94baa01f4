"""Exact host matching: every spelling of one host gives one key, and nothing else does."""

import re

import pytest

from exporter.attribution.hosts import host_key, strip_port


@pytest.mark.parametrize(
    "name",
    [
        "172.16.100.50",
        "172.16.100.50:9100",
        "host-172-16-100-50.nubes.stfc.ac.uk",
        "HOST-172-16-100-50.NUBES.STFC.AC.UK",
        "host-172-16-100-50",
        " 172.16.100.50 ",
    ],
)
def test_every_ada_spelling_of_a_host_has_one_key(name):
    assert host_key(name) == "172.16.100.50"


@pytest.mark.parametrize(
    "other", ["172.16.100.50", "172.16.100.51:9100", "172.16.100.55", "host-172-16-100-59.nubes"]
)
def test_prefix_lookalikes_do_not_match(other):
    """The old regex instance=~"172.16.100.5.*" matched every one of these."""
    assert re.match("172.16.100.5.*", strip_port(other).replace("host-", "").replace("-", "."))
    assert host_key(other) != host_key("172.16.100.5")


def test_bare_workspace_names_are_kept_exactly():
    assert host_key("workspace-abc123-muon-0") == "workspace-abc123-muon-0"
    assert host_key("Workspace-ABC123-muon-0.") == "workspace-abc123-muon-0"


@pytest.mark.parametrize(
    "bad", [None, 42, "", ".*", "172.16.100.50|.*", 'a"b', "a\nb", "ho st", "café.example", "::::"]
)
def test_values_that_are_not_host_names_cannot_be_matched(bad):
    assert host_key(bad) is None


def test_ipv6_instance_with_port():
    assert strip_port("[2001:db8::1]:9100") == "2001:db8::1"
    assert host_key("[2001:db8::1]:9100") == "2001:db8::1"


def test_out_of_range_dashed_form_is_not_a_host():
    assert host_key("host-300-16-100-50.nubes.stfc.ac.uk") is None
