# One command each: `make run` (set up, then the whole pipeline) and `make test` (set up, then the tests).
# `make` alone lists the targets.
VENV ?= .venv
BIN := $(VENV)/bin
# The tested torch pins; `pyproject.toml` only asks for a lower bound so that a machine's own build serves.
TORCH ?= torch==2.14.1 torchvision==0.29.1
# Your own config files, merged on top of config.yaml: `make run CONFIG=my.yaml`.
CONFIG ?=
# The rules call `cnnlens`: the environment's scripts go first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup run quick test test-fast lint docs

help:  ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV)/.installed  ## create .venv with the tested torch, cnnlens and the test and lint tools

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	touch $@

run: setup  ## the whole pipeline (CONFIG=my.yaml merges your config on top)
	snakemake --cores all $(if $(CONFIG),--configfile $(CONFIG))

quick: setup  ## the pipeline for 2 epochs (config/quick.yaml; CONFIG= as for run)
	snakemake --cores all --configfile config/quick.yaml $(CONFIG)

test: setup  ## all tests with coverage: python -m pytest (the slurm ones need a SLURM, or they skip)
	python -m pytest

test-fast: setup  ## the unit tests only (no end-to-end or SLURM ones, no coverage)
	python -m pytest --no-cov -m "not e2e and not slurm"  # coverage's tracing costs the torch tests about half again

lint: setup  ## ruff (lint, format, import order), snakefmt, mypy on src/, snakemake --lint
	ruff check .
	ruff format --check .
	snakefmt --check Snakefile workflow
	mypy
	python .ci/snakemake_lint.py  # snakemake --lint, less its conda-env check (why: in the script)

docs: setup  ## regenerate docs/config.md from the config schema
	python -c "from pathlib import Path; from cnnlens.config import reference; \
	Path('docs/config.md').write_text(reference('workflow/schemas/config.schema.yaml'))"
