# Two commands on a fresh machine with Python 3.10+: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Worker-side modules must run on Python 3.10 (Jetson JetPack 6); vermin checks it.
WORKER_SIDE := schemas spoold/__init__.py spoold/__main__.py spoold/errors.py spoold/configfile.py \
               spoold/logsetup.py spoold/cli spoold/worker spoold/spool spoold/dashcam.py

.PHONY: demo test lint typecheck pytest clean

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

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache
