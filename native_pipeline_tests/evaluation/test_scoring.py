from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from native_pipeline.evaluation import loglik, multiple_choice
from native_pipeline.evaluation.loglik import (
    Group,
    Loglik,
    encode_requests,
    loglikelihoods,
    prefix_tree,
)
from native_pipeline.evaluation.multiple_choice import multiple_choice as score_mc
from native_pipeline.evaluation.tasks import MCItem, context, continuations
from native_pipeline_tests.evaluation.conftest import sample_items

REQUESTS = [
    ("السؤال: ما عاصمة مصر؟\nالإجابة:", " القاهرة"),
    ("السؤال: ما عاصمة مصر؟\nالإجابة:", " الإسكندرية"),
    ("السؤال: كم عدد أركان الإسلام؟\nالإجابة: ", "خمسة"),  # trailing space moves over
    ("قصير", " نعم"),
]


def naive(model, tokenizer, context: str, continuation: str, max_len: int) -> tuple[float, bool]:
    """One request on its own, the whole vocabulary log-softmaxed: lm-eval's recipe by hand."""
    head = context.rstrip()
    context_ids = tokenizer(head)["input_ids"]
    target = tokenizer(context + continuation)["input_ids"][len(context_ids) :]
    ids = (context_ids + target)[-(max_len + 1) :][:-1]
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0], dim=-1)
    rows = logprobs[len(ids) - len(target) :]
    total = sum(float(rows[i, t]) for i, t in enumerate(target))
    return total, all(int(rows[i].argmax()) == t for i, t in enumerate(target))


def test_loglik_equals_hand_computed_sum(tiny_lm):
    _, model, tokenizer = tiny_lm
    ours = loglikelihoods(model, tokenizer, REQUESTS, batch_size=2)
    for (ctx, cont), score in zip(REQUESTS, ours, strict=True):
        total, greedy = naive(model, tokenizer, ctx, cont, max_len=4096)
        assert score.logprob == pytest.approx(total, abs=1e-4)
        assert score.is_greedy == greedy


def test_batch_size_does_not_change_scores(tiny_lm):
    _, model, tokenizer = tiny_lm
    items, dev = sample_items("exams_flat")
    requests = [(context(i, dev[:2]), c) for i in items[:6] for c in continuations(i)]
    one = loglikelihoods(model, tokenizer, requests, batch_size=1)
    many = loglikelihoods(model, tokenizer, requests, batch_size=5)
    assert [s.logprob for s in one] == pytest.approx([s.logprob for s in many], abs=1e-5)


def test_long_requests_are_cut_from_the_left_each_on_its_own(tiny_lm, monkeypatch):
    _, model, tokenizer = tiny_lm
    requests = REQUESTS[:2]
    groups, owners = encode_requests(tokenizer, requests, max_len=6)
    assert owners == [[0], [1]]  # no longer sharing the context
    assert all(len(g.context) + len(g.continuations[0]) == 7 for g in groups)
    monkeypatch.setattr(loglik, "max_length", lambda model, tokenizer: 6)
    for (ctx, cont), score in zip(
        requests, loglikelihoods(model, tokenizer, requests), strict=True
    ):
        assert score.logprob == pytest.approx(naive(model, tokenizer, ctx, cont, 6)[0], abs=1e-4)


def test_empty_context_is_refused(tiny_lm):
    _, model, tokenizer = tiny_lm
    with pytest.raises(ValueError, match="request 0 has an empty context"):
        loglikelihoods(model, tokenizer, [("", " نعم")])


def test_acc_norm_divides_by_choice_characters(monkeypatch):
    # The short choice wins on the total, the long one per character of the choice alone
    # (counting the leading space, -1/2 > -2.5/4, the short one would win again).
    item = MCItem("1", "س", ["أ", "ببب"], gold=1)
    monkeypatch.setattr(
        multiple_choice,
        "loglikelihoods",
        lambda model, tokenizer, requests, batch_size: [Loglik(-1.0, False), Loglik(-2.5, False)],
    )
    result = score_mc(None, None, [item])
    assert (result.acc, result.acc_norm) == (0.0, 1.0)
    assert (result.rows[0].prediction, result.rows[0].prediction_norm) == (0, 1)


def test_multiple_choice_takes_the_first_shots_of_the_same_subject(tiny_lm):
    _, model, tokenizer = tiny_lm
    items, dev = sample_items("acva")
    result = score_mc(model, tokenizer, items[:3], shots=2, dev=dev, batch_size=2)
    for item, row in zip(items[:3], result.rows, strict=True):
        same = [shot for shot in dev if shot.subject == item.subject][:2]
        assert len(same) == 2 and same != dev[:2]
        requests = [(context(item, same), c) for c in continuations(item)]
        expected = [s.logprob for s in loglikelihoods(model, tokenizer, requests)]
        assert row.logliks == pytest.approx(expected, abs=1e-5)
    assert result.n == 3 and result.shots == 2
    with pytest.raises(ValueError, match="3 shots asked for, the dev split has 2 items of subject"):
        score_mc(model, tokenizer, items, shots=3, dev=dev)
    with pytest.raises(ValueError, match="no dev data"):
        score_mc(model, tokenizer, items, shots=1)


