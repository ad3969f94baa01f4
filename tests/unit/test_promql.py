"""Values from data reach PromQL only escaped."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.sources.prometheus.promql import (
    compact_regex,
    exact_regex,
    selector,
    string_literal,
    with_label,
)


def test_string_literal_escapes_quotes_backslashes_and_newlines():
    assert string_literal('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


def test_exact_regex_escapes_metacharacters():
    pattern = exact_regex([".*", "172.16.0.1:9100", "a|b", "x(y)"])
    # RE2 and Python agree on these escapes; Prometheus anchors the match at both ends.
    full = re.compile(f"^(?:{pattern})$")
    for value in [".*", "172.16.0.1:9100", "a|b", "x(y)"]:
        assert full.match(value)
    for value in ["anything", "172.16.0.10:9100", "172x16x0x1:9100", "a", "b", "xy"]:
        assert not full.match(value)


def test_exact_regex_refuses_an_empty_set():
    with pytest.raises(ValueError):
        exact_regex([])


def test_selector_validates_names_and_quotes_values():
    q = selector("node_cpu_seconds_total", {"job": 'no"de'}, {"instance": exact_regex(["a.b"])})
    assert q == 'node_cpu_seconds_total{job="no\\"de", instance=~"a\\\\.b"}'
    with pytest.raises(ValueError):
        selector("node_cpu_seconds_total", {"bad-label": "x"}, {})
    with pytest.raises(ValueError):
        selector("up}or{", {}, {})


def test_with_label_adds_a_constant_quoted_label():
    assert (
        with_label("sum(x)", "class", 'b"usy')
        == 'label_replace(sum(x), "class", "b\\"usy", "", "")'
    )
    with pytest.raises(ValueError):
        with_label("x", "bad-label", "v")


@given(
    st.sets(st.text(alphabet="1.2:|*()\\ab\n", max_size=6), min_size=1, max_size=6),
    st.text(alphabet="1.2:|*()\\ab\n", max_size=6),
)
def test_compact_regex_matches_exactly_its_values_with_their_shared_prefix_and_suffix_written_once(
    values, other
):
    full = re.compile(f"(?:{compact_regex(values)})", re.DOTALL)
    assert all(full.fullmatch(v) for v in values)
    assert bool(full.fullmatch(other)) == (other in values)


def test_compact_regex_writes_the_hosts_shared_prefix_and_port_once():
    hosts = [f"172.16.100.{k}:9100" for k in range(10, 30)]
    assert (
        compact_regex(hosts)
        == "172\\.16\\.100\\.(" + "|".join(str(k) for k in range(10, 30)) + "):9100"
    )
