# Two commands do all the set-up: `make demo` and `make test` (both create .venv and install).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit notebooks bench bench-accuracy examples clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rca demo

lint: $(STAMP)
	$(BIN)/ruff check rca_kit tests bench
	$(BIN)/ruff format --check rca_kit tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

notebooks: $(STAMP)
	$(BIN)/pytest --nbval-lax notebooks/templates

test: lint typecheck unit notebooks

bench: $(STAMP)
	$(BIN)/python bench/bench_investigate.py
	$(BIN)/python bench/bench_serve.py
	$(BIN)/python bench/bench_serve_warm.py
	$(BIN)/python bench/bench_reports.py
	$(BIN)/python bench/bench_harvest.py
	$(BIN)/python bench/bench_snapshot.py
	$(BIN)/python bench/bench_storm.py --alerts 10
	$(BIN)/python bench/bench_commands.py

# every scenario family (README.md, Accuracy), 3 fresh seeds per fault: about 10 minutes on 2
# idle cores (longer while templates run into their timeout_s)
PER_FAULT ?= 10
bench-accuracy: $(STAMP)
	$(BIN)/python bench/bench_accuracy.py --per-fault $(PER_FAULT)

examples: $(STAMP)
	$(BIN)/python -m rca_kit.scaffold

clean:
	rm -rf investigations reports/*.html reports/assets reports/inv-* rca.db rca.db-* rca-demo .pytest_cache .mypy_cache .ruff_cache
