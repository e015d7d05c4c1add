# The two commands: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NEEDS_PYTHON := import sys; sys.exit(sys.version_info < (3, 11))
# The Python installation an interpreter belongs to (a venv's is the one it was made from).
installation = $(shell $(1) -c 'import os, sys; print(os.path.realpath(sys.base_prefix))' 2>/dev/null)

.PHONY: run test lint check db-stop clean remake-venv bench bench-quick topology \
	topology-down topology-test backup-drill

# A PYTHON given to this make (environment or command line) that is not the one .venv
# was made from makes .venv again; the default python3 never replaces an existing one.
ifneq ($(filter environment command line,$(origin PYTHON)),)
ifneq ($(call installation,$(PYTHON)),$(call installation,$(BIN)/python))
$(STAMP): remake-venv
endif
endif

remake-venv:
	@$(PYTHON) -c '$(NEEDS_PYTHON)' || \
		{ echo "VitalBridge needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
	rm -rf $(VENV)

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c '$(NEEDS_PYTHON)' || \
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

## bench: the harness (bench/harness.py) at 1 % and full size; appends to bench/RESULTS.md
bench: $(STAMP)
	$(BIN)/python -m bench.harness --scales 0.01 1 --seconds 15 --results bench/RESULTS.md

## bench-quick: the same at 1 % size with 3-second runs; prints the tables only
bench-quick: $(STAMP)
	$(BIN)/python -m bench.harness --scales 0.01 --seconds 3

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

check: lint test

## topology: primary + replica, 2 gunicorns, 2 relays, 2 schedulers, nginx (deploy/README.md)
topology: $(STAMP)
	$(BIN)/python -m deploy.topology up

## topology-down: stop everything `make topology` started (idempotent)
topology-down: $(STAMP)
	$(BIN)/python -m deploy.topology down

## topology-test: up, the failover drills, down; exit 0 when every drill passed
topology-test: $(STAMP)
	$(BIN)/python -m deploy.topology test

## backup-drill: the backup drills (pgBackRest), each on a topology of its own; exit 0 when all pass
backup-drill: $(STAMP)
	$(BIN)/python -m deploy.topology backup-drill

## db-stop: stop an embedded server left running by a killed `make run`
db-stop: $(STAMP)
	$(BIN)/python -c "from vitalbridge.dev.embedded import stop; from vitalbridge.dev.run import PGDATA; stop(PGDATA)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache var
