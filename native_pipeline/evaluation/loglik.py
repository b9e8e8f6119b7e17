"""Log-likelihood of continuations, as lm-evaluation-harness's HFLM computes it, in fewer passes.

Tokenisation is HFLM's: trailing spaces of a context move to the continuation; the continuation's
tokens are those of encode(context + continuation) past len(encode(context)); the tokenizer's
own default decides on a BOS (HFLM's default too); a request longer than the model's maximum
length is cut from the left. The result is the sum of the continuation's token log-probs and
whether each token was the argmax (lm-eval's is_greedy).

The speed-up, with the same numbers: HFLM runs every (context, continuation) request as its own
sequence, so a 4-choice question computes its context 4 times, and takes a log-softmax over the
whole vocabulary at every position. Here the continuations of one context are packed after a
single copy of it, as a prefix tree: tokens that begin several continuations alike ("الحركة"
of "الحركة الدائرية" and "الحركة الخطية") are fed once. Each tree token attends to the context
and to its own ancestors only (a 4-D mask) and takes its position from its depth after the
context, which is what it sees in its own sequence. The tokens every context begins with (the
template's "السؤال:") run once, and each batch continues from their keys and values. A row
shorter than its batch's longest takes the shortest groups that fit in its room, each group
seeing only its own tokens, in place of padding. Only the positions that predict continuation
tokens go through the LM head and the log-softmax.
"""

from __future__ import annotations

import copy
import os
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch

# lm-eval's fallbacks when neither the config nor the tokenizer gives a length.
DEFAULT_MAX_LENGTH = 2048
TOKENIZER_INFINITY = 1000000000000000019884624838656


class Loglik(NamedTuple):
    logprob: float  # sum over the continuation's tokens, natural log
    is_greedy: bool  # every continuation token was the model's argmax


class PrefixTree(NamedTuple):
    """The fed tokens of a group's continuations, a shared beginning once (the last token of a
    continuation is only predicted, never fed). Nodes are in the continuations' sorted order, so
    a node's parent comes before it and the continuations through a node are a range of ranks:
    node a is an ancestor of node b when a's range holds b's and a is not deeper."""

    tokens: list[int]
    depths: list[int]  # 1 for a continuation's first token
    lows: list[int]  # the range of sorted continuations that pass through the node
    highs: list[int]
    predicted_at: list[list[int]]  # per continuation, per token: its predicting node, -1: context


def prefix_tree(continuations: Sequence[list[int]]) -> PrefixTree:
    tree = PrefixTree([], [], [], [], [[] for _ in continuations])
    children: dict[tuple[int, int], int] = {}  # (parent node, token) -> node
    order = sorted(range(len(continuations)), key=continuations.__getitem__)
    for rank, index in enumerate(order):
        parent = -1
        tree.predicted_at[index].append(parent)
        for depth, token in enumerate(continuations[index][:-1], 1):
            node = children.setdefault((parent, token), len(tree.tokens))
            if node == len(tree.tokens):
                tree.tokens.append(token)
                tree.depths.append(depth)
                tree.lows.append(rank)
                tree.highs.append(rank)
            tree.highs[node] = rank
            tree.predicted_at[index].append(node)
            parent = node
    return tree


@dataclass(frozen=True)
class Group:
    """Token ids of one context and the continuations scored after it."""

    context: list[int]
    continuations: list[list[int]]

    @cached_property
    def tree(self) -> PrefixTree:
        return prefix_tree(self.continuations)

    @property
    def packed_length(self) -> int:
        return len(self.context) + len(self.tree.tokens)


@runtime_checkable
class ScoringEngine(Protocol):
    """A model server that scores and continues token ids itself, in place of a transformers
    model: vllm_engine.VllmEngine, for checkpoints too big for one device."""

    max_length: int  # tokens of context and continuation together

    def score_groups(self, groups: Sequence[Group], *, batch_size: int) -> list[list[Loglik]]: ...

    def generate(self, prompts: Sequence[list[int]], *, max_new_tokens: int) -> list[list[int]]: ...


def max_length(model: Any, tokenizer: Any) -> int:
    """The model's context length, found where lm-eval's HFLM looks for it."""
    if isinstance(model, ScoringEngine):
        return model.max_length
    config = getattr(model.config, "text_config", None) or model.config
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        if getattr(config, attr, None) is not None:
            return int(getattr(config, attr))
    model_max_length = getattr(tokenizer, "model_max_length", None)
    if model_max_length is not None and model_max_length != TOKENIZER_INFINITY:
        return int(model_max_length)
    return DEFAULT_MAX_LENGTH


