"""Values from data reach PromQL only escaped."""

import re

import pytest

from exporter.sources.prometheus.promql import exact_regex, selector, string_literal, with_label


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
