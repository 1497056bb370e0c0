# Recoup: the two quick-start targets are `make demo` and `make test`.
# Both set everything up first (Debian packages, virtualenv, project install); set-up is idempotent.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup system venv demo test lint clean

setup: system venv

# Debian packages the runtime and tests need: Chromium for the browser, Dovecot for real IMAP/LMTP.
system:
	@bash .ci/system-packages

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# Main job on the embedded sandbox.
demo: setup
	@$(VENV)/bin/python -m bot demo

# The whole test suite (real Chromium, Dovecot, the sandbox; PostgreSQL where it answers).
test: setup
	@$(VENV)/bin/python -m pytest -q -p no:cacheprovider

lint: venv
	@$(VENV)/bin/ruff check bot flows sandbox tests benchmarks
	@$(VENV)/bin/mypy bot flows

clean:
	rm -rf $(VENV) .pytest_cache