def test_scores_per_subject_category_and_macro(monkeypatch):
    items = [
        MCItem("1", "س", ["أ", "ب"], gold=0, subject="s1", category="c"),
        MCItem("2", "س", ["أ", "ب"], gold=1, subject="s1", category="c"),
        MCItem("3", "س", ["أ", "ب"], gold=0, subject="s1", category="c"),
        MCItem("4", "س", ["أ", "ب"], gold=0, subject="s2", category="c"),
    ]
    # choice 0 always wins: right on items 1, 3 and 4
    monkeypatch.setattr(
        multiple_choice,
        "loglikelihoods",
        lambda model, tokenizer, requests, batch_size: (
            [Loglik(-1.0, True), Loglik(-2.0, False)] * 4
        ),
    )
    result = score_mc(None, None, items)
    assert result.acc == 0.75
    assert result.acc_macro == pytest.approx((2 / 3 + 1) / 2)
    assert [(g.by, g.group, g.acc, g.n) for g in result.groups] == [
        ("subject", "s1", pytest.approx(2 / 3), 3),
        ("subject", "s2", 1.0, 1),
        ("category", "c", 0.75, 4),
    ]


def test_lettered_templates_score_letters(tiny_lm):
    _, model, tokenizer = tiny_lm
    items, dev = sample_items("arabic_mmlu")
    result = score_mc(model, tokenizer, items[:2], shots=1, dev=dev, template="arabicmmlu")
    assert len(result.rows[0].logliks) == len(items[0].choices)
    assert result.acc == result.acc_norm  # one-character choices: the same normalisation
    with pytest.raises(ValueError, match="does not fit"):
        score_mc(model, tokenizer, items[:1], template="oall_acva")


def test_identical_choices_score_identically_and_the_first_wins(tiny_lm, monkeypatch):
    """lm-eval scores each request on its own, so two identical choices tie and argmax takes
    the first; packed at two places of one row they would differ by rounding."""
    _, model, tokenizer = tiny_lm
    items, dev = sample_items("exams_flat")
    twins = [
        MCItem(i.id, i.question, [i.choices[1], i.choices[0], i.choices[1]], 2, subject=i.subject)
        for i in items[:4]
    ]
    scored: list[int] = []
    score_groups = loglik.score_groups
    monkeypatch.setattr(
        loglik,
        "score_groups",
        lambda model, groups, batch_size: (
            scored.extend(len(g.continuations) for g in groups)
            or score_groups(model, groups, batch_size=batch_size)
        ),
    )
    result = score_mc(model, tokenizer, twins, shots=2, dev=dev, batch_size=3)
    assert sum(scored) == 2 * len(twins)  # a repeated request is scored once
    for row in result.rows:
        assert row.logliks[0] == row.logliks[2] and row.is_greedy[0] == row.is_greedy[2]
        assert row.prediction != 2 and row.prediction_norm != 2  # a tie goes to the first


def test_a_subject_without_enough_dev_items_fails_alone(tiny_lm):
    _, model, tokenizer = tiny_lm
    items, dev = sample_items("acva")
    subjects = list(dict.fromkeys(i.subject for i in items))
    short = [d for d in dev if d.subject != subjects[0]] + [
        d for d in dev if d.subject == subjects[0]
    ][:1]
    result = score_mc(model, tokenizer, items, shots=2, dev=short, batch_size=4)
    left_out = [i for i in items if i.subject == subjects[0]]
    assert [(f.subject, f.n) for f in result.failed] == [(subjects[0], len(left_out))]
    assert "2 shots asked for, the dev split has 1 items" in result.failed[0].reason
    assert result.n == len(items) - len(left_out)
    assert subjects[0] not in {g.group for g in result.groups}


def test_continuations_that_begin_alike_feed_their_beginning_once():
    tree = prefix_tree([[5, 2, 3], [1, 2, 3], [1, 2, 4], [1, 5], [6]])
    # [1, 2] is fed once for three continuations; a continuation's last token is never fed
    assert tree.tokens == [1, 2, 5, 2]
    assert tree.depths == [1, 2, 1, 2]
    assert (tree.lows, tree.highs) == ([0, 0, 3, 3], [2, 1, 3, 3])  # ranks in sorted order
    assert tree.predicted_at == [[-1, 2, 3], [-1, 0, 1], [-1, 0, 1], [-1, 0], [-1]]
    assert Group([7, 8], [[1, 2, 3], [1, 2, 4]]).packed_length == 4


