"""``ada-carbon-exporter report``: a period's energy and carbon, by facility, project, group,
user, experiment or PI.

:mod:`.fetch` reads the exporter's series back from Prometheus, :mod:`.gather`
decides between them and a computation from raw data, :mod:`.compute` does the
sums, :mod:`.render` writes a table, CSV or JSON, and :mod:`.command` is the CLI.
"""

from __future__ import annotations


class ReportError(Exception):
    """The report cannot be made. The message is one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code
