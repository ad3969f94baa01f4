"""The README and docs/ stay true to the code.

Every exported family is in the README's metrics table and every family the documents
name is exported; every relative link resolves; every ``ada-carbon-exporter`` example
parses with the exporter's own argument parser, and those that need no upstream (the
``--demo`` ones, ``calculate``, ``--config.check``) run; the minimal configuration
loads; the equivalency table is the exporter's; the tests the documents cite exist;
and CI runs exactly the test command the README opens with.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from exporter.cli import build_parser
from exporter.collectors import SPECS
from exporter.collectors.budgets import BudgetCollector
from exporter.config import load
from exporter.equivalencies import TABLE

ROOT = Path(__file__).resolve().parents[2]
README_PATH = ROOT / "README.md"
README = README_PATH.read_text()
DOCUMENTS = {p: p.read_text() for p in [README_PATH, *sorted((ROOT / "docs").glob("*.md"))]}
# The budget families are exported only where budgets are configured (as in the demo).
FAMILIES = {spec.name for spec in SPECS.values()} | {m.name for m in BudgetCollector().describe()}
SUBCOMMANDS = ("snapshot", "report", "backfill", "calculate")

FENCE = re.compile(r"^ *```(\w*)\n(.*?)^ *```", re.S | re.M)
COMMAND = re.compile(r"(\$ )?([A-Z_]+=\S* )*(\.venv/bin/)?ada-carbon-exporter(\s|$)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _prose(text: str) -> str:
    """The text without its fenced blocks (whose `# comments` are no headings)."""
    return FENCE.sub("", text)


def _anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown text."""
    headings = re.findall(r"^#+ (.+)$", _prose(text), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def examples(text: str) -> Iterator[tuple[str, list[str]]]:
    """(line, arguments) of each ada-carbon-exporter command in a fenced block."""
    for _, block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if not COMMAND.match(line):
                continue
            words = shlex.split(line.removeprefix("$ "), comments=True)
            while "=" in words[0]:  # VAR=value before the command
                words.pop(0)
            yield line, words[1:]


# One per distinct command (a comment after it makes no other), by its arguments.
EXAMPLES = sorted(
    {
        " ".join(argv): tuple(argv) for text in DOCUMENTS.values() for _, argv in examples(text)
    }.items()
)


def _needs_no_upstream(argv: tuple[str, ...]) -> bool:
    if "--config.check" in argv or "--help" in argv or argv[:1] == ("calculate",):
        return True
    return "--demo" in argv and any(command in argv for command in SUBCOMMANDS)


def test_every_family_is_in_the_metrics_table():
    for name in FAMILIES:
        assert f"| `{name}` |" in README, name


def test_the_metrics_table_has_no_family_the_exporter_lacks():
    table = set(re.findall(r"^\| `(ada_carbon_\w+)` \|", README, re.M))
    assert table == FAMILIES


def _table_labels() -> dict[str, set[str]]:
    """Family -> label names, from the README's metrics table ("same": the row above's)."""
    labels: dict[str, set[str]] = {}
    previous: set[str] = set()
    for name, cell in re.findall(r"^\| `(ada_carbon_\w+)` \| [^|]+ \| ([^|]+) \|", README, re.M):
        cell = cell.strip()
        previous = previous if cell == "same" else set(re.findall(r"`(\w+)`", cell))
        labels[name] = previous
    return labels


def test_the_metrics_table_names_each_familys_labels_as_the_demo_exports_them():
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "--demo", "snapshot", "--at", "2026-01-31T12:00:00Z"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    exported: dict[str, set[str]] = {}
    for name, labels in re.findall(r"^(ada_carbon_\w+)(?:\{(.*)\})? ", done.stdout, re.M):
        exported.setdefault(name, set()).update(re.findall(r'(\w+)="', labels))
    assert exported == _table_labels()


def test_every_family_the_documents_name_is_exported():
    for path, text in DOCUMENTS.items():
        for name in set(re.findall(r"\bada_carbon_[a-z0-9_]*[a-z0-9]", text)):
            assert name in FAMILIES, f"{_name(path)} names {name}"


def test_the_readme_fits_in_15_kb():
    assert len(README.encode()) <= 15 * 1024


def test_every_relative_link_and_anchor_resolves():
    checked = 0
    for path, text in DOCUMENTS.items():
        for target in LINK.findall(_prose(text)):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            assert linked.exists(), f"{_name(path)}: {target}"
            if anchor:
                assert anchor in _anchors(linked.read_text()), f"{_name(path)}: {target}"
            checked += 1
    assert checked >= 30


def test_the_readme_links_every_document():
    for path in DOCUMENTS:
        if path != README_PATH:
            assert f"]({_name(path)})" in README, _name(path)


@pytest.mark.parametrize(("line", "argv"), EXAMPLES, ids=[line for line, _ in EXAMPLES])
def test_every_example_command_parses(line, argv):
    try:
        build_parser().parse_args(list(argv))
    except SystemExit as exc:  # argparse's way to refuse; --help exits 0
        assert exc.code == 0 and "--help" in argv, line


def test_the_readme_shows_every_subcommand_running_without_upstreams():
    readme = [tuple(argv) for _, argv in examples(README)]
    for command in SUBCOMMANDS:
        assert any(command in argv and _needs_no_upstream(argv) for argv in readme), command


RUNNABLE = [(line, argv) for line, argv in EXAMPLES if _needs_no_upstream(argv)]


@pytest.mark.parametrize(("line", "argv"), RUNNABLE, ids=[line for line, _ in RUNNABLE])
def test_every_example_that_needs_no_upstream_runs(line, argv, tmp_path):
    """As on a fresh clone: from a directory holding the shipped exporter.yaml."""
    shutil.copy(ROOT / "exporter.yaml", tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "exporter", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
    assert done.stdout.strip() or any(tmp_path.iterdir()), line


def test_the_readme_minimal_configuration_loads(tmp_path):
    block = next(body for lang, body in FENCE.findall(README) if lang == "yaml")
    path = tmp_path / "minimal.yaml"
    path.write_text(block)
    config = load(path, env={})
    assert config.prometheus.url == "http://prometheus:9090"
    assert config.facilities["IDAaaS"] == "ISIS"


def test_the_equivalency_table_is_the_one_the_exporter_serves():
    reports = (ROOT / "docs" / "reports.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| ([\d,.]+) \|", reports, re.M)
    assert {key: float(grams.replace(",", "")) for key, grams in rows} == {
        e.key: e.grams for e in TABLE
    }


def test_the_alerts_table_is_the_rules_file():
    files = ("ada-carbon-alerts.yml", "ada-carbon-budgets.yml")  # budgets: rules and alerts
    groups = [
        g for f in files for g in yaml.safe_load((ROOT / "prometheus" / f).read_text())["groups"]
    ]
    alerts = {
        r["alert"]: (r["for"], r["labels"]["severity"])
        for group in groups
        for r in group["rules"]
        if "alert" in r
    }
    page = (ROOT / "docs" / "dashboards-and-alerts.md").read_text()
    table = re.findall(r"^\| `(AdaCarbon\w+)` \| (\w+) \| (\w+) \|", page, re.M)
    assert {name: (duration, severity) for name, duration, severity in table} == alerts


def test_every_test_the_documents_cite_exists():
    defined = {
        name
        for path in (ROOT / "tests").rglob("*.py")
        for name in re.findall(r"^\s*def (test_\w+)", path.read_text(), re.M)
    }
    cited = {
        (path, name)
        for path, text in DOCUMENTS.items()
        for name in re.findall(r"`(test_\w+)`", text)
    }
    assert cited
    for path, name in cited:
        assert name in defined, f"{_name(path)} cites {name}"


def test_readme_opens_with_the_demo_and_test_commands():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert [
        line
        for line in ci.splitlines()
        if line and not line.startswith(("#", "set ", "cd ", "export "))
    ] == ["make test"]
