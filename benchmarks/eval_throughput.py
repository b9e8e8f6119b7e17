"""Multiple-choice scoring throughput: lm-eval's HFLM against ours, same model, same requests.

    python benchmarks/eval_throughput.py [--repeat 12] [--shots 0,2]

1. Builds a random-weight Llama (hidden 256, 4 layers, 4 heads, a 4096-token vocabulary) with
   `create_tiny_chat_model`, its tokenizer trained on the sample crawl's Arabic texts and the EXAMS
   sample, under benchmarks/.work/eval.
2. Task: the EXAMS sample, each question written `--repeat` times with a copy number after it
   (so no two contexts are equal and neither side can reuse one), shots from the dev sample.
3. lm-eval side: the mirrored task (benchmarks/lm_eval_tasks/native_exams.yaml) pointed at that
   file; its requests built by lm-eval, then timed: `HFLM.loglikelihood(instances)`.
   Ours: `multiple_choice(...)` on the same file, prompt building included.
4. Each side runs `--runs` times at every batch size of its list and keeps its best time; the
   lm-eval side's batch counts requests, ours counts questions (a packed row holds one
   question's choices). The first batch size runs once more before, untimed, as a warm-up.
5. Asserts the same results: every choice's log-likelihood within 1e-4 and the same acc and
   acc_norm predictions; prints requests/s of each side and the ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from native_pipeline.evaluation.multiple_choice import MCResult, multiple_choice
from native_pipeline.evaluation.tasks import context, continuations, load_task
from native_pipeline.lm.model import create_tiny_chat_model
from native_pipeline.settings import TinyChatModel

ROOT = Path(__file__).parents[1]
SAMPLES = ROOT / "native_pipeline" / "evaluation" / "samples"
TASKS = ROOT / "benchmarks" / "lm_eval_tasks"
WORK = ROOT / "benchmarks" / ".work" / "eval"
TRUTH = ROOT / "native_pipeline" / "sample" / "crawl" / "truth.jsonl"


def write_repeated(repeat: int) -> Path:
    """The EXAMS test sample, each question `repeat` times, each copy numbered."""
    rows = [json.loads(line) for line in (SAMPLES / "exams_test.jsonl").open(encoding="utf-8")]
    path = WORK / "exams_repeated.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for copy in range(1, repeat + 1):
            for row in rows:
                row = {
                    **row,
                    "id": f"{row['id']}-{copy}",
                    "question": f"{row['question']} ({copy})",
                }
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def lm_eval_instances(test_file: Path, shots: int) -> list:
    """lm-eval's own requests for the mirrored EXAMS task over `test_file`."""
    from lm_eval.tasks import TaskManager, get_task_dict

    config = WORK / "native_exams_bench.yaml"
    config.write_text(
        f"include: {TASKS / 'native_exams.yaml'}\n"
        "task: native_exams_bench\n"
        "dataset_kwargs:\n"
        "  data_files:\n"
        f"    test: {test_file}\n"
        f"    dev: {SAMPLES / 'exams_dev.jsonl'}\n",
        encoding="utf-8",
    )
    manager = TaskManager(include_path=str(WORK), include_defaults=False)
    task = get_task_dict(["native_exams_bench"], manager)["native_exams_bench"]
    task.set_config(key="num_fewshot", value=shots)
    task.build_all_requests(rank=0, world_size=1)
    return task.instances


def timed(runs: int, function, *args, **kwargs):
    """(best seconds of `runs` calls, result)."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def check_same(ours: MCResult, items: list, shots: list, instances: list, theirs: list) -> None:
    """The same requests, log-likelihoods within 1e-4 and the same acc / acc_norm choices."""
    by_doc: dict[int, list] = {}
    for instance, (loglik, _) in zip(instances, theirs, strict=True):
        by_doc.setdefault(instance.doc_id, []).append((instance.idx, instance.arguments, loglik))
    assert sorted(by_doc) == list(range(ours.n))
    for doc_id, (item, row) in enumerate(zip(items, ours.rows, strict=True)):
        entries = sorted(by_doc[doc_id])
        expected = [(context(item, shots), c) for c in continuations(item)]
        assert [arguments for _, arguments, _ in entries] == expected, doc_id
        lls = np.array([loglik for _, _, loglik in entries])
        assert np.allclose(row.logliks, lls, atol=1e-4, rtol=0), (doc_id, row.logliks, lls)
        # lm-eval's process_results: argmax, and argmax per character of the choice text
        assert row.prediction == int(np.argmax(lls))
        assert row.prediction_norm == int(np.argmax(lls / [len(c) for c in item.choices]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=12)
    parser.add_argument("--shots", default="0,2")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lm-eval-batch-sizes", default="16,32,64")
    parser.add_argument("--our-batch-sizes", default="8,16,32")
    args = parser.parse_args()

    from lm_eval.models.huggingface import HFLM
    from transformers import AutoModelForCausalLM, AutoTokenizer

    WORK.mkdir(parents=True, exist_ok=True)
    test_file = write_repeated(args.repeat)
    items = load_task("exams_jsonl", test_file)
    dev = load_task("exams_jsonl", SAMPLES / "exams_dev.jsonl")
    folder = WORK / "model"
    if not (folder / "model.safetensors").exists():
        rows = (json.loads(line) for line in TRUTH.open(encoding="utf-8"))
        texts = [r["main_text"] for r in rows if r["lang"] == "ar" and r["main_text"]]
        texts += [f"{i.question} {' '.join(i.choices)}" for i in items]
        create_tiny_chat_model(folder, texts, TinyChatModel(hidden_size=256, layers=4, heads=4))
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor()}")

    for shots in map(int, args.shots.split(",")):
        instances = lm_eval_instances(test_file, shots)
        requests = [instance.args for instance in instances]
        print(f"\n{shots}-shot: {len(items)} questions, {len(requests)} requests")
        best_theirs = best_ours = float("inf")
        lm_eval_sizes = [int(b) for b in args.lm_eval_batch_sizes.split(",")]
        our_sizes = [int(b) for b in args.our_batch_sizes.split(",")]
        HFLM(pretrained=model, tokenizer=tokenizer, batch_size=lm_eval_sizes[0]).loglikelihood(
            instances, disable_tqdm=True
        )
        multiple_choice(
            model, tokenizer, items, shots=shots, fewshot_items=dev, batch_size=our_sizes[0]
        )
        for batch_size in lm_eval_sizes:
            lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device="cpu")
            seconds, theirs = timed(args.runs, lm.loglikelihood, instances, disable_tqdm=True)
            print(f"  lm-eval HFLM  batch {batch_size:>3}: {len(requests) / seconds:8.1f} req/s")
            best_theirs = min(best_theirs, seconds)
        for batch_size in our_sizes:
            seconds, ours = timed(
                args.runs,
                multiple_choice,
                model,
                tokenizer,
                items,
                shots=shots,
                fewshot_items=dev,
                batch_size=batch_size,
            )
            print(f"  ours          batch {batch_size:>3}: {len(requests) / seconds:8.1f} req/s")
            best_ours = min(best_ours, seconds)
        # the last run of each side: every batch size gives the same numbers
        check_same(ours, items, dev[:shots], instances, theirs)
        print(
            f"  best: lm-eval {len(requests) / best_theirs:.1f} req/s, ours"
            f" {len(requests) / best_ours:.1f} req/s, ratio {best_theirs / best_ours:.2f}x;"
            f" acc {ours.acc:.4f}, acc_norm {ours.acc_norm:.4f} on both sides"
        )


if __name__ == "__main__":
    main()
