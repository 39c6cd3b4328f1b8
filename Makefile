# The two set-up commands of the README, plus the developer targets.
# `install` installs torch when it is missing (build_tools/install_torch.sh:
# the CPU build from PyTorch's CPU index unless an NVIDIA GPU is present; an
# unpinned torch from the default index is a multi-GB CUDA build); an existing
# torch, e.g. your own CUDA build, is kept.
#
# pip runs only when it has to: on a fresh clone, when pyproject.toml changed
# since the last install, or with another interpreter (PYTHON=..., a new
# virtual environment), each of which has its own stamp in .make/. Otherwise
# `make test` goes straight to the tests. `rm -rf .make` forces a reinstall.
PYTHON ?= python

# One stamp per interpreter prefix, so switching environments reinstalls.
PREFIX_ID := $(shell $(PYTHON) -c "import hashlib, sys; print(hashlib.sha1(sys.prefix.encode()).hexdigest()[:12])" 2>/dev/null)
INSTALL_STAMP := .make/install-$(or $(PREFIX_ID),unknown).stamp

.PHONY: install reproduce test lint docs bench

install: $(INSTALL_STAMP)

$(INSTALL_STAMP): pyproject.toml
	@$(PYTHON) -c "import torch" 2>/dev/null || PYTHON="$(PYTHON)" bash build_tools/install_torch.sh
	@echo "Installing sklearn-inr and its dev and docs extras (pip install -q -e .[dev,docs])..."
	@$(PYTHON) -m pip install -q -e ".[dev,docs]"
	@mkdir -p $(@D) && touch $@

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
