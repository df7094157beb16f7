# Two commands on a fresh machine with Python 3.10+: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Worker-side modules must run on Python 3.10 (Jetson JetPack 6); vermin checks it.
WORKER_SIDE := schemas spoold/__init__.py spoold/__main__.py spoold/errors.py spoold/configfile.py \
               spoold/cli/main.py spoold/worker/runtime.py spoold/spool spoold/dashcam.py

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
	$(BIN)/vermin -q -t=3.10- --violations --no-tips $(WORKER_SIDE)

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
