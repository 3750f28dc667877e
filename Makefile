# Every target bootstraps what it needs (.venv, node_modules) on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# jsii (cdk8s) runs on the project-local Node 22 from node_modules, never the system one.
# The CLI would otherwise ask the npm registry for a newer version on every synth.
export CDK8S_CHECK_UPGRADE := false
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: synth test run lint bench image dashboards rehearse setup toolchain clean

synth: setup ## Synthesize the whole stack into dist/ (the main job)
	cdk8s synth

test: setup toolchain ## Run the whole test suite
	$(PY) -m pytest

run: $(VENV)/.installed ## Serve order-api on 127.0.0.1:8080
	$(VENV)/bin/order-api --host 127.0.0.1 --port 8080

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.installed ## wrk benchmark: instrumented order endpoint vs a bare endpoint
	$(PY) -m order_api.bench

image: ## Build the order-api container image (needs a Docker engine)
	docker build -f service/Dockerfile -t order-api:$$($(PYTHON) -c 'import re,sys;print(re.search(r"__version__ = \"(.+)\"", open("service/order_api/__init__.py").read())[1])') .

dashboards: $(VENV)/.installed ## Write the Grafana dashboards as JSON to dist/dashboards/
	$(PY) -m dashboards.build

rehearse: setup ## Rehearse a canary release locally (real Traefik + Prometheus)
	$(PY) -m rehearsal $(ARGS)

setup: $(VENV)/.installed node_modules/.installed

toolchain: $(VENV)/.installed ## Build the pinned Kubernetes, etcd, Flagger, CoreDNS, Prometheus, hey (cached)
	$(PY) -m toolchain build

# The image's pins constrain the dev venv too: tests run what the image ships.
$(VENV)/.installed: pyproject.toml service/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check \
		--constraint service/requirements.txt -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-fund --no-audit --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache

.PHONY: cluster cluster-down
cluster: toolchain ## Local Kubernetes in its own network namespace (root), dist/ applied, Canary Initialized
	$(PY) -m cluster up

cluster-down: $(VENV)/.installed ## Stop the local cluster: no process, namespace, mount or folder left
	$(PY) -m cluster down
