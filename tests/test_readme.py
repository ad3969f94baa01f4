"""The README stays true to the code: every exported family is documented, and the
test command CI runs is the one the README opens with."""

from pathlib import Path

from exporter.collectors import SPECS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_family_is_in_the_metrics_table():
    for spec in SPECS.values():
        assert f"| `{spec.name}` |" in README, spec.name


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
