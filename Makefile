# Two entry points, both safe on a fresh clone (they set up what they need):
#   make demo   set up, then run the main job on the bundled example stack
#   make demo-live  the same, its Pulumi part against a local live cluster (docs/live-cluster.md)
#   make test   set up, then lint, type-check, check import layers and run every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What the install is built from: a change to any of them reinstalls (and recompiles the C walk).
INSTALL_INPUTS := pyproject.toml hatch_build.py iac/render/_yaml_walk.c
STAMP := $(VENV)/.installed-$(shell cat $(INSTALL_INPUTS) | cksum | cut -d' ' -f1)

.PHONY: setup demo demo-live test lint schema bench bench-gateway golden

$(STAMP): $(INSTALL_INPUTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

demo: setup
	IAC=$(BIN)/iac bash scripts/demo.sh

demo-live: setup
	IAC=$(BIN)/iac bash scripts/demo.sh --live

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

# Regenerate committed outputs (schemas, golden files, expected diagnostics) after a
# deliberate change; review the diff before committing.
golden: setup
	$(BIN)/iac schema --kind stack > schema/stack.schema.json
	$(BIN)/iac schema --kind module > schema/module.schema.json
	$(BIN)/python -m pytest --update-golden -q

bench: setup
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/simulate.py
	$(BIN)/python benchmarks/pulumi_up.py
	$(BIN)/python benchmarks/kubectl_anchor.py

# Requests through a real Gateway during rollouts (a live cluster, Traefik, the Pulumi
# engine: built on first use, then about 7 minutes).
bench-gateway: setup
	$(BIN)/python benchmarks/gateway.py