def encode_requests(
    tokenizer: Any, requests: Sequence[tuple[str, str]], max_len: int
) -> tuple[list[Group], list[list[int]]]:
    """Groups of requests that share a context, and the request indices of each group."""
    by_context: dict[str, list[int]] = {}
    for index, (context, _) in enumerate(requests):
        if not context:
            raise ValueError(f"request {index} has an empty context")
        by_context.setdefault(context, []).append(index)
    contexts = list(by_context)
    heads = [context.rstrip() for context in contexts]
    head_ids = tokenizer(heads)["input_ids"]
    wholes = [context + requests[i][1] for context in contexts for i in by_context[context]]
    whole_ids = iter(tokenizer(wholes)["input_ids"])

    groups, owners = [], []
    for context, context_ids in zip(contexts, head_ids, strict=True):
        indices = by_context[context]
        continuations = [next(whole_ids)[len(context_ids) :] for _ in indices]
        for index, continuation in zip(indices, continuations, strict=True):
            if not continuation or len(continuation) > max_len:
                raise ValueError(
                    f"request {index}: the continuation has {len(continuation)} tokens,"
                    f" it needs 1 to {max_len}"
                )
        if all(len(context_ids) + len(c) <= max_len + 1 for c in continuations):
            groups.append(Group(context_ids, continuations))
            owners.append(indices)
            continue
        # Too long: HFLM keeps the last max_len + 1 tokens of each request on its own, so each
        # continuation gets its own cut of the context.
        for index, continuation in zip(indices, continuations, strict=True):
            kept = (context_ids + continuation)[-(max_len + 1) :]
            groups.append(Group(kept[: len(kept) - len(continuation)], [continuation]))
            owners.append([index])
    return groups, owners


def _pack(rows: Sequence[Sequence[Group]], skip: int, device: torch.device, dtype: torch.dtype):
    """Left-padded input ids, position ids and additive 4-D mask of a batch of rows, each of one
    or more groups, the first `skip` tokens of every context left out (in the cache), seen by
    every token."""
    width = max(sum(group.packed_length - skip for group in row) for row in rows)
    ids, positions, depths, lows, highs = [], [], [], [], []
    for row in rows:
        pad = width - sum(group.packed_length - skip for group in row)
        # padding: depth -1, seen by no one
        row_ids, row_pos, row_low, row_high = [0] * pad, [0] * pad, [0] * pad, [0] * pad
        row_depth = [-1] * pad
        rank = 0  # each group's continuations take ranks of their own, so groups never meet
        for group in row:
            tree, n, n_ranks = group.tree, len(group.context) - skip, len(group.continuations)
            row_ids += group.context[skip:] + tree.tokens
            row_pos += [*range(skip, skip + n)] + [skip + n + d - 1 for d in tree.depths]
            # the context: depth 0 and the range of every continuation of its group
            row_depth += [0] * n + tree.depths
            row_low += [rank] * n + [rank + low for low in tree.lows]
            row_high += [rank + n_ranks] * n + [rank + high for high in tree.highs]
            rank += n_ranks + 1
        ids.append(row_ids)
        positions.append(row_pos)
        depths.append(row_depth)
        lows.append(row_low)
        highs.append(row_high)
    depth, low, high = (torch.tensor(v, device=device) for v in (depths, lows, highs))
    causal = torch.ones(width, width, dtype=torch.bool, device=device).tril()
    # A token sees its group's context and its own ancestors; padding rows see themselves only
    # so that no softmax row is empty.
    allowed = causal & (depth[:, None, :] >= 0) & (depth[:, None, :] <= depth[:, :, None])
    allowed &= (low[:, None, :] <= low[:, :, None]) & (high[:, :, None] <= high[:, None, :])
    allowed |= torch.eye(width, dtype=torch.bool, device=device)
    mask = torch.zeros(len(rows), 1, width, skip + width, dtype=dtype, device=device)
    mask[:, 0, :, skip:].masked_fill_(~allowed, torch.finfo(dtype).min)
    return torch.tensor(ids, device=device), torch.tensor(positions, device=device), mask


_ONE_HEAD_HOOK = threading.Lock()


