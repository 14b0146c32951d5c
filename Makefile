# The two commands of the README, plus what they need.
#   make report   set up .venv, run the default experiment, build the site
#   make test     set up .venv with the test extras (and Debian's chromium), run the tests

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: report test install install-test chromium bench clean

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

test: install-test chromium
	$(BIN)/python -m pytest

bench: install
	$(PIP) -e '.[bench]'
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/analysis_speed.py
	$(BIN)/python bench/page_weight.py
	$(BIN)/python bench/render_speed.py
	$(BIN)/python bench/run_speed.py
	$(BIN)/python bench/growth.py
	$(BIN)/python bench/detection_families.py
	$(BIN)/python bench/sweep_speed.py

clean:
	rm -rf public site/reports .pytest_cache
