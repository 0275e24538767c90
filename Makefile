# Sequence Models from Scratch. `make book` sets everything up and builds the course;
# `make test` runs the whole test suite. Instructor commands: see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# nbgrader starts `alembic` and `jupyter` by name: the environment's bin comes first.
export PATH := $(abspath $(BIN)):$(PATH)
STAMP := $(VENV)/.installed
MATHJAX := _mathjax/mathjax/tex-chtml.js
A ?= rnn_numpy
JOBS ?= $(shell nproc 2>/dev/null || echo 1)

.PHONY: help env sandbox-tool book test release releases autograde grades students formgrader student-repo feedback clean

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[course,test]'
	$(BIN)/python -m pip check
	@$(MAKE) --no-print-directory sandbox-tool
	@$(MAKE) --no-print-directory browser || true
	touch $@

# Grading runs students' code in bubblewrap. Installed here where that is possible (root, or
# sudo without a password); otherwise `make autograde` says what to install.
sandbox-tool:
	@command -v bwrap >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get install -y -qq bubblewrap >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null); \
	elif sudo -n true 2>/dev/null && command -v apt-get >/dev/null; then sudo -n apt-get install -y -qq bubblewrap >/dev/null; \
	else echo "note: grading needs bubblewrap (bwrap): sudo apt-get install bubblewrap"; fi

# MathJax from npm, served with the book: nothing is loaded from another host.
$(MATHJAX): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf _mathjax && mkdir -p _mathjax
	cp -r node_modules/mathjax/es5 _mathjax/mathjax
	touch $@

env: $(STAMP) $(MATHJAX) ## create .venv with the pinned course environment

# The execution cache keys on a chapter's own text; a change to seqlib must re-run the chapters.
LIB_SOURCES := $(shell find lib -name '*.py' 2>/dev/null)
_build/.seqlib-stamp: $(LIB_SOURCES)
	rm -rf _build/.jupyter_cache
	mkdir -p _build && touch $@

book: env _build/.seqlib-stamp ## set up, then build the book into _build/html (chapters executed, cached)
	$(BIN)/jupyter-book build .
	@echo "The book: file://$(abspath _build/html/index.html)"

.PHONY: lab notebooks browser

# The chapters as notebooks, made from book/*.md by the book's own converter (jupytext). A notebook
# is written once and then left alone, so that your work in it survives; `make notebooks` rewrites
# them all from the chapters (and loses what you changed there).
CHAPTER_NOTEBOOKS := $(patsubst book/%.md,notebooks/%.ipynb,$(wildcard book/0*.md))
notebooks/%.ipynb: | book/%.md
	$(BIN)/python book/_ext/course_notebooks.py notebooks book/$*.md

notebooks: env ## (re)write notebooks/ from the chapters in book/ (overwrites your edits there)
	$(BIN)/python book/_ext/course_notebooks.py notebooks $(wildcard book/0*.md)

LAB_ARGS ?=
# Jupyter refuses to run as root unless told (a container or a CI machine often is root).
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
# A student's JupyterLab: jupyter/student/ hides the instructor's folders (solutions/, a class's
# submissions and grades) and nbgrader's instructor panels (formgrader, course list, create
# assignment); the Validate button stays.
lab: env $(CHAPTER_NOTEBOOKS) ## open the chapters (notebooks/) and the assignments (assignments/) in JupyterLab
	JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter/student $(BIN)/jupyter lab --notebook-dir=$(CURDIR) $(AS_ROOT) $(LAB_ARGS)

# The browser test (tests/test_browser.py) drives the distribution's Chromium with its driver;
# nothing is downloaded when the tests run. .ci/run always installs them.
browser: ## install chromium and chromium-driver for the browser test (Debian/Ubuntu, as root or with sudo)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		echo "chromium and chromedriver are installed"; \
	elif command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
		sudo=; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
		$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else \
		echo "note: the browser test needs Chromium and its WebDriver: sudo apt-get install chromium chromium-driver"; exit 1; \
	fi

# Two workers: one builds the book and reads it (the longest part), the other runs the rest;
# each file's tests stay in one worker, in order (tests/conftest.py groups them).
TEST_WORKERS ?= 2
test: env ## run the whole test suite (library, notebooks, grading, book build), in TEST_WORKERS processes
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

release: env ## regenerate assignments/ from solutions/ (all, or one with A=name); a graded one is kept as it was
	@if [ "$(origin A)" = "command line" ]; then names="$(A)"; else names="$$(ls solutions)"; fi; \
	for name in $$names; do $(BIN)/python -m seqlib.grading release "$$name" || exit 1; done

autograde: env ## grade every submitted/*/A/A.ipynb in the sandbox, JOBS at a time (A=rnn_numpy); a table per student
	$(BIN)/python -m seqlib.grading autograde $(A) --jobs $(JOBS)

grades: env ## export every grade: grades/grades.csv (nbgrader's), grades/canvas.csv and grades/moodle.csv (to import)
	mkdir -p grades
	$(BIN)/nbgrader export --to grades/grades.csv
	$(BIN)/nbgrader export --exporter seqlib.grading.export.CanvasExportPlugin --to grades/canvas.csv
	$(BIN)/nbgrader export --exporter seqlib.grading.export.MoodleExportPlugin --to grades/moodle.csv

ROSTER ?= roster.csv
students: env ## give students their names and emails in the gradebook, from ROSTER (a CSV: id,first_name,last_name,email[,lms_user_id])
	@test -f "$(ROSTER)" || { echo "make students: ROSTER=$(ROSTER): no such file (expected a CSV with columns id,first_name,last_name,email)" >&2; exit 2; }
	$(BIN)/nbgrader db student import "$(ROSTER)"

student-repo: env ## write the repository a graded class gets into DEST (a new folder): the course without solutions/
	@test -n "$(DEST)" || { echo "make student-repo: DEST: expected a new folder, e.g. make student-repo DEST=../course-students" >&2; exit 2; }
	$(BIN)/python -m seqlib.grading student-repo "$(DEST)"

FORMGRADER_PORT ?= 8765
formgrader: env $(MATHJAX) ## review and hand-grade in nbgrader's formgrader (localhost only; Autograde uses the course's sandbox)
	$(BIN)/jupyter server --no-browser --ip=127.0.0.1 --port=$(FORMGRADER_PORT) $(AS_ROOT) \
		--ServerApp.root_dir=$(CURDIR) --ServerApp.default_url=/formgrader \
		--ServerApp.jpserver_extensions="{'nbgrader.server_extensions.formgrader': True, 'seqlib.grading.formgrader': True}"

feedback: env ## write feedback/<student>/A/A.html for every graded submission of A (no hidden tests, nothing remote)
	$(BIN)/python -m seqlib.grading feedback $(A)

clean: ## remove build outputs (keeps .venv and node_modules)
	rm -rf _build _mathjax .pytest_cache
