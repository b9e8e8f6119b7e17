from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from native_pipeline.alignment.backends.base import Sampling
from native_pipeline.alignment.backends.transformers import TransformersBackend
from native_pipeline.alignment.conduct import CodeOfConduct, unwrap, wrap
from native_pipeline.alignment.worker import IGNORE, encode_pair, hold_out, train_worker
from native_pipeline.lm.model import END, create_tiny_chat_model
from native_pipeline.settings import TinyChatModel, WorkerTraining

SENTENCES = [
    "افتتحت المكتبة العامة فرعا جديدا في وسط المدينة",
    "ارتفعت درجات الحرارة اليوم في معظم مناطق البلاد",
    "يبدأ العام الدراسي الجديد في الأسبوع الأول من سبتمبر",
    "فاز الفريق المحلي بالمباراة بهدفين مقابل هدف واحد",
    "أعلنت الوزارة عن خطة لتطوير الطرق الريفية",
    "يحتاج طبق الكبسة إلى الأرز واللحم والبهارات",
    "زار الوفد الثقافي المتحف الوطني صباح الأحد",
    "تساعد القراءة اليومية على توسيع المفردات",
    "شهد المعرض إقبالا كبيرا من الزوار والعائلات",
    "نصح الأطباء بشرب الماء بكثرة في فصل الصيف",
    "يعد النخيل من أهم الأشجار في شبه الجزيرة العربية",
    "أطلقت الجامعة برنامجا جديدا لتعليم البرمجة",
    "تمتد السواحل على مسافة طويلة من الشمال إلى الجنوب",
    "يحتفل الناس بالعيد بزيارة الأقارب وتبادل التهاني",
    "انخفضت أسعار الخضروات في الأسواق هذا الشهر",
    "يستخدم المزارعون الري بالتنقيط لتوفير المياه",
    "صدر كتاب جديد عن تاريخ الخط العربي وفنونه",
    "تنظم البلدية حملة لتنظيف الحدائق العامة",
    "يفضل كثير من الطلاب الدراسة في المكتبة",
    "افتتح مستشفى جديد لخدمة سكان القرى المجاورة",
    "تعلم الأطفال في المخيم الصيفي مهارات السباحة",
    "أقيم سباق للهجن بمشاركة واسعة من المتسابقين",
    "تحافظ الأسرة على عادة تناول الغداء معا",
    "نشرت الصحيفة تقريرا عن الطاقة الشمسية في المنطقة",
]
ADS = ["اضغط هنا للاشتراك", "تابعونا على وسائل التواصل", "خصم خاص لفترة محدودة، اشتر الآن"]
# An ad line after the text; the rewrite drops it and ends the sentence with a full stop.
PAIRS = [(f"{s}\n{ADS[i % len(ADS)]}", f"{s}.") for i, s in enumerate(SENTENCES)]
# A short instruction keeps the sequences, and so the tests, short.
CONDUCT = CodeOfConduct("Rewrite the segment: remove ads, keep everything else.", ("Be polite.",))
FAST = WorkerTraining(epochs=2, learning_rate=3e-3, batch_size=4, save_every=1000, seed=0)


@pytest.fixture(scope="module")
def base_model(tmp_path_factory) -> Path:
    texts = [CONDUCT.system_prompt, CodeOfConduct.load().system_prompt, *SENTENCES, *ADS]
    folder = tmp_path_factory.mktemp("tiny") / "model"
    return create_tiny_chat_model(folder, texts, TinyChatModel(vocab_size=1024))


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def test_labels_cover_the_wrapped_rewrite_and_its_end_token_only(base_model):
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    conduct = CodeOfConduct.load()  # the real, long instruction
    original, rewritten = PAIRS[0]
    example = encode_pair(tokenizer, conduct, original, rewritten)

    prompt = tokenizer.apply_chat_template(
        conduct.messages(original), tokenize=True, add_generation_prompt=True
    )["input_ids"]
    n_prompt = len(prompt)
    assert example.input_ids[:n_prompt] == prompt
    assert example.labels[:n_prompt] == [IGNORE] * n_prompt
    target = example.labels[n_prompt:]
    assert IGNORE not in target
    assert target == example.input_ids[n_prompt:]
    assert target[-1] == tokenizer.eos_token_id  # the model learns to stop
    assert tokenizer.decode(target) == wrap(rewritten) + END


def test_held_out_split_is_deterministic_and_never_empty(base_model):
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    examples = [encode_pair(tokenizer, CONDUCT, o, r) for o, r in PAIRS]
    train, held = hold_out(examples, 0.1, seed=0)
    again_train, again_held = hold_out(list(reversed(examples)), 0.1, seed=0)
    assert {e.original for e in held} == {e.original for e in again_held}
    assert {e.original for e in train} == {e.original for e in again_train}
    assert len(train) + len(held) == len(PAIRS)
    assert not {e.original for e in held} & {e.original for e in train}
    # A tiny fraction still holds one pair out, and one pair is always left to train on.
    assert len(hold_out(examples[:2], 0.0001, seed=0)[1]) == 1
    assert len(hold_out(examples[:2], 0.9999, seed=0)[0]) == 1


