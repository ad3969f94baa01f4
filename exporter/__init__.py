"""ada-carbon-exporter: energy and carbon of Ada workspaces as Prometheus metrics."""

__version__ = "0.1.0"
