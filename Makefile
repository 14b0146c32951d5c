# The two commands of the README, plus what they need.
#   make report   set up .venv, run the default experiment, build the site
#   make test     set up .venv with the test extras (and Debian's chromium), lint and type-check
#                 (ruff, mypy), run the tests

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: report test lint install install-test chromium bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Browser tests drive Debian's Chromium; never a browser downloaded by a test tool.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; \
	fi

report: install
	$(BIN)/sigreport run mnist-1-7
	$(BIN)/sigreport site build
	@echo
	@echo "Report: file://$(CURDIR)/public/reports/mnist-1-7/index.html"
	@echo "Site:   file://$(CURDIR)/public/index.html"

# Lint and types first: a finding fails the run before the long tests start.
lint: install-test
	$(BIN)/ruff check sigreport tests bench
	$(BIN)/mypy

test: install-test chromium lint
	$(BIN)/python -m pytest

# Every script runs even when one before it is over its budget (exit status 1);
# make then ends with the status of the failures it saw.
BENCHES := train_throughput analysis_speed page_weight render_speed run_speed growth \
           detection_families sweep_speed umap_speed seeds_speed original_speed cnn_train

bench: install
	$(PIP) -e '.[bench]'
	@failed=""; for b in $(BENCHES); do \
		echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || failed="$$failed $$b"; \
	done; \
	if [ -n "$$failed" ]; then echo "over budget or failed:$$failed"; exit 1; fi

clean:
	rm -rf public site/reports .pytest_cache
