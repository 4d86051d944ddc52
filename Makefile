# The two commands of the README: `make demo` and `make test`. Both create .venv from
# the system Python on first use, so a fresh machine needs nothing but Python >= 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/assistant demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/bench_scoring.py
	$(BIN)/python bench/bench_votes.py
	$(BIN)/python bench/bench_cluster.py
	$(BIN)/python bench/bench_surge.py
	$(BIN)/python bench/bench_memory.py
	$(BIN)/python bench/bench_home.py

clean:
	rm -rf $(VENV) .assistant .pytest_cache .mypy_cache .ruff_cache
