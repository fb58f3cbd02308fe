"""--answer-mode score (runtime/scoring.py): option log-likelihoods over one prefill's KV cache equal a
plain full forward per option; answers files carry the probabilities and the scorer's calibration
metrics read them; the CLI refuses bf16 on a CPU without it."""
from __future__ import annotations

import json
import math

import pytest

from test_eval_infer import infer, read_jsonl
from test_eval_infer import setup  # noqa: F401  (module fixture: the tiny trained checkpoint)

YES_NO_IDS = ("sarcasm/0", "hate/1")


def _reference_loglik(model, prepared, option_ids: list[int]) -> float:
    """log p(option | prompt) from one full forward over prompt + option, batch 1, no cache."""
    import torch
    ids = torch.cat([prepared.input_ids, torch.tensor(option_ids)]).unsqueeze(0)
    visual = None if prepared.visual is None else [prepared.visual.to(model.dtype)]
    audio = None if prepared.audio is None else [prepared.audio.to(model.dtype)]
    with torch.inference_mode():
        logits = model(input_ids=ids, images=visual, audios=audio).logits[0].float()
    scored = torch.log_softmax(logits[-len(option_ids) - 1:-1], -1)
    return scored.gather(1, torch.tensor(option_ids).unsqueeze(1)).sum().item()


@pytest.fixture(scope="module")
def answerer(setup):  # noqa: F811
    import argparse

    import emollm_plugin
    from emollm_plugin.runtime.answerer import Answerer
    from emollm_plugin.runtime.arguments import add_model_arguments
    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    args = parser.parse_args(["--model-path", str(setup.ckpt), "--model-base", str(setup.base), "--device", "cpu",
                              "--num-video-frames", "4", "--answer-mode", "score"])
    args.media_root, args.question_file = setup.media, setup.questions
    emollm_plugin.register()  # as the commands do before loading; undone when the module ends
    return Answerer(args)


@pytest.mark.slow  # trains the tiny checkpoint once (shared with test_eval_infer.py)
def test_one_prefill_with_the_cache_expanded_equals_a_full_forward_per_option(setup, answerer):  # noqa: F811
    """A left-padded batch of an image, a clip and a clip with audio, 7 options each: every
    option's log-likelihood equals the batch-1 full forward over prompt + option."""
    import torch

    from emollm_plugin.runtime.scoring import option_ids, options_for, score_options
    records = [r for r in json.loads(setup.questions.read_text()) if r["id"] in setup.good_ids]
    picked = [next(r for r in records if kind in r and "audio" not in r and r["task"] == "emotion_closed")
              for kind in ("image", "video")] + [next(r for r in records if "audio" in r)]
    picked[2] = dict(picked[2], task="sarcasm", label="no")  # a yes/no question: options Yes / No
    prepared = [answerer.prepare(r) for r in picked]
    assert len({len(p.input_ids) for p in prepared}) > 1  # the batch is padded
    scored = score_options(answerer.model, answerer.tokenizer, [p.input_ids for p in prepared],
                           [p.visual for p in prepared], [p.audio for p in prepared],
                           [r["task"] for r in picked], [options_for(r) for r in picked])
    for record, item, result in zip(picked, prepared, scored):
        options = options_for(record)
        assert list(result.probabilities) == options
        assert math.isclose(sum(result.probabilities.values()), 1.0, abs_tol=1e-5)
        ids = option_ids(answerer.tokenizer, record["task"], options)
        reference = torch.tensor([_reference_loglik(answerer.model, item, o) for o in ids])
        got = torch.tensor([result.log_likelihoods[o] for o in options])
        assert torch.allclose(got, reference, atol=2e-4, rtol=1e-4), (record["id"], got, reference)
        expected = torch.softmax(reference, 0)
        assert max(abs(result.probabilities[o] - expected[k].item()) for k, o in enumerate(options)) < 1e-4
        best = options[int(reference.argmax())]
        assert result.text == (best.capitalize() if record["task"] == "sarcasm" else best)


@pytest.mark.slow
def test_infer_score_mode_writes_probabilities_and_generates_open_questions(setup, tmp_path):  # noqa: F811
    from emollm_plugin.eval import score_files
    records = json.loads(setup.questions.read_text())
    for i, rid in enumerate(YES_NO_IDS):  # two yes/no questions asked of image records
        base = next(r for r in records if r["id"] == setup.good_ids[i])
        records.append(dict(base, id=rid, task=rid.split("/")[0], label=("yes", "no")[i]))
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps(records))
    setup_copy = type(setup)(**{**setup.__dict__, "questions": questions})
    answers = tmp_path / "answers.jsonl"
    code, stderr = infer(setup_copy, answers, "--answer-mode", "score")
    assert code == 0, stderr
    by_task = {r["id"]: r["task"] for r in records}
    rows = read_jsonl(answers)
    for row in rows:
        task = by_task[row["question_id"]]
        if task == "emotion_open":
            assert "option_probabilities" not in row  # generated
            continue
        probabilities = row["option_probabilities"]
        assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-4)
        best = max(probabilities, key=probabilities.get)
        assert row["text"] == (best.capitalize() if task in ("sarcasm", "hate") else best)
    assert {by_task[r["question_id"]] for r in rows} >= {"emotion_open", "emotion_closed", "sarcasm", "hate"}
    scores = score_files(answers, questions)
    for task in ("sarcasm", "hate"):  # one record each: one class only, so no ROC-AUC; ECE is defined
        calibration = scores["tasks"][task]["calibration"]
        assert calibration["n"] == 1 and calibration["roc_auc"] is None and 0 <= calibration["ece"] <= 100
    assert "calibration" not in scores["tasks"]["emotion_closed"]


def test_bf16_on_a_cpu_without_it_is_refused_with_the_fix(monkeypatch):
    from emollm_plugin.runtime import cpu_precision
    from emollm_plugin.runtime.errors import InferInputError
    from emollm_plugin.runtime.loading import resolve_device_dtype
    monkeypatch.setattr(cpu_precision, "cpu_bf16_support", lambda: (False, "no bf16 instructions on this CPU"))
    with pytest.raises(InferInputError, match="no bf16 instructions.*--dtype float32"):
        resolve_device_dtype("cpu", "bfloat16")
    assert str(resolve_device_dtype("cpu", "float32")[1]) == "torch.float32"
    monkeypatch.setattr(cpu_precision, "cpu_bf16_support", lambda: (True, "CPU flags avx512_bf16"))
    assert str(resolve_device_dtype("cpu", "bfloat16")[1]) == "torch.bfloat16"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    from emollm_plugin.runtime.cpu_precision import BF16_FLAGS, cpu_flags
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n\nprocessor\t: 1\n")
    assert cpu_flags(info) & set(BF16_FLAGS) == {"avx512_bf16"}
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert not cpu_flags(info) & set(BF16_FLAGS)
    assert cpu_flags(tmp_path / "missing") == set()