def test_shared_beginnings_score_as_each_request_alone(tiny_lm):
    """Choices that begin with the same words ("الحركة ...") share their first tree tokens;
    each still gets the log-likelihood of its own sequence."""
    _, model, tokenizer = tiny_lm
    question = "السؤال: ما نوع حركة الأرض حول الشمس؟\nالإجابة:"
    choices = [" الحركة الدائرية", " الحركة الخطية", " الحركة", " نعم", " الحركة الدائرية المنتظمة"]
    requests = [(question, choice) for choice in choices] + REQUESTS
    groups, _ = encode_requests(tokenizer, requests[: len(choices)], max_len=4096)
    fed = sum(len(c) - 1 for c in groups[0].continuations)
    assert groups[0].packed_length < len(groups[0].context) + fed
    scores = loglikelihoods(model, tokenizer, requests, batch_size=3)
    _assert_each_scores_as_alone(model, tokenizer, requests, scores)


def test_the_lm_head_runs_only_where_a_continuation_token_is_predicted(tiny_lm):
    _, model, tokenizer = tiny_lm
    groups, _ = encode_requests(tokenizer, REQUESTS, max_len=4096)
    seen = []
    hook = model.get_output_embeddings().register_forward_hook(
        lambda module, args, output: seen.append(args[0].shape[:-1].numel())
    )
    try:
        loglik.score_groups(model, groups, batch_size=8)
    finally:
        hook.remove()
    assert seen == [sum(len(c) for g in groups for c in g.continuations)]


def test_one_model_scored_from_two_threads_scores_as_from_one(tiny_lm):
    """polars runs the audit's perplexity before and after in two threads on one model: the
    LM head's gathering hook of one forward must not act on the other's."""
    _, model, tokenizer = tiny_lm
    alone = loglikelihoods(model, tokenizer, REQUESTS, batch_size=2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(
            pool.map(lambda _: loglikelihoods(model, tokenizer, REQUESTS, batch_size=2), range(6))
        )
    for scores in runs:
        assert [s.logprob for s in scores] == pytest.approx([s.logprob for s in alone])


def _assert_each_scores_as_alone(model, tokenizer, requests, scores) -> None:
    for (ctx, cont), score in zip(requests, scores, strict=True):
        total, greedy = naive(model, tokenizer, ctx, cont, max_len=4096)
        assert score.logprob == pytest.approx(total, abs=1e-4)
        assert score.is_greedy == greedy


def _forward_widths(model, tokenizer, requests, batch_size: int) -> tuple[list, list]:
    """The (rows, tokens) of every forward the model ran while scoring, and the scores."""
    widths = []
    hook = model.register_forward_pre_hook(
        lambda module, args, kwargs: widths.append(tuple(kwargs["input_ids"].shape)),
        with_kwargs=True,
    )
    try:
        scores = loglikelihoods(model, tokenizer, requests, batch_size=batch_size)
    finally:
        hook.remove()
    return widths, scores


def test_the_beginning_every_context_shares_runs_once(tiny_lm):
    """ "السؤال:" begins every cloze context: its keys and values are computed once, and each
    batch continues from them."""
    _, model, tokenizer = tiny_lm
    requests = [*REQUESTS[:3], ("السؤال: ما لون السماء؟\nالإجابة:", " أزرق")]
    groups, _ = encode_requests(tokenizer, requests, max_len=4096)
    shared = os.path.commonprefix([g.context for g in groups])
    assert len(shared) >= 2
    widths, scores = _forward_widths(model, tokenizer, requests, batch_size=8)
    longest = max(g.packed_length for g in groups)
    assert widths == [(1, len(shared)), (len(groups), longest - len(shared))]
    _assert_each_scores_as_alone(model, tokenizer, requests, scores)


def test_no_groups_score_nothing(tiny_lm):
    _, model, _ = tiny_lm
    assert loglik.score_groups(model, [], batch_size=4) == []


def test_short_groups_fill_the_room_a_long_one_leaves(tiny_lm):
    """A row holds the batch's longest group or, where one is shorter, the shortest groups
    after it; each group sees only its own context and continuations."""
    _, model, tokenizer = tiny_lm
    long = "السؤال: " + " ".join(["ما عاصمة مصر وما أكبر مدنها بعد القاهرة؟"] * 4) + "\nالإجابة:"
    requests = [(long, " القاهرة"), (long, " الإسكندرية"), *REQUESTS]
    groups, _ = encode_requests(tokenizer, requests, max_len=4096)
    widths, scores = _forward_widths(model, tokenizer, requests, batch_size=2)
    assert widths == [(2, max(g.packed_length for g in groups))]  # 4 groups in 2 rows
    _assert_each_scores_as_alone(model, tokenizer, requests, scores)
