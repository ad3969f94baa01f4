"""Build PromQL safely: every value that came from data is escaped, never pasted.

Label values from MongoDB or Prometheus reach a query only through
:func:`string_literal` (a quoted PromQL string) or :func:`exact_regex`
(a fully escaped RE2 alternation that matches only the given values).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# RE2 treats a backslash before any punctuation as that literal character.
_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")
# Go's escapes in a double-quoted string; other control characters as \xNN.
_ESCAPES = str.maketrans(
    {chr(c): f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}
    | {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
)


def string_literal(value: str) -> str:
    """Quote a value as a PromQL double-quoted string (Go escaping rules)."""
    return f'"{value.translate(_ESCAPES)}"'


def exact_regex(values: Iterable[str]) -> str:
    """An RE2 pattern matching exactly these values and nothing else.

    Prometheus anchors label regexes at both ends, so ``a|b`` matches only
    ``a`` or ``b``. Every metacharacter in a value is escaped, so a host
    called ``.*`` matches only the literal string ``.*``.
    """
    escaped = sorted({_RE2_SPECIAL.sub(r"\\\1", v) for v in values})
    if not escaped:
        # An empty alternation would match the empty string, i.e. series
        # *without* the label: callers must not query for nothing.
        raise ValueError("exact_regex needs at least one value")
    return "|".join(escaped)


def label_name(name: str) -> str:
    """Check a configured label name; raise ValueError if it is not a valid Prometheus label."""
    if not _LABEL_NAME.match(name):
        raise ValueError(f"not a valid label name: {name!r}")
    return name


def metric_name(name: str) -> str:
    """Check a configured metric name; raise ValueError if it is not a valid metric name."""
    if not _METRIC_NAME.match(name):
        raise ValueError(f"not a valid metric name: {name!r}")
    return name


def selector(metric: str, equal: Mapping[str, str], regex: Mapping[str, str]) -> str:
    """``metric{a="x", b=~"y|z"}`` with every value escaped and names validated.

    An empty ``metric`` gives ``{...}``, for selecting by ``__name__`` in ``regex``.
    """
    matchers = [f"{label_name(k)}={string_literal(v)}" for k, v in sorted(equal.items())]
    matchers += [f"{label_name(k)}=~{string_literal(v)}" for k, v in sorted(regex.items())]
    return f"{metric_name(metric) if metric else ''}{{{', '.join(matchers)}}}"


def with_label(expr: str, name: str, value: str) -> str:
    """Wrap an instant-vector ``expr`` so every series gains the label ``name="value"``.

    Used after aggregating (``sum by``), so the relabelling costs one operation
    per result series rather than one per raw series (and per step in a range query).
    """
    label = string_literal(label_name(name))
    return f'label_replace({expr}, {label}, {string_literal(value)}, "", "")'
