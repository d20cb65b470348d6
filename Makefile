# Two commands do all the set-up on a fresh Debian/Ubuntu machine with Python 3.11:
#   make run    # venv + requirements, demo workspace, app on http://localhost:8501
#   make test   # also test requirements and Debian chromium + chromium-driver, then the whole suite
# Served to a lab: make serve HOST=0.0.0.0 (needs [auth] in .streamlit/secrets.toml, README: Serve it to your lab).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
WORKSPACE ?= workspaces/demo
PORT ?= 8501
# `=`, not `?=`: some shells export HOST as the machine's name; `make serve HOST=0.0.0.0` still wins.
HOST = localhost
SERVE_ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run serve test demo chromium clean-demo

$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt requirements-anomalib.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

$(WORKSPACE)/dsaii.sqlite: | $(VENV)/.runtime
	$(PY) -m dsaii_core init $(WORKSPACE) --demo

demo: $(WORKSPACE)/dsaii.sqlite

run: $(VENV)/.runtime demo
	DSAII_WORKSPACE=$(WORKSPACE) $(PY) -m streamlit run app.py --server.address localhost --server.port $(PORT)

# Refuses a network address without sign-in; SERVE_ARGS=--trusted-network opts out, on a network you trust.
serve: $(VENV)/.runtime demo
	DSAII_WORKSPACE=$(WORKSPACE) $(PY) -m dsaii_core serve --host $(HOST) --port $(PORT) $(SERVE_ARGS)

chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver)

# pytest exits 5 when it collects no tests: not a failure of the set-up.
test: $(VENV)/.test chromium
	$(PY) -m pytest $(PYTEST_ARGS); status=$$?; [ $$status -eq 5 ] && exit 0; exit $$status

clean-demo:
	rm -rf $(WORKSPACE)
