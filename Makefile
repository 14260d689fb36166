# The two set-up commands of the README: `make run` and `make test`. Each creates .venv and installs what is missing.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python

.PHONY: run test test-fast stop venv venv-test services

## make run: Label Studio + the LLMaAA backend + a local LLM + a demo project (Ctrl-C stops what it started)
run: venv
	$(PY) scripts/stack.py $(ARGS)

## make test: every test, including the local-LLM, Label Studio and browser end-to-end tests
test: venv-test services
	$(PY) -m pytest $(PYTEST_ARGS)

## make test-fast: unit and integration tests that need no extra servers (minutes)
test-fast: venv-test
	$(PY) -m pytest -m "not slow and not llm and not labelstudio" $(PYTEST_ARGS)

## make stop: stop servers left running by `scripts/stack.py --no-wait`
stop: venv
	$(PY) scripts/stack.py --stop

venv:
	@scripts/venv.sh $(VENV) requirements.txt

venv-test:
	@scripts/venv.sh $(VENV) requirements-test.txt

# The separate services' own environments (as in production, never dependencies of the backend's venv).
services:
	@scripts/llm_server.sh install
	@scripts/labelstudio.sh install
	@if [ -x scripts/install_browser.sh ]; then scripts/install_browser.sh; fi
