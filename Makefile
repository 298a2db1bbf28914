# The two commands a new user types: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench reliability clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tracker migrate
	$(BIN)/tracker serve --first-run

lint: $(STAMP)
	$(BIN)/ruff check tracker tests migrations
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks

reliability: $(STAMP)
	$(BIN)/pytest -m slow --override-ini="addopts=-q -p no:cacheprovider" tests

clean:
	rm -rf $(VENV) tracker.db tracker.db-wal tracker.db-shm
