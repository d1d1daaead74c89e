# ulmfit-lesson: two commands to get going (Linux, macOS; Windows: see docs/install.md).
#
#   make lab     set everything up (first time: a few minutes) and open the course in JupyterLab
#   make test    the same setup plus the development tools, then lint + notebook check + pytest +
#                notebooks in quick mode
#
# Run `make help` for the rest. Override PYTHON (the interpreter that creates the venv, 3.11 or
# newer) or VENV (where it lives), e.g. `make lab PYTHON=python3.12 VENV=~/venvs/ulmfit`.
# docs/install.md writes out the same install commands for doing it by hand
# (tests/test_install_docs.py keeps the two in step).

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
# Every notebook, the talk's demo (notebooks/talk/) included; each is paired with src/<name>.py.
NOTEBOOK_FILES := $(NOTEBOOKS) $(sort $(wildcard notebooks/*/*.ipynb))
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
# A relative folder in ULMFIT_DATA means relative to where you ran make (the repository root),
# not to the folder a notebook's kernel starts in (notebooks/): see config.data_dirs().
export ULMFIT_DATA_BASE ?= $(CURDIR)
endif

# PyTorch's build. On Linux, PyPI's torch wheel is the CUDA build (about 2.7 GB with its CUDA
# libraries); on a Linux machine without an NVIDIA GPU (no working `nvidia-smi`), torch is installed
# first from PyTorch's CPU index (the 2.13.0+cpu wheel, 192 MB), as an extra index for torch alone
# (--no-deps: its dependencies then come from the default index with requirements.txt). pip treats
# an extra index it cannot reach as a warning (after about 8 s of retries): torch then comes from
# the default index, so the install still works where only that one is reachable. macOS and Windows wheels on
# PyPI are CPU (and Apple's MPS) builds already. Override: `make lab TORCH_INDEX=` (default index
# only) or another index, e.g. TORCH_INDEX=https://download.pytorch.org/whl/cu126.
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
ifeq ($(shell uname -s 2>/dev/null),Linux)
ifeq ($(shell nvidia-smi -L >/dev/null 2>&1 && echo gpu),)
TORCH_INDEX ?= $(TORCH_CPU_INDEX)
endif
endif
TORCH_INDEX ?=
TORCH_PIN := $(shell sed -n 's/^torch==\([^ #]*\).*/\1/p' requirements.txt)
PIP := $(PY) -m pip install --disable-pip-version-check $(PIP_ARGS)
# The Python the course needs (the pinned numpy, pandas, matplotlib and ipykernel need 3.11+).
PYTHON_OK := import sys; sys.exit(sys.version_info < (3, 11))

# The install is redone only when the contents of the requirement files or pyproject.toml change:
# the stamps' names carry a hash (not mtimes), so a second `make test` skips pip. `make lab` needs
# requirements.txt only; `make test` (and lint, format, hooks) add requirements-dev.txt.
HASH = $(shell cat $(1) 2>/dev/null | $(PYTHON) -c \
	"import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])" 2>/dev/null)
STAMP := $(VENV)/.installed-$(call HASH,requirements.txt pyproject.toml)
DEV_STAMP := $(VENV)/.installed-dev-$(call HASH,requirements.txt requirements-dev.txt pyproject.toml)

.DEFAULT_GOAL := help
.PHONY: help install install-dev lab test lint check-notebooks sync-notebooks test-unit test-notebooks course format hooks \
	clean distclean browser site site-full slides test-browser doctor kit

help: ## show this help
	@echo "ulmfit-lesson: make <target> [PYTHON=python3] [VENV=.venv]"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'
	@echo
	@echo "ULMFIT_DATA=$(if $(ULMFIT_DATA),$(ULMFIT_DATA),(unset: data is downloaded into data/ on first use))"
	@echo "TORCH_INDEX=$(if $(TORCH_INDEX),$(TORCH_INDEX) (torch's CPU build: Linux without an NVIDIA GPU),(unset: torch from the default index))"

$(BIN)/python:
	@$(PYTHON) -c '$(PYTHON_OK)' 2>/dev/null || { \
		echo "error: ulmfit-lesson needs Python 3.11 or newer; PYTHON=$(PYTHON) is" \
			"$$($(PYTHON) -c 'import sys; print("Python", sys.version.split()[0])' 2>/dev/null \
			|| echo 'not a working Python')."; \
		echo "       Install Python 3.11+ (python.org, your package manager, or conda), then run" \
			"e.g. 'make lab PYTHON=python3.12'."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): | $(BIN)/python
	@$(PY) -c '$(PYTHON_OK)' || { echo "error: $(VENV) was made with" \
		"$$($(PY) --version 2>&1); the course needs Python 3.11 or newer." \
		"Remove it (make distclean) and run again, e.g. with PYTHON=python3.12."; exit 1; }
	@echo "==> installing pinned requirements + ulmfit_lesson (editable) into $(VENV)"
ifneq ($(TORCH_INDEX),)
	@echo "==> Linux without an NVIDIA GPU: PyTorch's CPU build from $(TORCH_INDEX)" \
		"(if that index cannot be reached, pip warns and uses the default index)"
	$(PIP) --no-deps torch==$(TORCH_PIN) --extra-index-url $(TORCH_INDEX)
endif
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

$(DEV_STAMP): $(STAMP)
	@echo "==> installing the development tools (requirements-dev.txt) into $(VENV)"
	$(PIP) -r requirements-dev.txt
	@rm -f $(VENV)/.installed-dev-*
	@touch $@

install: $(STAMP) ## create the venv and install the pinned course + the package (editable); no-op when done

install-dev: $(DEV_STAMP) ## install + the development tools (pytest, nbval, ruff, pre-commit)

lab: install ## set up, then open the course in JupyterLab (first notebook)
	@echo "==> ULMFIT_DATA=$(if $(ULMFIT_DATA),$(ULMFIT_DATA),(unset: downloads into data/ on first use))"
	@# Rooted at the repo (not notebooks/) so the package's source can be opened beside a lesson.
	$(BIN)/jupyter lab --ServerApp.root_dir="$(ROOT)" $(FIRST_NOTEBOOK) $(LAB_ARGS)

test: install-dev ## set up, then lint, check notebooks are clean, run tests/ and notebooks/ (quick mode)
	@# -k: run every check even when one fails; the exit status still reports any failure.
	@$(MAKE) --no-print-directory -k lint check-notebooks test-unit test-notebooks \
		&& echo "==> make test: all checks passed" \
		|| { echo "==> make test: FAILED (see the errors above)"; exit 1; }

lint: install-dev ## ruff check + ruff format --check
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

check-notebooks: install-dev ## fail listing notebooks that hold outputs, or differ from their source
	$(PYTHON) tools/check_notebooks.py notebooks
	$(PY) tools/check_notebook_sources.py notebooks

# Sync first (the newer of notebook and source wins, outputs kept), then strip the outputs: stripping
# first would make the notebook the newer file and lose an edit made to its source.
sync-notebooks: install-dev ## after editing a notebook or its notebooks/src/*.py: sync the pair, strip, fix shared cells
	$(BIN)/jupytext --sync $(NOTEBOOK_FILES)
	$(PY) tools/check_notebooks.py --strip notebooks
	$(PY) tools/check_notebook_sources.py --fix notebooks

test-unit: install-dev ## pytest over tests/
	$(PY) -m pytest -p no:cacheprovider tests $(PYTEST_ARGS)

test-notebooks: install-dev ## run every notebook in quick mode under nbval (ULMFIT_QUICK=1)
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

SLIDES_ARGS ?=
slides: install node_modules/.package-lock.json ## the talk: deck, PDF and handout into build/slides/ (no notebook run)
	$(PY) tools/build_talk.py --pdf $(SLIDES_ARGS)

test-browser: install-dev ## the real-browser test alone
	ULMFIT_REQUIRE_BROWSER=1 $(PY) -m pytest -p no:cacheprovider tests/browser $(PYTEST_ARGS)

doctor: install ## pre-flight check of this machine (versions, data, speed probe)
	$(PY) -m ulmfit_lesson doctor

kit: install ## pack the workshop kit (data + weights + checksums) into build/ulmfit-kit.tar.gz
	$(PY) -m ulmfit_lesson pack-kit --out build/ulmfit-kit.tar.gz

format: install-dev ## ruff format + ruff check --fix, and strip notebook outputs
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(PY) tools/check_notebooks.py --strip notebooks

hooks: install-dev ## install the git pre-commit hooks (ruff, notebook stripping)
	$(BIN)/pre-commit install

clean: ## remove build output and caches (keeps .venv and downloaded data/)
	rm -rf build .pytest_cache .ruff_cache *.egg-info
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) \
		-type d -prune -exec rm -rf {} +

distclean: clean ## also remove the venv
	rm -rf $(VENV)
