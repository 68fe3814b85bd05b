# erp-elt: two commands on a fresh clone.
#   make demo   installs everything, runs the demo client end to end, shows what landed
#   make test   runs every test (the CI entry point: .ci/run)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
# The fault matrix: a pytest suite, two trials at a time; it prints its table at the end.
MATRIX := $(PY) -m pytest reliability -q -n 2
PACKAGES := tap-erp plugins/target-s3 plugins/erp-sandbox plugins/erp-quality plugins/tryton-testbed plugins/erp-testing plugins/record-lines orchestration control_plane
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false
export MELTANO_CLI_DISABLE_VERSION_CHECK := true
export XDG_STATE_HOME := $(CURDIR)/.meltano/xdg-state

.PHONY: setup demo test lint format bench reliability soak services services-stop orchestrate control-plane clean backfill

setup: $(STAMP)  ## Install Meltano, the project's packages and its Meltano plugins

$(STAMP): requirements.txt meltano.yml $(wildcard clients/*.yml) $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) pip install --quiet --python $(PY) -r requirements.txt
	$(UV) pip install --quiet --python $(PY) --no-deps $(foreach p,$(PACKAGES),-e ./$(p))
	$(BIN)/meltano install
	@# Bytecode now, not at every start: with PYTHONDONTWRITEBYTECODE set or a read-only
	@# install, each Meltano, tap and loader process would compile its modules again.
	$(PY) -m compileall -qq -j 0 $(VENV)/lib .meltano/*/*/venv/lib $(PACKAGES) || true
	@touch $(STAMP)

demo: setup  ## Sandbox ERP + local S3 -> meltano run tap-erp target-s3 -> what landed
	$(PY) scripts/demo.py

test: setup lint  ## Every test: lint, each package's own suite, then the end-to-end tests
	@failed=""; \
	for suite in $(PACKAGES) .; do \
		echo "=== tests of $$suite"; \
		(cd $$suite && $(CURDIR)/$(PY) -m pytest -q) || failed="$$failed $$suite"; \
	done; \
	echo "=== reliability: the short fault matrix"; \
	$(MATRIX) --matrix=short || failed="$$failed reliability"; \
	if [ -n "$$failed" ]; then echo "FAILED suites:$$failed"; exit 1; fi; \
	echo "every suite passed"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

reliability: setup  ## The fault matrix (20 kill -9 trials, 20 in Delta commits, every API/S3 fault, bad input and state, security)
	$(MATRIX)

soak: setup  ## The long fault matrix (50 kill -9 trials, 50 in Delta commits, 3 per other fault)
	$(MATRIX) --matrix=soak

bench: setup  ## Throughput and memory of every contender (see bench/RESULTS.md)
	$(PY) bench/run.py

services: setup  ## Keep the sandbox ERP (:8765) and local S3 (:5555) running in the background
	$(PY) scripts/services.py start

orchestrate: setup  ## Dagster UI + daemon for every client (sandbox ERP, local S3, SQLite in .dagster/)
	$(PY) -m erp_orchestration serve --services

services-stop:
	$(PY) scripts/services.py stop

control-plane: setup  ## The control-plane API (SQLite, encrypted secret file) on :8780; prints its URL
	$(PY) -m erp_control_plane --create-token

clean:
	rm -rf $(VENV) .meltano .dagster output .pytest_cache .ruff_cache

backfill: setup  ## Re-extract one stream of one client: make backfill ENV=acme STREAM=products [FROM=2024-01-01]
	$(PY) scripts/backfill.py --environment "$(ENV)" --stream "$(STREAM)" $(if $(FROM),--from "$(FROM)")
