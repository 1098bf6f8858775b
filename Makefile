# workqueue-operator: every install, build and test step lives here or in scripts/.
SHELL := /bin/bash
VENV := .venv/bin
PYTEST_ARGS ?=

.PHONY: help down setup cluster-up cluster-down cluster-status node-up node-down node-status crds lint test test-unit demo demo-down clean images test-images

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: ## install Debian packages, .venv, and build the control plane (cached)
	bash scripts/setup.sh

cluster-up: ## start the local control plane (etcd, apiserver, controller-manager, scheduler, KWOK)
	bash e2e/cluster/up.sh

cluster-down: ## stop the local control plane (keeps binaries and state)
	bash e2e/cluster/down.sh

cluster-status: ## show the local control plane's components and nodes
	bash e2e/cluster/status.sh

node-up: ## join the real node (kubelet + containerd + CoreDNS + registry) to the control plane
	bash e2e/node/up.sh

node-down: ## stop the real node (keeps images and certificates)
	bash e2e/node/down.sh

node-status: ## show the real node's components
	bash e2e/node/status.sh

crds: ## regenerate crds/ from the pydantic models (and the Helm chart's copies)
	$(VENV)/workqueue-operator crds --write crds
	cp crds/*.yaml helm/workqueue-operator/crds/

lint: ## ruff, mypy --strict, the import layers (lint-imports) and shellcheck
	$(VENV)/ruff check operator tests e2e bench scripts
	$(VENV)/ruff format --check operator tests e2e bench scripts
	$(VENV)/mypy --strict operator/workqueue_operator
	$(VENV)/lint-imports
	shellcheck -x -P SCRIPTDIR $$(git ls-files '*.sh') .ci/run

test-unit: ## unit tests only (no cluster, no CCTools)
	$(VENV)/pytest tests/unit $(PYTEST_ARGS)

test: setup ## set up, lint, and run every test against the local control plane and real CCTools
	$(MAKE) lint
	bash e2e/cluster/up.sh
	@# The real node's tests skip when this machine lacks a capability (up.sh exit status 3,
	@# with the reason) and fail when it breaks otherwise: either way the other tests run.
	bash e2e/node/up.sh || echo "e2e/node/up.sh exited $$?: the real-node tests will say why"
	$(VENV)/pytest tests $(PYTEST_ARGS)

images: ## build the container images on a local mmdebstrap base (cached by content; docs/images.md)
	bash images/build.sh

test-images: ## build the images (cached) and run each one once
	$(VENV)/pytest tests/integration/test_images.py $(PYTEST_ARGS)

demo: ## set up (cached), bring up the cluster and real node if down, run the demo (scripts/demo.py)
	bash scripts/demo.sh

demo-down: ## remove everything the demo made (namespace, volume, processes); the cluster stays up
	bash scripts/demo.sh --down

down: ## stop everything the tests and the demo started: the real node (and its registries), the control plane, the images' dockerd
	bash e2e/node/down.sh
	bash e2e/cluster/down.sh
	bash images/stop-dockerd.sh

clean: ## remove .venv and caches in the repo (not ~/.cache)
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
