# The few commands people type. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Tool versions live here and in the lockfiles (uv.lock, ci/uv.lock); nowhere else.
UV_VERSION := 0.13.9
TOOLS := .tools
UV ?= $(TOOLS)/bin/uv
PYTEST := $(UV) run --locked pytest
REPORTS := reports
# Test workers: most end-to-end tests wait on operations and windows, not on the CPU, so the
# 2-core machine runs five at once (`make test WORKERS=2` for a quieter machine); the tests that
# compare latencies under a load of their own run one at a time, at a higher CPU priority
# (tests/conftest.py).
WORKERS ?= 5
# Bytecode: uv compiles the installed packages once, at sync, and every process of the suite may
# cache what it compiles. Where PYTHONDONTWRITEBYTECODE is set, each of the suite's thousands of
# Python processes (test workers, revisions, CLIs, scanners) compiled the same sources again, and
# pytest rewrote every test module's asserts again in every worker.
export UV_COMPILE_BYTECODE := 1
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help bootstrap sync provision test unit ci lint typecheck security fmt bench mutation release clean

help: ## List the commands.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@echo "==> installing uv $(UV_VERSION) into $(TOOLS)/"
	@python3 -m venv $(TOOLS)
	@$(TOOLS)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

bootstrap: $(UV) ## Install uv (pinned) if missing.

sync: bootstrap ## Install the locked dependencies into .venv.
	@$(UV) sync --locked --quiet

provision: sync ## Prepare the host once: Debian packages, dockerd, local base images, emulators check.
	$(UV) run --locked python -m tests.support.provision

test: sync provision ## The whole suite, then the coverage gates per package (starts its own daemons).
	@mkdir -p $(REPORTS)
	$(PYTEST) -n $(WORKERS) --dist loadgroup --cov --cov-report=term --cov-report=xml:$(REPORTS)/coverage.xml \
		--junitxml=$(REPORTS)/junit.xml
	$(UV) run --locked python -m tests.support.coverage_gates

unit: sync ## Fast unit tier for the edit loop (no emulators, no docker).
	$(PYTEST) -m unit -q

ci: sync ## `dagger call ci` when an engine is usable, otherwise the same gates on the host.
	@if command -v dagger >/dev/null 2>&1 && dagger core version >/dev/null 2>&1; then \
		dagger call ci; \
	else \
		echo "make ci: no Dagger CLI with a working engine found; running the same gates on the host"; \
		$(UV) run --locked python -m clarity.gates all; \
	fi

lint: sync ## ruff format --check and ruff check.
	$(UV) run --locked python -m clarity.gates lint

typecheck: sync ## mypy strict over src/, ci/ and tests/.
	$(UV) run --locked python -m clarity.gates typecheck

security: sync ## bandit, checkov, zizmor, actionlint, hadolint, shellcheck.
	$(UV) run --locked python -m clarity.gates security

fmt: sync ## Format and autofix.
	$(UV) run --locked ruff format .
	$(UV) run --locked ruff check --fix .

bench: sync provision ## Benchmarks: rollback times, build times, image sizes (prints tables).
	$(UV) run --locked python -m benchmarks

mutation: sync ## Mutation testing of the delivery library and release tool (slow; PATHS=... narrows it, SAMPLE=N [SEED=S] samples its slow pass).
	$(UV) run --locked python -m tests.support.mutation $(if $(SAMPLE),--sample $(SAMPLE)) $(if $(SEED),--seed $(SEED)) $(if $(CHILDREN),--children $(CHILDREN)) $(PATHS)

release: sync ## Cut a release: next version, CHANGELOG.md section, annotated tag (DRY_RUN=1 previews).
	$(UV) run --locked python -m clarity_release $(if $(DRY_RUN),--dry-run)

clean: ## Remove local artefacts (not .tools/).
	rm -rf .venv $(REPORTS) .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* mutants
