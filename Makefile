# Two commands set everything up on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PORT ?= 8000
export PORT
# Rate limits kept in process memory would be counted per worker, each allowing the full
# limit: one worker (threaded) unless a shared store such as Redis is configured.
WORKERS ?= $(if $(filter-out memory://%,$(RATELIMIT_STORAGE_URI)),2,1)

.PHONY: install chromium run test test-fast lint bench

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

# Debian's Chromium drives the browser tests; Playwright never downloads a browser here.
# With it a Chinese font, Droid Sans Fallback as on older Android phones: without one every
# character is drawn as a box, and the layout checks would measure boxes, not text.
chromium:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing=" chromium"; \
	fc-list :lang=zh 2>/dev/null | grep -q . || missing="$$missing fonts-droid-fallback"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  elif [ "$$missing" = " fonts-droid-fallback" ]; then \
	    echo "No Chinese font: browser tests will measure boxes ('sudo apt-get install fonts-droid-fallback')" >&2; \
	  else \
	    echo "Missing: run 'sudo apt-get install$$missing' and try again" >&2; exit 1; \
	  fi; \
	fi

run: install
	$(VENV)/bin/flask --app wsgi migrate
	$(VENV)/bin/flask --app wsgi seed-demo --if-empty
	$(VENV)/bin/gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$(PORT) --workers $(WORKERS) --threads 8 wsgi:app

# mypy cannot follow the editable install's mapping of epermit to site/, so it reads the
# package through a link (pyproject.toml [tool.mypy]) and its paths are shown as site/….
# The same folder as mypy_path in pyproject.toml.
MYPY_PATH := .venv/mypy-path
lint: SHELL := /bin/bash
lint: .SHELLFLAGS := -o pipefail -c
lint: install
	$(VENV)/bin/ruff check site tests bench wsgi.py
	@mkdir -p $(MYPY_PATH) && ln -sfn $(CURDIR)/site $(MYPY_PATH)/epermit
	$(VENV)/bin/mypy | sed 's|^$(MYPY_PATH)/epermit/|site/|'

test: install chromium lint
	$(VENV)/bin/pytest -q

# The inner loop: every test but the browser ones, no lint, no chromium.
test-fast: install
	$(VENV)/bin/pytest -q --ignore=tests/browser

bench: install
	$(PY) bench/run.py
