"""The benchmark's results: medians of the runs, agreement between paths, the table."""

from __future__ import annotations

import pstats
import statistics
import sys
from pathlib import Path
from typing import Any

COLUMNS = ("scrape_s", "upstream_s", "exporter_s", "cpu_s", "series", "bytes", "gzip_bytes")


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    """Medians of the measured (non-warm-up) runs, plus per-run figures."""
    runs = [r for r in raw["runs"] if not r["warmup"]]
    median = {c: statistics.median(r[c] for r in runs) for c in COLUMNS}
    for server in ("prometheus", "mongodb"):
        median[f"{server}_cpu_s"] = statistics.median(
            r.get("servers_cpu_s", {}).get(server, 0.0) for r in runs
        )
    return {
        "median": median,
        "requests": [r["requests"] for r in runs],
        "all_up": all(r["up"] for r in runs),
        "peak_rss_mb": round(raw["peak_rss_mb"], 1),
        "rss_before_mb": round(raw["rss_before_mb"], 1),
        "split_hosts": raw["split_hosts"],
        "runs": runs,
    }


def max_deviation(energy: dict[str, float], reference: dict[str, float]) -> float:
    """Largest relative difference of per-user energy from the reference (over both key sets)."""
    users = set(energy) | set(reference)
    return max(
        abs(energy.get(u, 0.0) - reference.get(u, 0.0)) / max(reference.get(u, 0.0), 1e-9)
        for u in users
    )


def table(result: dict[str, Any]) -> str:
    """The results as a Markdown table (medians), with the agreement and speed-up below."""
    lines = [
        "| tier | engine | path | requests p/m/ci | scrape s | upstream s | exporter s | CPU s "
        "| Prometheus CPU s | MongoDB CPU s | peak RSS MB | series | bytes | gzip bytes |",
        "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for path, r in result["paths"].items():
        m, req = r["median"], r["requests"][-1]
        lines.append(
            f"| {result['tier']} | {result.get('engine', 'prometheus')} | {path} "
            f"| {req['prometheus']}/{req['mongodb']}/{req['carbon_intensity']} "
            f"| {m['scrape_s']:.3f} | {m['upstream_s']:.3f} | {m['exporter_s']:.3f} "
            f"| {m['cpu_s']:.3f} | {m['prometheus_cpu_s']:.2f} | {m['mongodb_cpu_s']:.2f} "
            f"| {r['peak_rss_mb']:.0f} "
            f"| {m['series']:,.0f} | {m['bytes']:,.0f} | {m['gzip_bytes']:,.0f} |"
        )
    a, s = result["agreement"], result["speedup"]
    old = f", old {a['old_vs_raw']:.2%}" if "old_vs_raw" in a else ""
    truth = ", ".join(
        f"{k.removesuffix('_vs_truth')} {v:.2%}" for k, v in a.items() if "truth" in k
    )
    lines.append(
        f"\nper-user energy, max deviation over {a['users']:,} users: "
        f"from raw: recording_rules {a['recording_rules_vs_raw']:.2%}{old}; "
        f"from the generator's truth: {truth}"
    )
    if s:  # not with --old-runs 0
        lines.append(
            f"old way / raw: {s['old_over_raw']:.1f}x slower, "
            f"old way / recording_rules: {s['old_over_recording_rules']:.1f}x slower"
        )
    return "\n".join(lines)


def print_profile(path: Path, limit: int = 25) -> None:
    stats = pstats.Stats(str(path), stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
