# Cradle's two commands. Both are idempotent and install whatever is missing first:
#   make run    set up, then curate the offline demo corpus with the nightly Prefect flow
#   make test   set up, then lint and run the test suite
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# ffmpeg: media I/O; espeak-ng: the demo corpus's speech; postgresql: the ledger's multi-machine
# backend, tested against a throw-away local cluster; chromium: the browser the page tests drive
# through Playwright (never a browser Playwright downloads).
APT_PACKAGES := ffmpeg espeak-ng postgresql chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(VENV)/.installed

.PHONY: run test setup system-packages lint

run: setup
	$(BIN)/cradle run --demo

test: setup lint
	$(BIN)/pytest

setup: system-packages $(STAMP)

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  command -v apt-get >/dev/null || { echo "Please install:" $$missing; exit 1; }; \
	  echo "Installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Exact versions come from requirements.lock. mediapipe 0.10.21 (the last wheel that ships its
# FaceMesh/Hands models) declares protobuf<5, which pyannote.audio 4 cannot use, so it goes in with
# --no-deps; pyproject.toml lists its real runtime dependencies.
$(STAMP): pyproject.toml requirements.lock
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	$(BIN)/pip install -q --no-deps mediapipe==0.10.21
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
