# Buzzline: `make demo` plays a show on this machine, `make test` runs the full suite.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
ARGS    ?=

.PHONY: all demo test test-fast vectors firmware-check lint format bench clean

all: test

# pip -qq: errors only (setuptools' notice about editable layouts is nothing a user can act on)
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --quiet --upgrade pip
	$(BIN)/pip install --quiet --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/buzzline demo --audience 20 $(ARGS)

# The whole suite: protocol vectors under both interpreters, firmware build checks, lint,
# unit, property and integration tests against real brokers and the real MicroPython.
test: $(STAMP)
	@echo "== protocol vectors under CPython and MicroPython"
	$(BIN)/python protocol/run_vectors.py
	$(BIN)/micropython protocol/run_vectors.py
	@echo "== firmware build checks"
	$(MAKE) --no-print-directory firmware-check
	@echo "== lint: ruff and mypy --strict"
	$(MAKE) --no-print-directory lint
	@echo "== pytest (two workers: the suite mostly waits on real processes, each test on its own ports)"
	$(BIN)/pytest -q -n 2 $(ARGS)

firmware-check: $(STAMP)
	@if [ -f firmware/check.sh ]; then bash firmware/check.sh; else echo "no firmware yet"; fi

lint: $(STAMP)
	$(BIN)/ruff check host protocol tests bench firmware examples
	$(BIN)/ruff format --check host protocol tests bench firmware examples
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format host protocol tests bench firmware examples
	$(BIN)/ruff check --fix host protocol tests bench examples

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
