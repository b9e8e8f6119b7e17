"""Multiple-choice scoring throughput: lm-eval's HFLM against ours, same model, same requests.

    python benchmarks/eval_throughput.py [--repeat 12] [--shots 0,5]
    python benchmarks/eval_throughput.py --exams test.jsonl --shots 0   # the real EXAMS file

1. Builds a random-weight Llama (hidden 256, 4 layers, 4 heads, a 4096-token vocabulary) with
   `create_tiny_chat_model`, its tokenizer trained on the sample crawl's Arabic texts and the EXAMS
   sample, under benchmarks/.work/eval.
2. Task: the EXAMS sample in the AceGPT/OALL layout (subject in the id prefix), each question
   written `--repeat` times with a copy number after it (so no two contexts are equal and
   neither side can reuse one); the dev sample written 3 times the same way, so that every
   subject has 6 dev items for its shots (the first of the item's subject, on both sides).
3. lm-eval side: the mirrored task (benchmarks/lm_eval_tasks/native_exams_flat.yaml) pointed
   at those files, one task per subject as lm-eval's aexams group; its requests built by
   lm-eval, then timed: `HFLM.loglikelihood(instances)`.
   Ours: `multiple_choice(...)` on the same items, prompt building included.
4. One torch thread by default (`--threads`), the same for both sides. `--runs` rounds, each
   timing every batch size of both sides in turn; each setting keeps its best time. The
   lm-eval side's batch counts requests, ours counts questions (a packed row holds one
   question's choices). The first batch size runs once more before, untimed, as a warm-up.
   `--exams FILE`: the official EXAMS release's test file instead (mhardalov/exams-qa,
   data/exams/multilingual/test.jsonl, every language: the Arabic rows are read on both sides,
   lm-eval through benchmarks/lm_eval_tasks/native_exams.yaml), its questions as they are, 0
   shots (the release has no Arabic dev rows).
5. Asserts the same results: every choice's log-likelihood within 1e-4 and the same acc and
   acc_norm predictions; prints requests/s of each side and the ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from native_pipeline.evaluation.multiple_choice import MCResult, multiple_choice
from native_pipeline.evaluation.tasks import (
    context,
    continuations,
    fewshot_pool,
    load_task,
    shots_for,
)
from native_pipeline.lm.model import create_tiny_chat_model
from native_pipeline.settings import TinyChatModel

ROOT = Path(__file__).parents[1]
SAMPLES = ROOT / "native_pipeline" / "evaluation" / "samples"
TASKS = ROOT / "benchmarks" / "lm_eval_tasks"
WORK = ROOT / "benchmarks" / ".work" / "eval"
TRUTH = ROOT / "native_pipeline" / "sample" / "crawl" / "truth.jsonl"


def write_repeated(name: str, repeat: int) -> Path:
    """The EXAMS sample's `name` split, each question `repeat` times, each copy numbered."""
    source = SAMPLES / "exams_flat" / f"{name}.jsonl"
    rows = [json.loads(line) for line in source.open(encoding="utf-8")]
    path = WORK / name / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for copy in range(1, repeat + 1):
            for row in rows:
                row = {
                    **row,
                    "id": f"{row['id']}{copy:03d}",  # "Biology-3" + copy: the prefix stays
                    "question": f"{row['question']} ({copy})",
                }
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def lm_eval_instances(
    test_file: Path, dev_file: Path, subjects: list[str], shots: int, layout: str = "exams_flat"
) -> list:
    """lm-eval's own requests for the mirrored EXAMS task, one task per subject."""
    from lm_eval.tasks import TaskManager, get_task_dict

    spec = importlib.util.spec_from_file_location("lm_eval_task_utils", TASKS / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    tasks = WORK / "tasks"
    tasks.mkdir(exist_ok=True)
    base = tasks / "native_exams_bench.yaml"
    base.write_text(
        f"include: {TASKS / f'native_{layout}.yaml'}\n"
        "task: native_exams_bench\n"
        "dataset_kwargs:\n"
        "  files:\n"
        f"    test: {test_file}\n"
        f"    dev: {dev_file}\n",
        encoding="utf-8",
    )
    names = utils.subject_tasks(base, subjects, tasks)
    manager = TaskManager(include_path=[str(TASKS), str(tasks)], include_defaults=False)
    instances = []
    for task in get_task_dict(names, manager).values():
        task.set_config(key="num_fewshot", value=shots)
        task.build_all_requests(rank=0, world_size=1)
        instances += task.instances
    return instances


def load_average() -> str:
    """The machine's load, to read the rates by: other jobs share its cores."""
    return " ".join(f"{load:.1f}" for load in os.getloadavg())


def timed(runs: int, function, *args, **kwargs):
    """(best seconds of `runs` calls, result)."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def check_same(ours: MCResult, items: list, dev: list, shots: int, instances: list, theirs: list):
    """The same requests, log-likelihoods within 1e-4 and the same acc / acc_norm choices."""
    by_id: dict[str, list] = {}
    for instance, (loglik, _) in zip(instances, theirs, strict=True):
        by_id.setdefault(instance.doc["id"], []).append((instance.idx, instance.arguments, loglik))
    assert len(by_id) == ours.n
    pool = fewshot_pool(dev)
    for item, row in zip(items, ours.rows, strict=True):
        entries = sorted(by_id[item.id])
        prompt = context(item, shots_for(item, pool, shots))
        expected = [(prompt, c) for c in continuations(item)]
        assert [arguments for _, arguments, _ in entries] == expected, item.id
        lls = np.array([loglik for _, _, loglik in entries])
        assert np.allclose(row.logliks, lls, atol=1e-4, rtol=0), (item.id, row.logliks, lls)
        # lm-eval's process_results: argmax, and argmax per character of the choice text
        assert row.prediction == int(np.argmax(lls))
        assert row.prediction_norm == int(np.argmax(lls / [len(c) for c in item.choices]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=12)
    parser.add_argument("--shots", default="0,5")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both sides")
    parser.add_argument("--lm-eval-batch-sizes", default="16,32,64")
    parser.add_argument("--our-batch-sizes", default="8,16,32")
    parser.add_argument("--exams", type=Path, help="the official EXAMS test file (0 shots)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from lm_eval.models.huggingface import HFLM
    from transformers import AutoModelForCausalLM, AutoTokenizer

    WORK.mkdir(parents=True, exist_ok=True)
    if args.exams:
        layout, test_file, dev_file = "exams", args.exams.resolve(), args.exams.resolve()
        task = load_task(layout, test_file)
    else:
        layout = "exams_flat"
        test_file, dev_file = write_repeated("test", args.repeat), write_repeated("dev", 3)
        task = load_task(layout, test_file, dev_path=dev_file)
    items, dev = task.test, task.dev
    subjects = list(dict.fromkeys(item.subject for item in items))
    folder = WORK / ("model_exams" if args.exams else "model")
    if not (folder / "model.safetensors").exists():
        rows = (json.loads(line) for line in TRUTH.open(encoding="utf-8"))
        texts = [r["main_text"] for r in rows if r["lang"] == "ar" and r["main_text"]]
        texts += [f"{i.question} {' '.join(i.choices)}" for i in items]
        create_tiny_chat_model(folder, texts, TinyChatModel(hidden_size=256, layers=4, heads=4))
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor()}")
    print(f"load average (1, 5, 15 min): {load_average()}")

    for shots in map(int, args.shots.split(",")):
        instances = lm_eval_instances(test_file, dev_file, subjects, shots, layout)
        requests = [instance.args for instance in instances]
        print(f"\n{shots}-shot: {len(items)} questions, {len(requests)} requests")
        lm_eval_sizes = [int(b) for b in args.lm_eval_batch_sizes.split(",")]
        our_sizes = [int(b) for b in args.our_batch_sizes.split(",")]
        HFLM(pretrained=model, tokenizer=tokenizer, batch_size=lm_eval_sizes[0]).loglikelihood(
            instances, disable_tqdm=True
        )
        multiple_choice(model, tokenizer, items, shots=shots, dev=dev, batch_size=our_sizes[0])
        # Rounds of every setting of both sides in turn, the best time of each kept: on a shared
        # machine the load drifts over minutes, and taking each side's runs in a block of its
        # own would hand one side the quieter minutes.
        best: dict[tuple[str, int], float] = {}
        for _ in range(args.runs):
            for batch_size in lm_eval_sizes:
                lm = HFLM(
                    pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device="cpu"
                )
                seconds, theirs = timed(1, lm.loglikelihood, instances, disable_tqdm=True)
                best["lm-eval HFLM", batch_size] = min(
                    seconds, best.get(("lm-eval HFLM", batch_size), seconds)
                )
            for batch_size in our_sizes:
                seconds, ours = timed(
                    1,
                    multiple_choice,
                    model,
                    tokenizer,
                    items,
                    shots=shots,
                    dev=dev,
                    batch_size=batch_size,
                )
                best["ours", batch_size] = min(seconds, best.get(("ours", batch_size), seconds))
        for (side, batch_size), seconds in best.items():
            print(f"  {side:<13} batch {batch_size:>3}: {len(requests) / seconds:8.1f} req/s")
        best_theirs = min(t for (side, _), t in best.items() if side != "ours")
        best_ours = min(t for (side, _), t in best.items() if side == "ours")
        # the last run of each side: every batch size gives the same numbers
        check_same(ours, items, dev, shots, instances, theirs)
        print(
            f"  best: lm-eval {len(requests) / best_theirs:.1f} req/s, ours"
            f" {len(requests) / best_ours:.1f} req/s, ratio {best_theirs / best_ours:.2f}x;"
            f" acc {ours.acc:.4f}, acc_norm {ours.acc_norm:.4f} on both sides"
        )
        print(f"  load average (1, 5, 15 min): {load_average()}")


if __name__ == "__main__":
    main()
