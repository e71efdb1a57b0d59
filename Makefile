# The two commands of the README: `make app` runs the desktop app, `make test` runs every test.
# Each installs what it needs first (idempotent: a second run installs nothing).

VENV   ?= .venv
PYTHON ?= python3
STAMP  := $(VENV)/.installed

.PHONY: app test test-slow bench screenshots bundle

screenshots: $(STAMP)
	scripts/with-blas.sh $(VENV)/bin/python scripts/screenshots.py

app: $(STAMP)
	$(VENV)/bin/nocturne

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen scripts/with-blas.sh $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The slow suite: real-model checks that take too long for every CI run.
test-slow: $(STAMP)
	QT_QPA_PLATFORM=offscreen scripts/with-blas.sh $(VENV)/bin/python -m pytest -m slow $(PYTEST_ARGS)

# A self-contained app for this platform (dist/): Python, Qt, llama.cpp and the model inside.
bundle: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet "pyinstaller>=6.10"
	packaging/build-bundle.sh

bench: $(STAMP)
	scripts/with-blas.sh $(VENV)/bin/python bench/inference.py

$(STAMP): pyproject.toml scripts/system-deps.sh
	scripts/system-deps.sh
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	# pip keeps the llama-cpp-python wheel it compiles in its cache: later installs reuse it.
	$(VENV)/bin/python -m pip install --quiet -e ".[test,mlx]"
	touch $(STAMP)
