"""Closed-set answers scored in one pass (``--answer-mode score``): every option's log-likelihood
over the prompt's KV cache, instead of generating the answer.

For a question with prompt p (P positions once the media are spliced in) and options o_1..o_K,
each option is the answer turn training taught (``tasks.schema.answer_text``: the label, or
"Yes"/"No"), tokenised c_k = (c_k1, ..., c_kL_k, EOS). With z_0 the prompt's last logits (1 x V,
from the prefill) and z_kj the logits after c_k1..c_kj (from the option forward),

    log p(o_k | p) = log softmax(z_0)[c_k1] + sum_{j=1..L_k} log softmax(z_kj)[c_k,j+1]
    q_k            = exp(log p(o_k | p)) / sum_i exp(log p(o_i | p))      (probabilities over the options)

and the answer is argmax_k q_k, written as its answer text so the scorer parses it as it parses a
generated one. Shapes, for B questions with K_b options each and R = sum_b K_b option rows:

- prefill: ids B x S (left-padded as ``generate`` pads) -> spliced embeddings B x P x D, attention
  mask B x P, the KV cache (per layer B x H x P x d) and z_0 (B x V);
- the cache and the mask rows are repeated K_b times (R x H x P x d, R x P), never recomputed;
- one forward over the option ids R x L_max (right-padded; a 4-D mask R x 1 x L_max x (P + L_max),
  ``option_attention``; positions n_b + j with n_b the question's unpadded length) gives
  R x L_max x V logits.

The EOS term makes "Apolog" and "Apologise" different sequences (a prefix of another option does
not win by being shorter). Records of tasks without a fixed option set (emotion_open, free
questions) are generated; ``options_for`` returns None for them. The options come from
the question (``label_set``, the options shown in the prompt) or the task's label set: never from
the gold label.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from ..tasks.labels import CLOSED_TASKS, YES_NO, YES_NO_TASKS
from ..tasks.schema import TASK_LABELS, answer_text
from .generation import generate, pad_left

ANSWER_MODES = ("generate", "score")


@dataclass(frozen=True)
class Scored:
    """One question's scored answer: the chosen option's answer text and every option's q_k."""

    text: str
    probabilities: dict[str, float]  # label -> q_k (sums to 1)
    log_likelihoods: dict[str, float]  # label -> log p(o_k | p)


def options_for(record: dict) -> Optional[list[str]]:
    """The labels a question can be answered with, or None when it has no fixed option set."""
    task = record.get("task")
    if task in YES_NO_TASKS:
        return list(YES_NO)
    if task in CLOSED_TASKS:
        return list(record.get("label_set") or TASK_LABELS[task])
    return None


def option_ids(tokenizer, task: str, options: Sequence[str]) -> list[list[int]]:
    """Each option's answer-turn token ids, EOS appended."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    return [tokenizer(answer_text(task, option), add_special_tokens=False).input_ids + eos for option in options]


def _repeat_rows(cache, index):
    """The KV cache with batch rows ``index`` (R,): a legacy tuple of (key, value) per layer, or a
    transformers Cache object (its layers' keys/values, or key_cache/value_cache lists)."""
    if isinstance(cache, (tuple, list)):
        return tuple(tuple(t.index_select(0, index) for t in layer) for layer in cache)
    if hasattr(cache, "layers"):  # transformers 5.x: DynamicCache.layers[i].keys / .values
        for layer in cache.layers:
            layer.keys, layer.values = layer.keys.index_select(0, index), layer.values.index_select(0, index)
        return cache
    cache.key_cache = [k.index_select(0, index) for k in cache.key_cache]
    cache.value_cache = [v.index_select(0, index) for v in cache.value_cache]
    return cache


def option_attention(prefix_mask, option_mask):
    """The option forward's mask as a 4-D 0/1 tensor R x 1 x L x (P + L): option position j sees its
    question's unpadded prompt and option positions 0..j. Given in full because transformers
    4.37's SDPA path cannot expand a 2-D mask that is left-padded (the prompt) for a query of
    several tokens over a cache."""
    import torch

    width = option_mask.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool, device=option_mask.device).tril()
    options = causal.unsqueeze(0) & option_mask.bool().unsqueeze(1)  # R x L x L
    prefix = prefix_mask.bool().unsqueeze(1).expand(-1, width, -1)  # R x L x P
    return torch.cat([prefix, options], 2).unsqueeze(1).long()


