"""``ada-carbon-exporter report``: a period's energy and carbon, by facility, project, group,
user, experiment or PI.

:mod:`exporter.commands.report.fetch` reads the exporter's series back from Prometheus,
:mod:`.gather` decides between them and a computation from raw data, :mod:`.compute`
does the sums, :mod:`.render` writes a table, CSV or JSON, and :mod:`.command` is the CLI.
"""
