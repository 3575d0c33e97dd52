# qmsbot — developer commands.
#
#   make venv       .venv with the package (editable), PostgreSQL's driver and the dev tools (what the tests need)
#   make run        installs the runtime only (pip install -e .), then the bot: `qmsbot run` if TELEGRAM_BOT_TOKEN is set (environment or .env),
#                   otherwise `qmsbot sandbox` (emulated Telegram + web chat on http://127.0.0.1:8765)
#   make test       ruff, mypy and the test suite (pytest)
#   make lint       ruff
#   make typecheck  mypy
#   make check      the same as make test
#   make bench      python -m bench
#   make clean      remove the venv, caches and build output (not your database or .env)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
# python3.11 if present, else python3; the venv recipe checks that it is 3.11 or newer.
PYTHON  ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null || echo python3)
PACKAGES := core storage texts scheduler handlers bot sandbox

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv run test lint typecheck check bench clean

help:
	@sed -n '3,12s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

venv: $(DEV_STAMP)

# The runtime alone for `make run`; the dev extras (test tools, PostgreSQL's driver) on top for the tests.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { \
	  echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())' 2>/dev/null || echo '?'); qmsbot needs 3.11 or newer (make PYTHON=/path/to/python3.11)" >&2; \
	  exit 1; }
	@if [ ! -x $(BIN)/python ]; then echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(STAMP)
	@if [ -n "$${TELEGRAM_BOT_TOKEN:-}" ] || { [ -f .env ] && \
	     grep -Eq "^[[:space:]]*(export[[:space:]]+)?TELEGRAM_BOT_TOKEN[[:space:]]*=[[:space:]]*[\"']?[^\"'[:space:]#]" .env; }; then \
	  exec $(BIN)/qmsbot run; \
	else \
	  echo "TELEGRAM_BOT_TOKEN is not set (environment or .env): starting the sandbox"; \
	  exec $(BIN)/qmsbot sandbox; \
	fi

# The house rules (ruff, mypy) are part of the tests: a change that breaks them does not pass.
test: lint typecheck
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy $(PACKAGES)

check: test

bench: $(DEV_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis artifacts
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
