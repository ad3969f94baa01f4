"""A report as a table for people, CSV or JSON for scripts. Pure: a Report in, text out.

People get kWh and grams or kilograms; scripts get CPU-seconds, joules and grams,
the units the exporter stores.
"""

from __future__ import annotations

import csv
import io
import json
import math
import textwrap
from datetime import datetime, timezone, tzinfo
from typing import Any

from exporter.commands.report.compute import Report, Table, grams, intensity, kwh
from exporter.equivalencies import format_count
from exporter.methodology import as_dict
from exporter.methodology import lines as method_lines
from exporter.model import Usage

FORMATS = ("table", "csv", "json")


def render(report: Report, fmt: str) -> str:
    return {"table": as_table, "csv": as_csv, "json": as_json}[fmt](report)


def when(t: float, tz: tzinfo = timezone.utc) -> str:
    """RFC 3339 to the second, in ``tz``: 2026-01-31T12:00:00Z, 2026-06-01T00:00:00+01:00."""
    if tz is timezone.utc:
        return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return datetime.fromtimestamp(t, tz).isoformat(timespec="seconds")


def period_lines(r: Report) -> list[str]:
    """The period counted, in --tz; and the period typed, when the windows do not fill it."""
    zone = "" if r.tz is timezone.utc else f" {r.tz}"
    span = f"{when(r.start, r.tz)} to {when(r.end, r.tz)}{zone}"
    lines = [f"Ada carbon report by {r.by}: {span} ({duration(r.end - r.start)})"]
    if r.asked is not None:
        asked = f"{when(r.asked[0], r.tz)} to {when(r.asked[1], r.tz)}"
        lines.append(f"  asked for {asked}; a period counts the windows ending in it (see --help)")
    return lines


def duration(seconds: float) -> str:
    """3d 4h, 4h, 30m, 45s: the largest units, at most two of them."""
    parts, rest = [], round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return " ".join(parts[:2]) or "0s"


def _decimals(total: float) -> int:
    """Decimals that give a column's total about four significant figures."""
    if total <= 0 or not math.isfinite(total):
        return 2
    return max(0, 3 - math.floor(math.log10(total)))


def source_lines(r: Report) -> list[str]:
    """Where the numbers came from, said plainly: raw computations are marked as such."""
    windows = f"{r.windows_present} of {r.windows_expected} windows of {duration(r.window_seconds)}"
    if r.source == "raw":
        lines = [
            f"Source: COMPUTED FROM RAW DATA, {windows}, by the exporter's engine from",
            f"  node_cpu_seconds_total ({r.origin}) and MongoDB workspaces",
        ]
    else:
        lines = [f"Source: the exporter's series in Prometheus ({r.origin}), {windows}"]
    if r.reason:
        lines.append(f"  because {r.reason}")
    if r.windows_present < r.windows_expected:
        lines.append("  Missing windows count as nothing: backfill them, or use --source raw.")
    return lines


def _wrapped(text: str) -> list[str]:
    return textwrap.wrap(text, 88, subsequent_indent="  ", break_on_hyphens=False)


def _rows(t: Table) -> list[tuple[tuple[str, ...], Usage]]:
    """The rows a table shows: the top N, `other`, `(no experiment)`, the total."""
    blank = ("",) * (len(t.columns) - 1)
    rows = [(row.key, row.usage) for row in t.rows]
    if t.other is not None:
        rows.append(((f"other ({t.other_count})", *blank), t.other.usage))
    if t.unassigned is not None:
        rows.append(((t.unassigned.key[0], *blank), t.unassigned.usage))
    rows.append((("total", *blank), t.total))
    return rows


def _cells(t: Table, embodied: bool = False) -> list[list[str]]:
    """The header, then each row's cells: the top N, `other`, `(no experiment)`, the total."""
    total_g = grams(t.total)
    scale = 1000.0 if total_g >= 10_000 else 1.0
    kd, gd = _decimals(kwh(t.total)[2]), _decimals(total_g / scale)
    hd = _decimals((t.total.busy_seconds + t.total.idle_seconds) / 3600)
    rows = _rows(t)
    carbon = "kgCO2eq" if scale > 1 else "gCO2eq"
    head = [*t.columns, "CPU-h busy", "CPU-h idle", "kWh busy", "kWh idle", "kWh", carbon]
    out = [[*head, "gCO2/kWh", "share"]]
    for key, u in rows:
        busy, idle, energy = kwh(u)
        g = intensity(u)
        out.append(
            [
                *key,
                f"{u.busy_seconds / 3600:,.{hd}f}",
                f"{u.idle_seconds / 3600:,.{hd}f}",
                f"{busy:,.{kd}f}",
                f"{idle:,.{kd}f}",
                f"{energy:,.{kd}f}",
                f"{grams(u) / scale:,.{gd}f}",
                "-" if g is None else f"{g:.1f}",
                f"{grams(u) / total_g if total_g > 0 else 0.0:.1%}",
            ]
        )
    if embodied:
        _embodied_column(out, [u for _, u in rows])
    return out


