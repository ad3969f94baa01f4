"""Shared pytest configuration: real-server fixtures, and no silent skips in CI."""

import os

import pytest

from tests.harness.fixtures import *  # noqa: F403


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (CI=true or ADA_REQUIRE_INTEGRATION=1) any skipped test is reported as failed.

    A test that needs Prometheus may skip on a laptop without it; in CI a skip
    would hide missing coverage, so it fails the run instead.
    """
    outcome = yield
    report = outcome.get_result()
    required = (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("ADA_REQUIRE_INTEGRATION") == "1"
    )
    if required and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {report.longrepr}"
