# ulmfit-lesson: two commands to get going.
#
#   make lab     set everything up (first time: a few minutes) and open the course in JupyterLab
#   make test    the same setup, then lint + notebook check + pytest + notebooks in quick mode
#
# Run `make help` for the rest. Override PYTHON (the interpreter that creates the venv) or VENV
# (where it lives), e.g. `make lab PYTHON=python3.12 VENV=~/venvs/ulmfit`.

PYTHON ?= python3
VENV ?= .venv
# Extra arguments, e.g. `make lab LAB_ARGS="--no-browser --port 8899"`,
# `make course COURSE_ARGS=--quick`, `make test PYTEST_ARGS="-x -k vocab"`.
LAB_ARGS ?=
COURSE_ARGS ?=
PYTEST_ARGS ?=
# --no-compile: skip byte-compiling ~20k files at install (a minute of CPU on a small machine);
# Python compiles the modules it actually imports, on first import.
PIP_ARGS ?= --no-compile
NBVAL_ARGS ?= --nbval-cell-timeout=900

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
BIN := $(VENV)/bin
PY := $(BIN)/python
LINT_PATHS := $(wildcard ulmfit_lesson tests tools bench)
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
FIRST_NOTEBOOK := $(firstword $(NOTEBOOKS))

# Data: use the read-only copies in ../shared when they are there (development, CI); otherwise
# the package downloads what a notebook needs into data/ on first use (see ulmfit_lesson/registry.py).
# An ULMFIT_DATA already in the environment wins. Exported, so Jupyter's kernels see it too.
SHARED := $(abspath $(ROOT)/../shared)
ifneq ($(wildcard $(SHARED)/data),)
ULMFIT_DATA ?= $(SHARED)/data:$(SHARED)/pretrained
endif
ifdef ULMFIT_DATA
export ULMFIT_DATA
endif

# The install is redone only when the contents of requirements.txt or pyproject.toml change: the
# stamp's name carries a hash of both (not their mtimes), so a second `make test` skips pip.
REQ_HASH := $(shell cat requirements.txt pyproject.toml 2>/dev/null | $(PYTHON) -c \
	"import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])")
STAMP := $(VENV)/.installed-$(REQ_HASH)

.DEFAULT_GOAL := help
.PHONY: help install lab test lint check-notebooks test-unit test-notebooks course format hooks \
	clean distclean browser site site-full test-browser doctor kit

help: ## show this help
	@echo "ulmfit-lesson: make <target> [PYTHON=python3] [VENV=.venv]"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'
	@echo
	@echo "ULMFIT_DATA=$(if $(ULMFIT_DATA),$(ULMFIT_DATA),(unset: data is downloaded into data/ on first use))"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "error: $(PYTHON) is Python < 3.10; run with PYTHON=python3.11 (or newer)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): | $(BIN)/python
	@echo "==> installing pinned requirements + ulmfit_lesson (editable) into $(VENV)"
	$(PY) -m pip install --disable-pip-version-check $(PIP_ARGS) -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check $(PIP_ARGS) --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP) ## create the venv and install pinned deps + the package (editable); no-op when done

lab: install ## set up, then open the course in JupyterLab (first notebook)
	@echo "==> ULMFIT_DATA=$(if $(ULMFIT_DATA),$(ULMFIT_DATA),(unset: downloads into data/ on first use))"
	@# Rooted at the repo (not notebooks/) so the package's source can be opened beside a lesson.
	$(BIN)/jupyter lab --ServerApp.root_dir="$(ROOT)" $(FIRST_NOTEBOOK) $(LAB_ARGS)

test: install ## set up, then lint, check notebooks are clean, run tests/ and notebooks/ (quick mode)
	@# -k: run every check even when one fails; the exit status still reports any failure.
	@$(MAKE) --no-print-directory -k lint check-notebooks test-unit test-notebooks \
		&& echo "==> make test: all checks passed" \
		|| { echo "==> make test: FAILED (see the errors above)"; exit 1; }

lint: install ## ruff check + ruff format --check
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

check-notebooks: ## fail listing notebooks that hold outputs or execution counts
	$(PYTHON) tools/check_notebooks.py notebooks

test-unit: install ## pytest over tests/
	$(PY) -m pytest -p no:cacheprovider tests $(PYTEST_ARGS)

test-notebooks: install ## run every notebook in quick mode under nbval (ULMFIT_QUICK=1)
	ULMFIT_QUICK=1 $(PY) -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env \
		$(NBVAL_ARGS) notebooks $(PYTEST_ARGS)

course: install ## execute every notebook in full mode into build/notebooks/, with timings
	$(PY) tools/run_notebooks.py --out build/notebooks $(COURSE_ARGS)

SITE_ARGS ?=
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

browser: ## npm packages + Debian chromium for the slides and the browser test
	bash tools/setup_browser.sh

site: install node_modules/.package-lock.json ## run the notebooks (quick mode) and build the offline site + slides into build/site/
	$(PY) tools/build_site.py --quick $(SITE_ARGS)

site-full: install node_modules/.package-lock.json ## the same in full mode
	$(PY) tools/build_site.py $(SITE_ARGS)

test-browser: install ## the real-browser test alone
	ULMFIT_REQUIRE_BROWSER=1 $(PY) -m pytest -p no:cacheprovider tests/browser $(PYTEST_ARGS)

doctor: install ## pre-flight check of this machine (versions, data, speed probe)
	$(PY) -m ulmfit_lesson doctor

kit: install ## pack the workshop kit (data + weights + checksums) into build/ulmfit-kit.tar.gz
	$(PY) -m ulmfit_lesson pack-kit --out build/ulmfit-kit.tar.gz

format: install ## ruff format + ruff check --fix, and strip notebook outputs
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(PY) tools/check_notebooks.py --strip notebooks

hooks: install ## install the git pre-commit hooks (ruff, notebook stripping)
	$(BIN)/pre-commit install

clean: ## remove build output and caches (keeps .venv and downloaded data/)
	rm -rf build .pytest_cache .ruff_cache *.egg-info
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) \
		-type d -prune -exec rm -rf {} +

distclean: clean ## also remove the venv
	rm -rf $(VENV)