def _embodied_column(lines: list[list[str]], usages: list[Usage]) -> None:
    """Append the embodied column to the header and each row, scaled by its own total."""
    total = usages[-1].embodied_grams
    scale = 1000.0 if total >= 10_000 else 1.0
    digits = _decimals(total / scale)
    lines[0].append("embodied kgCO2eq" if scale > 1 else "embodied gCO2eq")
    for line, u in zip(lines[1:], usages, strict=True):
        line.append(f"{u.embodied_grams / scale:,.{digits}f}")


def _method(r: Report) -> list[str]:
    """The methodology block after a blank line; nothing when the method is unknown."""
    return ["", *method_lines(r.method)] if r.method.power or r.method.intensity else []


def as_table(r: Report) -> str:
    head, *body = _cells(r.table, r.embodied)
    widths = [max(len(line[k]) for line in [head, *body]) for k in range(len(head))]
    keys = len(r.table.columns)

    def fmt(line: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if k < keys else c.rjust(w)
            for k, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()

    lines = [
        *period_lines(r),
        *source_lines(r),
        *_method(r),
        "",
        fmt(head),
        *(fmt(line) for line in body[:-1]),
        "  ".join("-" * w for w in widths),
        fmt(body[-1]),
    ]
    if r.equivalents:
        lines += ["", "The total is about as much CO2 as:", *(f"  {q}" for q in r.equivalents)]
    if r.notes:
        lines.append("")
    for note in r.notes:
        lines += _wrapped(f"Note: {note}")
    return "\n".join(lines) + "\n"


def _numbers(u: Usage) -> dict[str, float]:
    return {
        "busy_cpu_seconds": u.busy_seconds,
        "idle_cpu_seconds": u.idle_seconds,
        "busy_joules": u.busy_joules,
        "idle_joules": u.idle_joules,
        "energy_joules": u.busy_joules + u.idle_joules,
        "busy_grams": u.busy_grams,
        "idle_grams": u.idle_grams,
        "emissions_grams": grams(u),
    }


def as_csv(r: Report) -> str:
    """One line per row (the top N, then `other` and `(no experiment)`); they sum to the total."""
    t = r.table
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    extra = ["embodied_grams"] if r.embodied else []
    writer.writerow([*t.columns, *_numbers(Usage()), "intensity_gco2_per_kwh", *extra])
    rows = [*t.rows, *(x for x in (t.other, t.unassigned) if x is not None)]
    for row in rows:
        key = [*row.key, *[""] * (len(t.columns) - len(row.key))]
        g = intensity(row.usage)
        embodied = [repr(row.usage.embodied_grams)] if r.embodied else []
        numbers = (repr(v) for v in _numbers(row.usage).values())
        writer.writerow([*key, *numbers, g if g else "", *embodied])
    return out.getvalue()


def _summary(u: Usage, total_grams: float, embodied: bool = False) -> dict[str, Any]:
    summary = {
        **_numbers(u),
        "intensity_gco2_per_kwh": intensity(u),
        "share": grams(u) / total_grams if total_grams > 0 else 0.0,
    }
    if embodied:
        summary["embodied_grams"] = u.embodied_grams
    return summary


def as_json(r: Report) -> str:
    t = r.table
    total = grams(t.total)

    def summary(u: Usage) -> dict[str, Any]:
        return _summary(u, total, r.embodied)

    doc: dict[str, Any] = {
        "from": when(r.start),  # the period counted (see period_lines)
        "to": when(r.end),
        "asked": None if r.asked is None else {"from": when(r.asked[0]), "to": when(r.asked[1])},
        "tz": str(r.tz),
        "by": r.by,
        "source": r.source,
        "origin": r.origin,
        "reason": r.reason,
        "window_seconds": r.window_seconds,
        "windows": {"expected": r.windows_expected, "present": r.windows_present},
        "rows": [
            {"key": dict(zip(t.columns, row.key, strict=True)), **summary(row.usage)}
            for row in t.rows
        ],
        # The rows beyond --top, summed; and what no experiment matched (by experiment or PI),
        # or the time nobody held a host (by workspace).
        "other": None if t.other is None else summary(t.other.usage),
        "other_count": t.other_count,
        "unassigned": None if t.unassigned is None else summary(t.unassigned.usage),
        "total": summary(t.total),
        "equivalents": [
            {
                "equivalent": q.equivalency.key,
                "unit": q.equivalency.unit,
                "count": q.count,
                "grams_per_unit": q.equivalency.grams,
                "text": f"{format_count(q.count)} {q.equivalency.description}",
                "source": q.equivalency.source,
            }
            for q in r.equivalents
        ],
        "notes": list(r.notes),
        "methodology": as_dict(r.method),
    }
    return json.dumps(doc, indent=2) + "\n"
