# One command each: `make run` (set up, then the whole pipeline) and `make test` (set up, then the tests).
VENV ?= .venv
BIN := $(VENV)/bin
# The tested torch pins; `pyproject.toml` only asks for a lower bound so that a machine's own build serves.
TORCH ?= torch==2.14.1 torchvision==0.29.1
# Your own config files, merged on top of config.yaml: `make run CONFIG=my.yaml`. They are checked first,
# since Snakemake reports a missing or malformed --configfile with a traceback that names no key or line.
CONFIG ?=
# The rules call `cnnlens`: the environment's scripts go first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup run quick test lint
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

run: setup
	$(if $(CONFIG),cnnlens check-config $(CONFIG) &&) snakemake --cores all $(if $(CONFIG),--configfile $(CONFIG))

quick: setup
	$(if $(CONFIG),cnnlens check-config $(CONFIG) &&) snakemake --cores all --configfile config/quick.yaml $(CONFIG)

test: setup
	python -m pytest

lint: setup
	snakemake --lint
