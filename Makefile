# The two commands: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check db-stop clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "VitalBridge needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

## run: embedded PostgreSQL (unless DATABASE_URL is set), migrate, seed, serve + relay
run: $(STAMP)
	$(BIN)/python -m vitalbridge.dev.run

## test: the whole suite against a throwaway PostgreSQL (or TEST_DATABASE_URL)
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

check: lint test

## db-stop: stop an embedded server left running by a killed `make run`
db-stop: $(STAMP)
	$(BIN)/python -c "from vitalbridge.dev.embedded import stop; from vitalbridge.dev.run import PGDATA; stop(PGDATA)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache var
