# bmadweb: `make run` starts everything on embedded defaults, `make test` runs the suite.
# Needs only Python 3.12+, git and make; uv is installed into var/ on first use.

SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT ?= .venv

PYTHON ?= $(shell command -v python3.12 || command -v python3)
UV := $(shell command -v uv 2>/dev/null || echo var/tools/bin/uv)
MANAGE := $(UV) run --frozen python manage.py
PYTEST_ARGS ?=

.PHONY: run test lint typecheck check deps clean-var mutation

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

lint: deps
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports --no-cache
	$(MANAGE) makemigrations --check --dry-run

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
