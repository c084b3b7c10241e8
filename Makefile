# Two commands for a fresh machine: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint clean browser bench

setup: $(STAMP)

# setup.py and the C++ source too: an edit to the compiled search rebuilds it.
$(STAMP): pyproject.toml setup.py asr/decode/_wordlm.cpp
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

demo: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" bash recipes/demo/run.sh

test: setup
	$(PY) -m pytest -q

# Headless Chromium and its driver from Debian's packages, for tests/e2e/test_browser_page.py (which skips
# without them). Needs root and apt-get; .ci/run calls it.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then echo "chromium: $$(command -v chromium)"; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		chromium chromium-driver fonts-dejavu-core >/dev/null && echo "installed chromium, chromium-driver"; fi

# Every benchmark this machine can run (under 15 minutes), tables in tools/bench/results/ (suite.md: the ratios).
# Measurements, never a test: it exits 0 whatever the numbers. Niced, so it yields to other work.
bench: setup
	nice -n 5 $(PY) tools/bench/run_all.py

lint: setup
	$(VENV)/bin/ruff check asr tests tools

clean:
	rm -rf recipes/*/data recipes/*/exp .pytest_cache