def score_options(model, tokenizer, input_ids: list, visuals: list, audios: list, tasks: list[str],
                  options: list[Sequence[str]]) -> list[Scored]:
    """Score B questions (prompt ids as ``generate`` takes them) against their options in one
    prefill and one option forward; see the module docstring."""
    import torch

    batch, mask = pad_left(tokenizer, input_ids)
    device, dtype = model.device, model.dtype

    def moved(items):
        if all(x is None for x in items):
            return None
        return [None if x is None else x.to(device=device, dtype=dtype) for x in items]

    media = {"audios": moved(audios)} if any(a is not None for a in audios) else {}
    with torch.inference_mode():
        _, _, prefix_mask, _, embeds, _ = model.prepare_inputs_labels_for_multimodal(
            batch.to(device), None, mask.to(device), None, None, moved(visuals), None, **media)
        if embeds is None:  # no media in the batch: the ids pass through unchanged
            embeds = model.get_model().embed_tokens(batch.to(device))
        prefix_mask = (mask if prefix_mask is None else prefix_mask).to(device=device, dtype=torch.long)
        positions = (prefix_mask.cumsum(-1) - 1).clamp_min(0)
        out = model(inputs_embeds=embeds, attention_mask=prefix_mask, position_ids=positions, use_cache=True)
        first = torch.log_softmax(out.logits[:, -1].float(), -1)  # B x V

        per_question = [option_ids(tokenizer, task, opts) for task, opts in zip(tasks, options)]
        owner = torch.tensor([b for b, ids in enumerate(per_question) for _ in ids], device=device)
        rows = [ids for ids in per_question for ids in ids]
        width = max(len(ids) for ids in rows)
        option_batch = torch.zeros((len(rows), width), dtype=torch.long)
        option_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, ids in enumerate(rows):
            option_batch[r, :len(ids)] = torch.tensor(ids)
            option_mask[r, :len(ids)] = 1
        option_batch, option_mask = option_batch.to(device), option_mask.to(device)
        cache = _repeat_rows(out.past_key_values, owner)
        lengths = prefix_mask.sum(-1).index_select(0, owner)  # R: unpadded prompt length n_b
        option_positions = lengths.unsqueeze(1) + torch.arange(width, device=device)
        logits = model(input_ids=option_batch, past_key_values=cache, use_cache=True,
                       attention_mask=option_attention(prefix_mask.index_select(0, owner), option_mask),
                       position_ids=option_positions).logits.float()  # R x L x V
        later = torch.log_softmax(logits[:, :-1], -1).gather(2, option_batch[:, 1:].unsqueeze(2)).squeeze(2)
        totals = (first.index_select(0, owner).gather(1, option_batch[:, :1]).squeeze(1)
                  + (later * option_mask[:, 1:]).sum(1))  # R: log p(o_k | p)
    results, start = [], 0
    for task, opts in zip(tasks, options):
        loglik = totals[start:start + len(opts)]
        start += len(opts)
        q = torch.softmax(loglik, 0).tolist()
        best = max(range(len(opts)), key=lambda k: q[k])
        results.append(Scored(answer_text(task, opts[best]), {o: round(p, 6) for o, p in zip(opts, q)},
                              dict(zip(opts, loglik.tolist()))))
    return results


def answer_prepared(model, tokenizer, prepared: list, generation: dict, mode: str = "generate",
                    ) -> list[tuple[str, Optional[dict[str, float]]]]:
    """(text, option probabilities or None) per prepared record (``answerer.Prepared``). ``score``
    scores the records that have an option set and generates the others; ``generate`` generates
    all of them."""
    if mode not in ANSWER_MODES:
        raise ValueError(f"unknown answer mode {mode!r}; known: {', '.join(ANSWER_MODES)}")
    options = [options_for(p.record) if mode == "score" else None for p in prepared]
    out: list = [None] * len(prepared)
    scored = [i for i, o in enumerate(options) if o is not None]
    generated = [i for i, o in enumerate(options) if o is None]
    if scored:
        results = score_options(model, tokenizer, [prepared[i].input_ids for i in scored],
                                [prepared[i].visual for i in scored], [prepared[i].audio for i in scored],
                                [prepared[i].record["task"] for i in scored], [options[i] for i in scored])
        for i, result in zip(scored, results):
            out[i] = (result.text, result.probabilities)
    if generated:
        texts = generate(model, tokenizer, [prepared[i].input_ids for i in generated],
                         [prepared[i].visual for i in generated], [prepared[i].audio for i in generated],
                         **generation)
        for i, text in zip(generated, texts):
            out[i] = (text, None)
    return out
