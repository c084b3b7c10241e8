# Two commands for a fresh machine: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

demo: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" bash recipes/demo/run.sh

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check asr tests tools

clean:
	rm -rf recipes/*/data recipes/*/exp .pytest_cache