def test_training_lowers_train_and_held_out_loss(base_model, tmp_path):
    logged: list[str] = []
    training = FAST.model_copy(update=dict(epochs=4))
    report = train_worker(PAIRS, base_model, tmp_path / "out", CONDUCT, training, logged.append)

    assert report.n_train + report.n_held_out == len(PAIRS)
    assert report.n_held_out >= 1
    assert report.loop.steps == len(report.loop.losses) == 4 * -(-report.n_train // 4)
    assert report.loop.resumed_from_step is None
    first, last = report.loop.losses[0], sum(report.loop.losses[-3:]) / 3
    assert last < 0.7 * first, report.loop.losses
    assert report.held_out_loss_after < report.held_out_loss_before - 1.0
    assert 0 < report.held_out_token_accuracy_after <= 1
    assert report.loop.tokens > 0 and report.loop.tokens_per_second > 0
    assert (report.loop.device, report.loop.dtype) == ("cpu", "float32")
    assert any(line.startswith("step 1/") for line in logged)
    meta = report.as_metadata()
    assert meta["steps"] == report.loop.steps and meta["final_path"] == str(report.loop.final_path)


def test_final_model_is_safetensors_and_loads(base_model, tmp_path):
    report = train_worker(PAIRS[:6], base_model, tmp_path / "out", CONDUCT, FAST)
    final = report.loop.final_path
    assert final == tmp_path / "out" / "final"
    assert (final / "model.safetensors").exists()
    assert not list(final.glob("*.bin"))
    model = AutoModelForCausalLM.from_pretrained(final)
    tokenizer = AutoTokenizer.from_pretrained(final)
    assert tokenizer.chat_template
    trained = weights(final)
    assert all(torch.equal(trained[k], v) for k, v in model.state_dict().items() if k in trained)
    # Training moved the weights away from the base model.
    base = weights(base_model)
    assert any(not torch.equal(base[k], trained[k]) for k in base)
    assert len(report.checkpoint) == 16


def test_memorised_rewrites_come_back_through_the_backend(base_model, tmp_path):
    """The training chat is the inference chat: markers, text and the stop are all learnt."""
    pairs = PAIRS[:3]
    training = FAST.model_copy(update=dict(epochs=60, learning_rate=5e-3, held_out_fraction=0.0))
    report = train_worker(pairs, base_model, tmp_path / "out", CONDUCT, training)
    assert (report.n_held_out, report.held_out_loss_after) == (0, None)
    assert report.loop.losses[-1] < 0.3

    backend = TransformersBackend(report.loop.final_path)
    completions = backend.chat([CONDUCT.messages(o) for o, _ in pairs], Sampling(max_tokens=64))
    assert [unwrap(c.text) for c in completions] == [r for _, r in pairs]
    assert all(c.output_tokens < 64 for c in completions)  # stopped at the end token


class Crash(Exception):
    pass


def crash_after(step: int):
    def log(line: str) -> None:
        if line.startswith(f"step {step}/"):
            raise Crash(line)

    return log


def test_resume_after_a_crash_ends_with_the_weights_of_an_uninterrupted_run(base_model, tmp_path):
    pairs = PAIRS[:12]
    training = FAST.model_copy(update=dict(epochs=3, batch_size=2, grad_accum=2, save_every=2))
    whole = train_worker(pairs, base_model, tmp_path / "whole", CONDUCT, training)

    out = tmp_path / "crashed"
    with pytest.raises(Crash):
        train_worker(pairs, base_model, out, CONDUCT, training, crash_after(5))
    # Only the last two checkpoints are kept; step 5 crashed before its (unscheduled) save.
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert not (out / "final").exists()

    resumed = train_worker(pairs, base_model, out, CONDUCT, training)
    assert resumed.loop.resumed_from_step == 4
    assert resumed.loop.steps == whole.loop.steps
    assert resumed.loop.losses == pytest.approx(whole.loop.losses, abs=1e-6)
    assert resumed.held_out_loss_before == whole.held_out_loss_before
    expected, got = weights(whole.loop.final_path), weights(resumed.loop.final_path)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.allclose(expected[name], got[name], atol=1e-6), name


def test_a_changed_pair_set_does_not_resume(base_model, tmp_path):
    training = FAST.model_copy(update=dict(epochs=1, save_every=1))
    out = tmp_path / "out"
    train_worker(PAIRS[:8], base_model, out, CONDUCT, training)
    again = train_worker(PAIRS[:8], base_model, out, CONDUCT, training)
    assert (
        again.loop.resumed_from_step == again.loop.steps
    )  # the same run: resumes from its last step

    changed = [(o, r + " ") for o, r in PAIRS[:8]]
    fresh = train_worker(changed, base_model, out, CONDUCT, training)
    assert fresh.loop.resumed_from_step is None
    other_seed = train_worker(
        PAIRS[:8], base_model, out, CONDUCT, training.model_copy(update=dict(seed=1))
    )
    assert other_seed.loop.resumed_from_step is None


def test_too_long_pairs_are_skipped_and_counted(base_model, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    pairs = PAIRS[:6]
    longest = max(len(encode_pair(tokenizer, CONDUCT, o, r).input_ids) for o, r in pairs)
    long_text = " ".join(SENTENCES)
    too_long = [(long_text, long_text), (long_text + " ١", long_text)]
    training = FAST.model_copy(update=dict(epochs=1, max_seq_len=longest))
    report = train_worker(pairs + too_long, base_model, tmp_path / "out", CONDUCT, training)
    assert report.n_skipped_too_long == 2
    assert report.n_train + report.n_held_out == len(pairs)


def test_no_usable_pairs_is_an_error(base_model, tmp_path):
    with pytest.raises(ValueError, match="no usable pairs"):
        train_worker([], base_model, tmp_path / "out", CONDUCT, FAST)
    with pytest.raises(ValueError, match="longer than max_seq_len=8"):
        train_worker(
            PAIRS[:3],
            base_model,
            tmp_path / "out",
            CONDUCT,
            FAST.model_copy(update=dict(max_seq_len=8)),
        )
