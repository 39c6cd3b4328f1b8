# The two set-up commands of the README, plus the developer targets.
# `install` takes the CPU wheel of torch when torch is missing (an unpinned
# torch can pull a multi-GB CUDA build); an existing torch is kept.
PYTHON ?= python

.PHONY: install reproduce test lint docs bench

install:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==2.13.0"
	$(PYTHON) -m pip install -e ".[dev,docs]"

reproduce: install
	$(PYTHON) -m sklearn_inr reproduce

test: install
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

docs: install
	$(MAKE) -C docs html

bench:
	$(PYTHON) benchmarks/bench_fit.py
