# Two commands: `make run` starts the app, `make test` runs the tests.
# Both create .venv and install pinned packages (pip) and map scripts (npm ci) first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test bench lint setup setup-dev clean

run: setup
	$(PY) -m streamlit run streamlit_app.py --server.port $(PORT)

test: setup-dev
	$(PY) -m pytest

bench: setup-dev
	$(PY) -m bench

lint: setup-dev
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

setup: $(VENV)/.runtime static/vendor/.installed

setup-dev: $(VENV)/.dev static/vendor/.installed

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

static/vendor/.installed: package.json package-lock.json | $(VENV)/bin/python
	npm ci --no-audit --no-fund --silent
	$(PY) -m geo vendor
	touch $@

clean:
	rm -rf $(VENV) node_modules static/vendor data/cache
