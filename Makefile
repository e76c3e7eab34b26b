# bmadweb: `make run` starts everything on embedded defaults, `make test` runs the suite.
# Needs only Python 3.12+, git and make; uv is installed into var/ on first use.

SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT ?= .venv

PYTHON ?= $(shell command -v python3.12 || command -v python3)
UV := $(shell command -v uv 2>/dev/null || echo var/tools/bin/uv)
MANAGE := $(UV) run --frozen python manage.py
PYTEST_ARGS ?=

.PHONY: run test lint audit typecheck check deps clean-var mutation

var/tools/bin/uv:
	@mkdir -p var
	$(PYTHON) -m venv var/tools
	var/tools/bin/python -m pip install --quiet --disable-pip-version-check uv

deps: $(if $(findstring var/tools,$(UV)),var/tools/bin/uv)
	$(UV) sync --frozen --quiet

run: deps
	$(MANAGE) devserver

test: deps
	$(UV) run --frozen pytest $(PYTEST_ARGS)

# Ruff's S rules (bandit's checks) run on every file ruff sees: all code but the vendored
# static assets and var/. Accepted exceptions: docs/security.md#supply-chain.
lint: deps audit
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports --no-cache
	$(MANAGE) makemigrations --check --dry-run

# pip-audit on the locked dependencies, against PyPI's vulnerability data. Where that data
# cannot be reached (a machine that reaches only a package index mirror, as CI's does),
# pip-audit reports every package "not found on PyPI": the target then says so and passes,
# unless BMADWEB_AUDIT_REQUIRED is set (docs/security.md#supply-chain says why).
AUDIT_REQUIREMENTS := var/requirements-audit.txt
audit: deps
	@mkdir -p var
	@$(UV) export --frozen --quiet --format requirements-txt --no-emit-project --all-groups \
		--output-file $(AUDIT_REQUIREMENTS)
	@set +e; \
	out=$$($(UV) run --frozen pip-audit --disable-pip --require-hashes \
		--progress-spinner off -r $(AUDIT_REQUIREMENTS) 2>&1); status=$$?; set -e; \
	if echo "$$out" | grep -q "could not be audited: django ("; then \
		echo "pip-audit: NOT RUN. PyPI's vulnerability data cannot be reached from this"; \
		echo "machine (every locked package reads 'not found on PyPI'). Run 'make audit'"; \
		echo "where PyPI's JSON API answers; BMADWEB_AUDIT_REQUIRED=1 makes this an error."; \
		if [ -n "$$BMADWEB_AUDIT_REQUIRED" ]; then exit 1; fi; \
	elif echo "$$out" | grep -q "could not be audited"; then \
		echo "$$out"; echo "pip-audit: some locked packages could not be audited"; exit 1; \
	else \
		echo "$$out"; exit $$status; \
	fi

typecheck: deps
	$(UV) run --frozen mypy bmadweb projects provisioning

check: lint typecheck test

# Mutation testing of the engine's merge and plan, the webhook checks, the URL policy and
# the audit chain, one module at a time (slow; not in CI). MODULES="merge audit" narrows
# it; scores and surviving mutants land in var/mutation/ (see docs/mutation.md).
MODULES ?=
mutation: deps
	$(UV) run --frozen python tools/mutation.py $(MODULES)

clean-var:
	rm -rf var
