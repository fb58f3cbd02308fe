"""EmoBench in lmms-eval (current row): the `emollm` model class and the `emobench` task group.

The lmms-eval run answers with the tiny checkpoint of test_eval_infer; its answers must equal
`emollm eval infer`'s and its per-task accuracies `emollm eval score`'s on the same answers.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from test_eval_infer import COMMON, eval_setup, infer, read_jsonl

# lmms-eval is installed on the current row only: scripts/test.sh runs these there (-m "not lmms" on pinned)
pytestmark = [pytest.mark.slow, pytest.mark.current_stack, pytest.mark.lmms]

LIMIT = 8
TASKS = {"emobench_emo_c": "emotion_closed", "emobench_emo_o": "emotion_open", "emobench_intention": "intention",
         "emobench_hate": "hate", "emobench_humor": "humor", "emobench_sarcasm": "sarcasm"}


def _six_task_records(records: list[dict]) -> list[dict]:
    """The setup's emotion records, and the same media asked as intention and yes/no questions."""
    from emollm_plugin.tasks.labels import MINTREC_INTENTS
    out = [dict(r) for r in records]
    intents = list(MINTREC_INTENTS[:4])
    for k, base in enumerate(records):
        marker = "<image>" if "image" in base else "<video>\n<audio>" if "audio" in base else "<video>"
        for task, question, label, extra in (
                ("intention", f"{marker}\nWhat is the intention? Options: {', '.join(intents)}.", intents[k % 4],
                 {"label_set": intents}),
                ("hate", f"{marker}\nIs this hateful? Answer yes or no.", "yes" if k % 2 else "no", {}),
                ("humor", f"{marker}\nIs this humorous? Answer yes or no.", "no" if k % 2 else "yes", {}),
                ("sarcasm", f"{marker}\nIs this sarcastic? Answer yes or no.", "yes" if k % 3 else "no", {})):
            record = {key: value for key, value in base.items() if key != "label_set"}
            record.update(id=f"{base['id']}/{task}", task=task, label=label, **extra,
                          conversations=[{"from": "human", "value": question}, {"from": "gpt", "value": label}])
            out.append(record)
    return out


@pytest.fixture(scope="module")
def bench(tiny_models, tmp_path_factory):
    setup = eval_setup(tiny_models, tmp_path_factory)
    records = [r for r in json.loads(setup.questions.read_text()) if r["id"] in setup.good_ids]
    root = tmp_path_factory.mktemp("lmms")
    questions = root / "questions.json"
    questions.write_text(json.dumps(_six_task_records(records), indent=1))
    return setup, questions, root


def _sample(sample: dict) -> tuple[dict, str]:
    """(the record, the model's answer) of one logged lmms-eval sample."""
    response = sample["filtered_resps"]
    return json.loads(sample["emobench_accuracy"]["record"]), response[0] if isinstance(response, list) else response


def _env(setup, questions) -> dict:
    return {**os.environ, "EMOBENCH_QUESTIONS": str(questions), "EMOBENCH_MEDIA_ROOT": str(setup.media),
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="module")
def lmms_run(bench):
    """The command docs/lmms_eval.md documents, offline on the tiny checkpoint: (results, samples by task)."""
    from emollm_plugin.apps.lmms_eval import TASKS_DIR
    setup, questions, root = bench
    out = root / "out"
    cmd = [sys.executable, "-m", "lmms_eval", "--model", "emollm",
           "--model_args", f"pretrained={setup.ckpt},model_base={setup.base},max_new_tokens=6,num_video_frames=4",
           "--tasks", "emobench", "--include_path", str(TASKS_DIR), "--limit", str(LIMIT), "--batch_size", "4",
           "--output_path", str(out), "--log_samples"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(setup, questions), cwd=root)
    found = list(out.rglob("*_results.json"))
    assert proc.returncode == 0 and found, proc.stdout[-3000:] + proc.stderr[-5000:]  # it exits 0 on errors
    results = json.loads(found[0].read_text())
    samples = {task: read_jsonl(next(out.rglob(f"*_samples_{task}.jsonl"))) for task in TASKS}
    return results, samples


def test_every_task_runs_and_reports_an_accuracy(lmms_run, bench):
    results, samples = lmms_run
    _, questions, _ = bench
    records = json.loads(questions.read_text())
    for task, emobench_task in TASKS.items():
        assert "emobench_accuracy,none" in results["results"][task], results["results"][task]
        assert len(samples[task]) == min(LIMIT, sum(r["task"] == emobench_task for r in records))


def test_accuracies_equal_emollm_eval_score_on_the_same_answers(lmms_run, bench, tmp_path):
    from emollm_plugin.eval.score import score_files
    results, samples = lmms_run
    records, answers = [], []
    for task in TASKS:
        for sample in samples[task]:
            record, text = _sample(sample)
            records.append(record)
            answers.append({"question_id": record["id"], "text": text})
    (tmp_path / "q.json").write_text(json.dumps(records))
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
    scores = score_files(tmp_path / "a.jsonl", tmp_path / "q.json")
    for task, emobench_task in TASKS.items():
        assert results["results"][task]["emobench_accuracy,none"] == scores["tasks"][emobench_task]["accuracy"]


