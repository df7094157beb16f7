# Two commands on a fresh machine with Python 3.10+: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Everything runs on Python 3.10 (requires-python): the worker side must (Jetson JetPack 6),
# and the server side is kept there too. vermin checks both, named by package.
WORKER_SIDE := schemas spoold/spool spoold/worker spoold/workers spoold/cli \
               spoold/__init__.py spoold/__main__.py spoold/errors.py spoold/configfile.py spoold/dashcam.py spoold/dashcam_families.py \
               spoold/logsetup.py
SERVER_SIDE := spoold/server spoold/demo webui_export

.PHONY: demo test lint typecheck pytest wheel clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/spoold demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/vermin -q -t=3.10- --violations --no-tips $(WORKER_SIDE) $(SERVER_SIDE)
	$(BIN)/lint-imports --no-cache

typecheck: $(BIN)/.installed
	$(BIN)/mypy

pytest: $(BIN)/.installed
	$(BIN)/python -m pytest

test: lint typecheck pytest

# dist/spoold-VERSION-py3-none-any.whl: `pip install 'dist/spoold-...whl[server]'` on a host
# without a checkout (pip builds it with setuptools from pyproject.toml, in isolation).
wheel: $(BIN)/.installed
	$(BIN)/pip wheel --no-deps --wheel-dir dist .

clean:
	rm -rf dist build $(VENV) demo .pytest_cache .mypy_cache .ruff_cache