def _score_batch(model: Any, rows: Sequence[Sequence[Group]], prefix: Any) -> list[list[Loglik]]:
    """The scores of the rows' groups, row by row, continuing from `prefix`: the cache of the
    tokens every context begins with (None when they share none)."""
    dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())
    skip = prefix.get_seq_length() if prefix is not None else 0
    input_ids, position_ids, mask = _pack(rows, skip, model.device, dtype)
    width = input_ids.shape[1]
    # Where each continuation token is predicted: its row and position in the batch.
    at_rows, positions, targets, owners = [], [], [], []
    n_scores = 0
    for row, groups in enumerate(rows):
        start = width - sum(group.packed_length - skip for group in groups)
        for group in groups:
            context_end = start + len(group.context) - skip - 1
            for continuation, at in zip(group.continuations, group.tree.predicted_at, strict=True):
                at_rows += [row] * len(continuation)
                positions += [context_end + 1 + node for node in at]
                targets += continuation
                owners += [n_scores] * len(continuation)
                n_scores += 1
            start += group.packed_length - skip
    device = input_ids.device
    picked = (torch.tensor(at_rows, device=device), torch.tensor(positions, device=device))
    cache = copy.deepcopy(prefix)  # the forward appends this batch's keys and values to it
    if cache is not None:
        cache.batch_repeat_interleave(len(rows))
    # The LM head runs on those positions only: its input gathered before it is applied. The
    # hook is the model's state, so one forward at a time holds it (polars scores a column's
    # texts in threads: the audit's perplexity before and after).
    with _ONE_HEAD_HOOK:
        head = model.get_output_embeddings().register_forward_pre_hook(
            lambda module, args: (args[0][picked], *args[1:])
        )
        try:
            logits = model(
                input_ids=input_ids,
                position_ids=position_ids,
                attention_mask=mask,
                past_key_values=cache,
                use_cache=False,
            ).logits
        finally:
            head.remove()
    target = torch.tensor(targets, device=device)
    owner = torch.tensor(owners, device=device)
    # float32 log-softmax: the same as lm-eval's for float32 models, steadier for bf16 ones
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    # max's index is the first maximum, as lm-eval's argmax of the log-probs, and faster
    misses = (logprobs.max(dim=-1).indices != target).long()
    sums = torch.zeros(n_scores, dtype=torch.float64, device=device)
    sums.index_add_(0, owner, logprobs.gather(1, target[:, None])[:, 0].double())
    missed = torch.zeros(n_scores, dtype=torch.long, device=device)
    missed.index_add_(0, owner, misses)
    flat = [Loglik(s, m == 0) for s, m in zip(sums.tolist(), missed.tolist(), strict=True)]
    scores, start = [], 0
    for group in (group for groups in rows for group in groups):
        scores.append(flat[start : start + len(group.continuations)])
        start += len(group.continuations)
    return scores


def score_groups(model: Any, groups: Sequence[Group], *, batch_size: int) -> list[list[Loglik]]:
    """Per group, one Loglik per continuation; `batch_size` packed rows per forward."""
    if isinstance(model, ScoringEngine):
        return model.score_groups(groups, batch_size=batch_size)
    if not groups:
        return []
    # The tokens every context begins with (a template's "السؤال:", a shared description) run
    # once; each context keeps its last token, which predicts its continuations' first.
    # commonprefix compares token lists as well as strings.
    shared = os.path.commonprefix([group.context for group in groups])
    shared = shared[: min(len(group.context) for group in groups) - 1]

    def length(index: int) -> int:
        return groups[index].packed_length - len(shared)

    # Longest first, so that a batch's rows are about as long and a memory error comes at once;
    # the room a row leaves under its batch's longest is filled with the shortest groups.
    order = deque(sorted(range(len(groups)), key=length, reverse=True))
    scores: list[list[Loglik]] = [[] for _ in groups]
    with torch.inference_mode():
        prefix = None
        if shared:
            ids = torch.tensor([shared], device=model.device)
            prefix = model(input_ids=ids, use_cache=True).past_key_values
        while order:
            width, rows = length(order[0]), []
            while order and len(rows) < batch_size:
                row = [order.popleft()]
                room = width - length(row[0])
                while order and length(order[-1]) <= room:
                    room -= length(order[-1])
                    row.append(order.pop())
                rows.append(row)
            batch = [index for row in rows for index in row]
            rows_of_groups = [[groups[index] for index in row] for row in rows]
            for index, group_scores in zip(
                batch, _score_batch(model, rows_of_groups, prefix), strict=True
            ):
                scores[index] = group_scores
    return scores


def loglikelihoods(
    model: Any, tokenizer: Any, requests: Sequence[tuple[str, str]], *, batch_size: int = 16
) -> list[Loglik]:
    """lm-eval's loglikelihood for each (context, continuation) request, in request order.

    Requests with the same context string are scored together; `batch_size` counts contexts.
    A request asked twice (two identical choices) is scored once, so that both get the same
    number and a tie goes to the first, as in lm-eval; packed at two places in one row, the
    two would differ by rounding.
    """
    unique = list(dict.fromkeys(requests))
    groups, owners = encode_requests(tokenizer, unique, max_length(model, tokenizer))
    scores: dict[tuple[str, str], Loglik] = {}
    for indices, group_scores in zip(
        owners, score_groups(model, groups, batch_size=batch_size), strict=True
    ):
        for index, score in zip(indices, group_scores, strict=True):
            scores[unique[index]] = score
    return [scores[request] for request in requests]
