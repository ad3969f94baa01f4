"""The budget recording rules of ``prometheus/ada-carbon-budgets.yml``, backfilled over the past.

``promtool tsdb create-blocks-from rules`` evaluates every rule against the running
server's data, so a rule reading another rule's series sees nothing of it: the rules
are backfilled in stages, each after the blocks of the rules it reads are loaded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from tests.harness.prometheus import PrometheusServer, backfill_rules

BUDGET_RULES = Path(__file__).resolve().parents[2] / "prometheus" / "ada-carbon-budgets.yml"


def stages(rule_file: Path = BUDGET_RULES) -> list[dict[str, object]]:
    """The file's recording rules as rule files, each reading only earlier files' series."""
    (group,) = yaml.safe_load(rule_file.read_text())["groups"]
    records = [r for r in group["rules"] if "record" in r]
    level: dict[str, int] = {}
    for rule in records:  # a rule comes after those it reads, as in the file
        read = [level[name] for name in level if name in rule["expr"]]
        level[rule["record"]] = 1 + max(read, default=-1)
    out = []
    for n in range(max(level.values()) + 1):
        rules = [r for r in records if level[r["record"]] == n]
        out.append(
            {"groups": [{"name": group["name"], "interval": group["interval"], "rules": rules}]}
        )
    return out


def backfill_budget_rules(server: PrometheusServer, start: float, end: float) -> None:
    """Record the budget rules over [start, end] (unix s) of ``server``'s data, stage by stage."""
    with tempfile.TemporaryDirectory(prefix="budget-rules-") as tmp:
        for n, stage in enumerate(stages()):
            path = Path(tmp) / f"ada-carbon-budgets-{n}.yml"
            path.write_text(yaml.safe_dump(stage, sort_keys=False))
            backfill_rules(server, path, start, end, file_name="ada-carbon-budgets.yml")
