# vetchart — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format install clean bench help

help:
	@echo "make run    - install, migrate, load demo data, serve on http://127.0.0.1:8000"
	@echo "make test   - install and run the whole test suite on a real PostgreSQL"
	@echo "make lint   - ruff, ruff format --check, mypy --strict (src, the test fakes), import-linter"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# make run transcribes visit recordings offline (PocketSphinx, in the dev install) unless
# VETCHART_STT_PROVIDER says otherwise (docs/transcription.md).
STT_PROVIDER := VETCHART_STT_PROVIDER=$${VETCHART_STT_PROVIDER:-local}
run: $(STAMP)
	$(BIN)/vetchart db upgrade
	$(STT_PROVIDER) $(BIN)/vetchart demo seed
	$(STT_PROVIDER) $(BIN)/vetchart serve

# Two xdist workers (this project's machines have 2 cores; `make test PYTEST_XDIST=-n4`,
# or `PYTEST_XDIST=` for one process). Each worker has its own template and databases.
PYTEST_XDIST ?= -n 2 --dist worksteal
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src tests/fixtures tests/unit/services
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# `make bench`: issue 12's side-by-side table (bench/compare.py; BENCH_ARGS="--only list200"
# etc.). Any other benchmark by name: `make bench-scale`, `make bench-records_amend`, ...
bench: $(STAMP)
	$(BIN)/python -m bench.compare $(BENCH_ARGS)

bench-%: $(STAMP)
	$(BIN)/python -m bench.$* $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
