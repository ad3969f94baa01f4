# Two entry points, each setting up what it needs:
#   make demo  - install into .venv and run the exporter on its built-in demo fleet
#   make test  - install into .venv (plus Debian's prometheus and victoria-metrics if
#                missing) and run every check
# CI (.ci/run) runs `make test`; with CI=true a skipped integration test fails the run.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LISTEN ?= :9877

.PHONY: demo test setup setup-test system-deps lint unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install --quiet -e .

setup-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

# The end-to-end tests run a real Prometheus (and promtool) and a real VictoriaMetrics
# (and vmalert, in the same Debian package). Installed when missing and we are root
# (CI, fresh machines); otherwise say how.
system-deps:
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian package prometheus (for the end-to-end tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	else echo "note: prometheus/promtool missing; run 'sudo apt-get install prometheus' or the end-to-end tests will skip"; fi
	@if command -v victoria-metrics >/dev/null && command -v vmalert >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian package victoria-metrics (for the end-to-end tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends victoria-metrics >/dev/null; \
	else echo "note: victoria-metrics/vmalert missing; run 'sudo apt-get install victoria-metrics' or its end-to-end tests will skip"; fi

demo: setup
	$(BIN)/ada-carbon-exporter --demo --web.listen-address=$(LISTEN)

lint: setup-test
	$(BIN)/ruff check exporter tests benchmarks
	$(BIN)/ruff format --check exporter tests benchmarks
	$(BIN)/mypy

unit: setup-test system-deps
	$(BIN)/pytest

test: setup-test system-deps lint unit

# Scrape benchmark against a real Prometheus and nx-27017 on loopback (not part of
# `make test`; tier S also runs there as tests/e2e/test_benchmark_smoke.py):
#   make bench TIER=M            S = 200 hosts (~1.5 min), M = 2,000 (~4 min), L = 10,000 (~25 min)
#   make bench TIER=L BENCH_ARGS='--json L.json'
TIER ?= S
bench: setup-test system-deps
	$(BIN)/python -m benchmarks.scrape --tier $(TIER) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
