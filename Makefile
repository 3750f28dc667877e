# Every target bootstraps what it needs (.venv, node_modules) on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# jsii (cdk8s) runs on the project-local Node 22 from node_modules, never the system one.
# The CLI would otherwise ask the npm registry for a newer version on every synth.
export CDK8S_CHECK_UPGRADE := false
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help toolchain synth config-docs image push release test test-cluster test-fast snapshots run lint bench dashboards rehearse power setup clean
.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sort \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

# The settings file and output folder of `make synth` (and `make release`).
VALUES ?= $(or $(ORDER_API_SRE_VALUES),values.yaml)
OUT ?= dist

# Then the Canary's headline odds; CHECK=1 fails (exit 1) when they are out of bounds.
synth: $(VENV)/.synth-installed node_modules/.installed ## Synthesize VALUES (values.yaml) into OUT (dist/), kept as it was on any error; CHECK=1: strict odds
	@$(PY) -m synth.main --values $(VALUES) --output $(OUT)
	@$(PY) -m rehearsal.power --headline --dist $(OUT) $(if $(CHECK),--check)

test: setup toolchain ## Run every test, the cluster tiers included (what CI runs; root)
	$(PY) -m pytest --durations=8

test-cluster: setup toolchain ## Only the local-cluster and real-Flagger tiers (root)
	$(PY) -m pytest -m cluster

test-fast: setup ## Run the tests that start no real process (well under a minute)
	$(PY) -m pytest -m 'not live' -q

config-docs: $(VENV)/.installed ## Regenerate docs/configuration.md from the typed config
	$(PY) -m stack.reference

snapshots: setup ## Accept changed output snapshots after reviewing the diff
	$(PY) -m pytest -q tests/synth/test_synth_snapshots.py tests/dashboards/test_dashboards_snapshots.py --snapshot-update

run: $(VENV)/.installed ## Serve order-api on 127.0.0.1:8080
	$(VENV)/bin/order-api --host 127.0.0.1 --port 8080

lint: $(VENV)/.installed ## ruff check, ruff format --check and mypy over every package
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy

bench: $(VENV)/.installed ## wrk: plain Sanic vs the guarded bare endpoint vs the order endpoint (ARGS=--check: exit 1 on a missed target)
	$(PY) -m perf.bench $(ARGS)

image: $(VENV)/.installed ## Build <registry>/<repository>:<tag> of VALUES with Docker, else buildah (prints it)
	@$(PY) -m release image --values $(VALUES)

push: $(VENV)/.installed ## Push that image with your existing registry login
	@$(PY) -m release push --values $(VALUES)

release: setup ## TAG=x.y.z: build that image, write the tag into VALUES, synthesize OUT
	@$(PY) -m release release --tag "$(TAG)" --values $(VALUES) --output $(OUT)

dashboards: $(VENV)/.installed ## Write the Grafana dashboards as JSON to dist/dashboards/
	$(PY) -m dashboards.export

# A verdict (promoted 0, rolled back 1) is a finished rehearsal: make exits 0 for
# both and the verdict block says which; 2 (could not run) and 130 stay errors.
rehearse: setup ## Rehearse a canary release locally (real Traefik + Prometheus)
	@$(PY) -m rehearsal $(if $(ENGINE),--engine $(ENGINE)) $(ARGS); rc=$$?; [ $$rc -le 1 ] || exit $$rc

CHART ?= build/canary-power.png
power: $(VENV)/.installed ## What the Canary's gates detect: P(promote) curves, table and CHART=build/canary-power.png
	@$(PY) -m rehearsal power --chart $(CHART) $(ARGS)

setup: $(VENV)/.installed node_modules/.installed

toolchain: $(VENV)/.installed ## Build the pinned Kubernetes, etcd, Flagger, CoreDNS, Prometheus, Alertmanager, hey, the local checkers and the node (cached)
	$(PY) -m toolchain build

# The image's pins constrain the dev venv too: tests run what the image ships.
# The dev set includes the synth extra, so it stamps both.
$(VENV)/.installed: pyproject.toml service/requirements.txt
	@echo "setup: Python virtualenv in $(VENV) (first run: about a minute)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check \
		--constraint service/requirements.txt -e '.[dev]'
	@touch $@ $(VENV)/.synth-installed

# `make synth` alone needs only cdk8s, grafanalib and PyYAML (the synth extra).
$(VENV)/.synth-installed: pyproject.toml service/requirements.txt
	@echo "setup: Python virtualenv in $(VENV) with what synthesis needs"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check \
		--constraint service/requirements.txt -e '.[synth]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo "setup: Node 22 and the cdk8s CLI in node_modules (npm ci)"
	@npm ci --no-fund --no-audit --loglevel=error
	@touch $@

clean: ## Remove the virtualenv, node_modules and caches
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .mypy_cache build

.PHONY: cluster cluster-down
# VALUES (only when given) is synthesized into the run directory and applied instead of dist/.
cluster: toolchain ## Local Kubernetes in its own network namespace (root), dist/ (or VALUES=...) applied, Canary Initialized
	$(PY) -m cluster up $(if $(filter command line environment,$(origin VALUES)),--values $(VALUES))

cluster-down: $(VENV)/.installed ## Stop the local cluster: no process, namespace, mount or folder left
	$(PY) -m cluster down