def test_answers_equal_emollm_eval_infer(lmms_run, bench, tmp_path):
    setup, questions, _ = bench
    _, samples = lmms_run
    answered = {record["id"]: text for record, text in map(_sample, samples["emobench_emo_o"])}
    subset = tmp_path / "q.json"
    subset.write_text(json.dumps([r for r in json.loads(questions.read_text()) if r["id"] in answered]))
    code, stderr = infer(types.SimpleNamespace(**{**vars(setup), "questions": subset}), tmp_path / "a.jsonl")
    assert code == 0, stderr
    expected = {row["question_id"]: row["text"] for row in read_jsonl(tmp_path / "a.jsonl")}
    assert answered == expected  # same flags: COMMON holds --max-new-tokens 6 --num-video-frames 4


def test_scoring_reuses_the_plugins_scorer_on_known_answers(bench, tmp_path, monkeypatch):
    """process_results + aggregation over hand-written answers: non-zero accuracies, equal to eval score."""
    from emollm_plugin.apps.lmms_eval.documents import load_task_documents, record_of
    from emollm_plugin.eval.score import score_files
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emollm_plugin/apps/lmms_eval/tasks/emobench"))
    import emobench_utils
    setup, questions, _ = bench
    monkeypatch.setenv("EMOBENCH_QUESTIONS", str(questions))
    docs = load_task_documents("hate")
    written = [("The answer is " + record_of(d)["label"]) if k % 3 else "maybe" for k, d in enumerate(docs)]
    items = [emobench_utils.process_results(d, [a])["emobench_accuracy"] for d, a in zip(docs, written)]
    accuracy = emobench_utils.aggregate_accuracy(items)
    (tmp_path / "q.json").write_text(json.dumps([record_of(d) for d in docs]))
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"question_id": record_of(d)["id"], "text": a}) + "\n"
                                              for d, a in zip(docs, written)))
    assert 0 < accuracy == score_files(tmp_path / "a.jsonl", tmp_path / "q.json")["tasks"]["hate"]["accuracy"] < 100


def test_missing_questions_variable_is_named(monkeypatch):
    from emollm_plugin.apps.lmms_eval.documents import EmoBenchTaskError, load_task_documents
    monkeypatch.delenv("EMOBENCH_QUESTIONS", raising=False)
    with pytest.raises(EmoBenchTaskError, match="set EMOBENCH_QUESTIONS"):
        load_task_documents("hate")


def test_loglikelihood_equals_token_by_token_reference(bench, monkeypatch):
    """log p(" yes"|prompt) from one forward pass equals the sum of per-token log-probs from
    growing prefixes, for an image record and a video+audio record."""
    import torch
    from emollm_plugin.apps.lmms_eval.documents import load_task_documents, record_of
    from emollm_plugin.commands.lmms_eval import EmoLLM
    setup, questions, _ = bench
    monkeypatch.setenv("EMOBENCH_QUESTIONS", str(questions))
    monkeypatch.setenv("EMOBENCH_MEDIA_ROOT", str(setup.media))
    lm = EmoLLM(pretrained=str(setup.ckpt), model_base=str(setup.base), num_video_frames=4)
    docs = load_task_documents("hate")
    picks = [next(d for d in docs if "image" in record_of(d)), next(d for d in docs if "audio" in record_of(d))]
    lm.task_dict = {"emobench_hate": {"test": {i: d for i, d in enumerate(picks)}}}
    requests = [types.SimpleNamespace(args=("ctx", "yes please", None, i, "emobench_hate", "test")) for i in range(2)]
    got = lm.loglikelihood(requests)
    for (logprob, _), doc in zip(got, picks):
        prepared = lm.answerer.prepare(record_of(doc))
        cont = lm.answerer.tokenizer("yes please", add_special_tokens=False).input_ids
        assert len(cont) >= 2
        visual = None if prepared.visual is None else [prepared.visual]
        audio = None if prepared.audio is None else [prepared.audio]
        reference, prefix = 0.0, prepared.input_ids
        with torch.no_grad():
            for token in cont:
                logits = lm.model(input_ids=prefix.unsqueeze(0), images=visual, audios=audio).logits[0, -1]
                reference += torch.log_softmax(logits.float(), -1)[token].item()
                prefix = torch.cat([prefix, torch.tensor([token])])
        assert logprob == pytest.approx(reference, abs=1e-4)


def test_answer_mode_reaches_the_answerer(monkeypatch, tmp_path):
    from emollm_plugin.apps.lmms_eval.documents import MEDIA_ENV
    from emollm_plugin.apps.lmms_eval.model import answerer_args
    monkeypatch.setenv(MEDIA_ENV, str(tmp_path))  # the lmms-eval tasks' media folder
    assert answerer_args("ckpt", None, answer_mode="score").answer_mode == "score"
    assert answerer_args("ckpt", None).answer_mode == "generate"
