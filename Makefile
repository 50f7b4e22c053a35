# Floorline — everyday commands. `make help` lists them.
#   make run    set up (venv, system packages, schema, demo data) and start the app
#   make test   set up and run the test suite (PYTEST_ARGS="-k alerts -x" to narrow it;
#               TEST_WORKERS=0 runs it in one process, e.g. for --pdb)
#   make bench  run every benchmark under bench/ (ARGS=--quick for a smoke run)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q --disable-pip-version-check
PYTEST_ARGS ?=
# pytest-xdist workers: on 2 cores the suite waits on sockets, servers and the database
# more than it computes, so two workers finish well ahead of one process.
TEST_WORKERS ?= 2

# Debian packages the app uses at run time: WeasyPrint (pango, harfbuzz subset, a font),
# pdftotext/pdftoppm for report checks, and tesseract for OCR.
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
	poppler-utils tesseract-ocr tesseract-ocr-eng

.DEFAULT_GOAL := help
.PHONY: help run test bench lint vendor venv venv-test system-packages clean

run: venv system-packages ## start web, worker and cron on http://127.0.0.1:8000 (Ctrl-C stops)
	$(PY) scripts/run.py

test: venv-test system-packages ## run the tests (PYTEST_ARGS=... passes options to pytest)
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Benchmarks: every scenario in bench/run_all.py's SCENARIOS, one at a time; the combined
# table goes to stdout and bench/results/latest.md (see docs/PERFORMANCE.md).
ARGS ?=
bench: venv-test system-packages ## run the benchmarks (ARGS=--quick for a smoke run)
	$(PY) -m bench.run_all $(ARGS)

lint: venv-test ## ruff check
	$(VENV)/bin/ruff check .

vendor: ## re-fetch the pinned htmx / uPlot files into app/static/vendor (needs npm)
	bash scripts/vendor.sh

venv: $(VENV)/.installed-runtime ## create .venv and install requirements.txt

venv-test: $(VENV)/.installed-test

# Stamp files: pip runs again only when a requirements file changes.
$(VENV)/.installed-runtime: requirements.txt | $(PY)
	$(PIP) -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements.txt requirements-test.txt | $(PY)
	$(PIP) -r requirements-test.txt
	touch $@

$(PY):
	$(PYTHON) -m venv $(VENV)

# Never fails: without root/apt-get it prints the command to run and carries on,
# since only PDF reports and OCR need these packages.
system-packages:
	@if ! command -v dpkg >/dev/null; then \
		echo "note: not a Debian system; install the equivalents of: $(SYSTEM_PACKAGES)"; exit 0; \
	fi; \
	missing=""; \
	for p in $(SYSTEM_PACKAGES); do \
		case "$$(dpkg -s $$p 2>/dev/null)" in *"Status: install ok installed"*) ;; *) missing="$$missing $$p";; esac; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing system packages:$$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
			|| echo "warning: apt-get failed; PDF reports and OCR may not work"; \
	else \
		echo "warning: missing system packages (PDF reports and OCR need them). Install with:"; \
		echo "  sudo apt-get update && sudo apt-get install -y$$missing"; \
	fi

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

clean: ## remove .venv and caches (keeps instance/: your database and secret key)
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
