# `make test` and `make demo` work on a fresh machine: they create .venv unless a virtualenv is active.
SHELL := /bin/bash
PY ?= python3
ifdef VIRTUAL_ENV
  VENV := $(VIRTUAL_ENV)
else
  VENV := .venv
endif
BIN := $(VENV)/bin
export RAY_USAGE_STATS_ENABLED=0
export RAY_AUTH_MODE=disabled
export OMP_NUM_THREADS=1
export OPENBLAS_NUM_THREADS=1
export MKL_NUM_THREADS=1

.PHONY: install test demo lint bench-speed bench-quality docs

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: it is a CPU wheel on disk; a looser pin downloads a CUDA build
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"

test: install
	$(BIN)/python -m pytest -q tests

lint: install
	$(BIN)/ruff check .

# A real tuning job end to end: TPESearch + ASHA + TPECallback on a U-Net (1-4 min on 2 cores)
demo: install
	$(BIN)/python examples/segmentation/tune_unet.py --out out/demo
	@echo "Pictures, metrics and report: out/demo/ (segmentations.png, loss_curves.png, search.png, metrics.md, report.html; untracked)"

bench-speed: install
	$(BIN)/python benchmarks/speed.py

bench-quality: install
	$(BIN)/python benchmarks/quality.py

# The docs site (mkdocs-material + mkdocstrings), built strictly into site/ (ignored)
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
