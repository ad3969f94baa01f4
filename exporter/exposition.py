"""/metrics: prometheus_client's formats and negotiation, with plain gauges written here.

At 10,000 hosts a scrape exposes about 70,000 series, and prometheus_client validates,
sorts and escapes the labels of every sample. On the body of a synthetic 10,000-host
snapshot (fastest of 15, one run; a whole scrape at that size takes 0.8-3.5 s), fresh
families built and written by prometheus_client's ``generate_latest`` took 0.44 s, by
:func:`encode` 0.19 s (0.07 s of it building them), by the previous writer and its
caches kept between scrapes 0.04 s. So the gauges with legacy names and no timestamps
or exemplars (all of this exporter's) are written here, in the very bytes
prometheus_client writes (the property tests of ``tests/unit/test_exposition.py`` compare
them in every format), and anything else, and the ``escaping=dots`` formats, by
prometheus_client's encoder. Nothing is kept from one scrape to the next.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

StartResponse = Callable[..., Any]
_LEGACY_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LEGACY_LABEL = re.compile(r"(?!__)[a-zA-Z_][a-zA-Z0-9_]*")  # "__" names are reserved: quoted
_EOF = b"# EOF\n"
# Prometheus asks for gzip. zlib's fastest level writes the 10 MB body of 10,000 hosts in
# 50 ms (1.20 MB); ISA-L took 5 ms (1.08 MB) in the same run: 45 ms, about 5 % of a
# 0.8 s scrape, not worth a dependency. zlib's default level, 9, is six times slower.
GZIP_LEVEL = 1


def go_float(value: float) -> str:
    """A sample value as Prometheus' Go client writes it (and prometheus_client after it)."""
    if type(value) is float and -math.inf < value < 1e6:  # most: as repr() writes them
        return repr(value)
    value = float(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to an exponent from 1e6 on, repr() from 1e16
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


LabelText = Callable[[dict[str, str]], str]


def _label_text(keys: tuple[str, ...]) -> LabelText | None:
    """What writes ``{a="x",b="y"}`` for label sets of these names (sorted, values escaped);
    None if a name is not legacy (prometheus_client would escape or quote it)."""
    if not all(_LEGACY_LABEL.fullmatch(k) for k in keys):
        return None
    order = sorted(keys)
    template = "{{" + ",".join(f'{k}="{{}}"' for k in order) + "}}" if order else ""

    def text(labels: dict[str, str]) -> str:
        values = [labels[k] for k in order]
        joined = "".join(values)
        if "\\" in joined or "\n" in joined or '"' in joined:
            values = [
                v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"") for v in values
            ]
        return template.format(*values)

    return text


def _header(metric: Metric, openmetrics: bool) -> str:
    name, doc = metric.name, metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
    if not openmetrics:
        return f"# HELP {name} {doc}\n# TYPE {name} gauge\n"
    doc = doc.replace('"', r"\"")  # OpenMetrics escapes quotes in HELP too, and has units
    unit = f"# UNIT {name} {metric.unit}\n" if metric.unit else ""
    return f"# HELP {name} {doc}\n# TYPE {name} gauge\n{unit}"


def _gauge(metric: Metric, openmetrics: bool) -> str | None:
    """The family as prometheus_client writes it, or None where this writer does not match it."""
    name = metric.name
    if metric.type != "gauge" or not _LEGACY_NAME.fullmatch(name):
        return None
    lines = [_header(metric, openmetrics)]
    writers: dict[tuple[str, ...], LabelText | None] = {}  # by label names, for this family
    for sample_name, labels, value, timestamp, exemplar, native in metric.samples:
        if sample_name != name or timestamp is not None or exemplar or native:
            return None
        if (keys := tuple(labels)) not in writers:
            writers[keys] = _label_text(keys)
        if (write := writers[keys]) is None:
            return None
        lines.append(f"{name}{write(labels)} {go_float(value)}\n")
    return "".join(lines)


class _One:
    """A registry of one family, to hand a family to prometheus_client's encoder."""

    def __init__(self, metric: Metric) -> None:
        self._metric = metric

    def collect(self) -> Iterator[Metric]:
        yield self._metric


def encode(registry: Collector, accept: str | None) -> tuple[bytes, str]:
    """The body and Content-Type for an ``Accept`` header, chosen as prometheus_client does."""
    parts, content_type = encode_parts(registry, accept)
    return b"".join(parts), content_type


def encode_parts(registry: Collector, accept: str | None) -> tuple[Iterator[bytes], str]:
    """:func:`encode`'s body as it is written, a family at a time (each is collected as it
        is written): gzip compresses it as it comes, so a gzipped 17 MB body is never held whole
    (a plain one is joined, as it is sent)."""
    encoder, content_type = choose_encoder(accept or "")
    if "escaping=dots" in content_type:  # every "_" of every name doubled: not written here
        return iter([encoder(registry)]), content_type
    return _parts(
        registry, encoder, content_type.startswith("application/openmetrics")
    ), content_type


def _parts(
    registry: Collector, encoder: Callable[[Any], bytes], openmetrics: bool
) -> Iterator[bytes]:
    for metric in registry.collect():
        if (text := _gauge(metric, openmetrics)) is not None:
            yield text.encode("utf-8")
        else:
            body = encoder(_One(metric))
            yield body.removesuffix(_EOF) if openmetrics else body
    if openmetrics:
        yield _EOF


def gzipped(parts: Iterable[bytes]) -> bytes:
    """``parts`` joined and gzipped at GZIP_LEVEL, compressed as they come."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: a gzip header
    return b"".join([*map(compressor.compress, parts), compressor.flush()])


_QVALUE = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?")


def gzip_accepted(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header gives gzip a weight above 0 (RFC 9110 12.5.3).

    ``gzip`` is weighed by its own entry, else by ``*``'s; a malformed weight refuses it.
    """
    weights: dict[str, bool] = {}
    for entry in accept_encoding.split(","):
        coding, *params = (part.strip().lower() for part in entry.split(";"))
        accepted = True
        for param in params:
            key, _, value = (p.strip() for p in param.partition("="))
            if key == "q":
                accepted = bool(_QVALUE.fullmatch(value)) and float(value) > 0
        weights.setdefault(coding, accepted)
    return weights.get("gzip", weights.get("*", False))


def make_metrics_app(
    registry: CollectorRegistry,
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI app for /metrics: GETs (``name[]`` filters too) answered with :func:`encode`,
    other methods by prometheus_client's app (OPTIONS, 405)."""
    fallback = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET":
            return fallback(environ, start_response)  # type: ignore[no-any-return]
        names = parse_qs(environ.get("QUERY_STRING", "")).get("name[]")
        source = registry.restricted_registry(names) if names else registry
        parts, content_type = encode_parts(source, environ.get("HTTP_ACCEPT"))
        headers = [("Content-Type", content_type)]
        if gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING") or ""):
            body = gzipped(parts)
            headers.append(("Content-Encoding", "gzip"))
        else:
            body = b"".join(parts)
        start_response("200 OK", headers)
        return [body]

    return app
