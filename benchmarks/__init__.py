"""Benchmarks of ada-carbon-exporter against real upstreams (not part of the unit suite).

Run ``python -m benchmarks.scrape --help`` from the repository root.
"""
