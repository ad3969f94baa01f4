"""The exporter's command line as a user runs it: ``python -m exporter ...`` in a child process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def exporter(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the exporter's command line from the project's root; its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "exporter", "--log.level=warn", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
