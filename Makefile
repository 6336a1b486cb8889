# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: run test fuzz lint typecheck check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/switchboard serve $(ARGS)

test: $(STAMP)
	sh scripts/install-sip-peers.sh
	sh scripts/install-browser.sh
	sh scripts/install-postgres.sh
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	# -rfEs: the summary lists failures, errors, and every skipped test with its reason, so a
	# green run that skipped something says so (under CI=true a skip fails the run).
	# Two workers (pytest-xdist), each taking whole modules (their servers are module fixtures);
	# PYTEST_WORKERS=0 runs in this process, one test after another.
	$(BIN)/python -m pytest -rfEs -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The contract test against Bandwidth's OpenAPI spec, with many more examples than `make test`.
FUZZ_EXAMPLES ?= 1000
fuzz: $(STAMP)
	SWITCHBOARD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/contract $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/create_call.py

# Issue 5: 1,000 calls across a failing, restarting receiver and a SIGKILL of Switchboard.
.PHONY: bench-faults
bench-faults: $(STAMP)
	$(BIN)/python bench/faults.py $(ARGS)

# The web console's screenshots in docs/img (docs/console.md), taken by its browser test.
.PHONY: console-screenshots
console-screenshots: $(STAMP)
	sh scripts/install-browser.sh
	SWITCHBOARD_SCREENSHOTS=docs/img $(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: bench-call-flow bench-concurrency bench-list bench-limits

bench-call-flow: $(STAMP)
	$(BIN)/python bench/call_flow.py $(ARGS)

bench-concurrency: $(STAMP)
	$(BIN)/python bench/concurrency.py $(ARGS)

bench-list: $(STAMP)
	$(BIN)/python bench/list_calls.py $(ARGS)

bench-limits: $(STAMP)
	$(BIN)/python bench/limits_overhead.py $(ARGS)

# Concurrent SIP calls playing speech: RTP send lateness, CPU and memory per call (issue 6).
.PHONY: bench-sip
bench-sip: $(STAMP)
	$(BIN)/python bench/sip_concurrency.py $(ARGS)

# Inbound calls/s against call_flow's outbound calls/s on the same server, 3 rounds (issue 11).
.PHONY: bench-inbound
bench-inbound: $(STAMP)
	$(BIN)/python bench/inbound.py $(ARGS)

# Complete <Transfer> flows/s against call_flow's calls/s on the same server, 3 rounds (issue 12).
.PHONY: bench-transfer
bench-transfer: $(STAMP)
	$(BIN)/python bench/transfer.py $(ARGS)

# Complete calls per CPU-second on SQLite, PostgreSQL and 2 nodes, and the takeover time after a
# SIGKILL (issue 18); PostgreSQL 15 from Debian as `make test` installs it.
.PHONY: bench-nodes
bench-nodes: $(STAMP)
	sh scripts/install-postgres.sh
	$(BIN)/python bench/nodes.py $(ARGS)
