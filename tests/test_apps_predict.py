"""`emollm predict` on the tiny trained checkpoint: a folder of three media kinds with a corrupt
clip, --resume, a labelled manifest with the scorer's table, --explain, and 4/8-bit on CPU."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from apps_helpers import apps_setup, own_media_folder
from emollm_plugin.apps.predict import EXIT_ALL_ANSWERED, EXIT_NONE_ANSWERED, EXIT_SOME_SKIPPED

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tiny_models, tmp_path_factory):
    return apps_setup(tiny_models, tmp_path_factory)


def predict(*argv: str) -> tuple[int, str, str]:
    from emollm_plugin.commands.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["predict", *argv])
    return code, out.getvalue(), err.getvalue()


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_folder_of_three_kinds_answers_good_lists_corrupt_and_resume_adds_nothing(setup, tmp_path):
    folder = own_media_folder(setup, tmp_path / "mine")
    out = tmp_path / "answers.jsonl"
    code, _, err = predict(*setup.model_args, str(folder), "--out", str(out), "--task", "emotion_closed",
                           "--batch-size", "2")
    assert code == EXIT_SOME_SKIPPED, err
    answers = {Path(r["question_id"]).name: r for r in rows(out)}
    assert sorted(answers) == ["face.png", "silent.mp4", "talking.mp4", "voice.wav"]
    assert answers["talking.mp4"]["media"] == {"video": str(folder / "clips" / "talking.mp4"),
                                               "audio": str(folder / "clips" / "talking.mp4")}
    assert answers["silent.mp4"]["media"] == {"video": str(folder / "clips" / "silent.mp4")}  # no sound track
    assert answers["voice.wav"]["media"] == {"audio": str(folder / "voice.wav")}
    from emollm_plugin.tasks.labels import CANONICAL_EMOTIONS
    from emollm_plugin.tasks.answers import parse_answer
    for row in answers.values():
        assert row["model_id"] == "emollm-llava-lora-eval" and row["task"] == "emotion_closed"
        assert row["prompt"].startswith("Which emotion does the ") and "anger, disgust, fear" in row["prompt"]
        parsed = parse_answer(row["text"], "emotion_closed", CANONICAL_EMOTIONS)
        assert (row["label"], row["parse"]) == (parsed.label, parsed.status)
        assert set(row["timing"]) == {"prepare_s", "generate_s", "batch"} and row["timing"]["generate_s"] > 0
    skipped = rows(out.with_name("answers.jsonl.skipped.jsonl"))
    assert [(Path(s["question_id"]).name, s["reason"]) for s in skipped] == [("broken.mp4", "media_corrupt")]
    assert f"not answered: {folder / 'clips' / 'broken.mp4'}: media_corrupt: unreadable or corrupt" in err
    assert "5 item(s): 4 answered now, 0 already in" in err and "passed over 1 file(s)" in err

    before = out.read_bytes()
    code, _, err = predict(*setup.model_args, str(folder), "--out", str(out), "--task", "emotion_closed",
                           "--batch-size", "2", "--resume")
    assert code == EXIT_SOME_SKIPPED, err
    assert out.read_bytes() == before
    assert "0 answered now, 4 already in" in err and "broken.mp4: media_corrupt" in err
    code, _, err = predict(*setup.model_args, str(folder), "--out", str(out), "--task", "sarcasm", "--resume")
    assert code == 2 and "was answered to 'Which emotion does" in err and "Is the " in err
    assert out.read_bytes() == before


def test_manifest_with_labels_prints_the_scorers_table(setup, tmp_path):
    manifest = tmp_path / "labels.csv"
    manifest.write_text(f"path,audio,prompt,label\n{setup.image()},,,joy\n{setup.clip()},,,anger\n"
                        f'{setup.clip()},{setup.clip_with_sound()},"Which emotion? Choose one of: joy, anger.",anger\n'
                        f"{setup.image()},,Unquoted, with a comma,joy\n"
                        "missing.png,,,joy\n")
    out = tmp_path / "a.jsonl"
    code, stdout, err = predict(*setup.model_args, str(manifest), "--out", str(out), "--task", "emotion_closed",
                                "--options", "joy,anger")
    assert code == EXIT_SOME_SKIPPED, err  # missing.png and a bad row
    answered = rows(out)
    assert [r["gold"] for r in answered] == ["joy", "anger", "anger"]
    assert answered[2]["prompt"] == "Which emotion? Choose one of: joy, anger."
    assert answered[2]["media"]["audio"] == str(setup.clip_with_sound())
    assert "| Accuracy (%) |" in stdout and "Emo-C" in stdout
    correct = sum(r["label"] == r["gold"] for r in answered)
    from emollm_plugin.eval.score import score_files
    scores = score_files(out, out.with_name("a.jsonl.questions.json"))
    assert scores["tasks"]["emotion_closed"]["n"] == 3
    assert scores["tasks"]["emotion_closed"]["accuracy"] == pytest.approx(round(100 * correct / 3, 2))
    assert f"{scores['tasks']['emotion_closed']['accuracy']:.2f}" in stdout
    assert "labels.csv:5: bad_row" in err and "labels.csv:6: missing" in err


def test_bad_manifest_label_is_refused_before_loading(setup, tmp_path):
    manifest = tmp_path / "labels.csv"
    manifest.write_text(f"path,label\n{setup.image()},happiness\n")
    code, _, err = predict(*setup.model_args, str(manifest), "--out", str(tmp_path / "a.jsonl"),
                           "--task", "emotion_open")
    assert code == 2 and "open-set label 'happiness' is not a canonical emotion" in err


def test_explain_and_free_prompt(setup, tmp_path):
    from emollm_plugin.emoprompt.bank import example_bank_path
    out = tmp_path / "a.jsonl"
    code, _, err = predict(*setup.model_args, str(setup.image()), "--out", str(out), "--task", "emotion_open",
                           "--prompt", "How does she feel?", "--explain", "--exemplar-bank", str(example_bank_path()))
    assert code == 0, err
    (row,) = rows(out)
    assert row["prompt"].startswith("How does she feel? First explain your reasoning")
    assert {"reasoning", "answer", "label", "parse"} <= set(row)
    code, _, err = predict(*setup.model_args, str(setup.image()), "--out", str(out), "--task", "emotion_open",
                           "--explain")
    assert code == 2 and "--exemplar-bank" in err


@pytest.mark.parametrize("flag", ["--load-4bit", "--load-8bit"])
def test_quantized_loading_is_refused_on_cpu(setup, tmp_path, flag):
    code, _, err = predict(*setup.model_args, "--device", "cpu", flag, str(setup.image()),
                           "--out", str(tmp_path / "a.jsonl"), "--task", "hate")
    assert code == 2 and "needs CUDA" in err and "bitsandbytes" in err
    assert not (tmp_path / "a.jsonl").exists()


def test_checkpoint_trained_with_emoprompt_gets_exemplars_for_presets_and_plain_template_for_free(setup, tmp_path):
    """A checkpoint whose config records emoprompt_v1: task presets are asked with an exemplar
    (chosen by item id: your media have no gold label to exclude), a free question without one."""
    import shutil

    from emollm_plugin.emoprompt.bank import example_bank_path
    from emollm_plugin.constants import CONV_MODE_CONFIG_KEY
    ckpt = tmp_path / "emollm-llava-lora-emoprompt"
    shutil.copytree(setup.ckpt, ckpt)
    config = json.loads((ckpt / "config.json").read_text())
    config.update({CONV_MODE_CONFIG_KEY: "emoprompt_v1", "emoprompt_bank": str(example_bank_path())})
    (ckpt / "config.json").write_text(json.dumps(config))
    args = ["--model", str(ckpt), *setup.model_args[2:], str(setup.image())]
    code, _, err = predict(*args, "--out", str(tmp_path / "preset.jsonl"), "--task", "emotion_open")
    assert code == 0, err
    code, _, err = predict(*args, "--out", str(tmp_path / "free.jsonl"), "--prompt", "Describe the image.")
    assert code == 0, err
    assert rows(tmp_path / "free.jsonl")[0]["prompt"] == "Describe the image."
    from argparse import Namespace

    from emollm_plugin.apps.predict import _uses_exemplars
    from emollm_plugin.apps.prompts import Question
    preset = Namespace(model_path=str(ckpt), explain=False, conv_mode=None)
    assert _uses_exemplars(preset, Question("emotion_open")) and preset.conv_mode == "emoprompt_v1"
    free = Namespace(model_path=str(ckpt), explain=False, conv_mode=None)
    assert not _uses_exemplars(free, Question(prompt="Describe.")) and free.conv_mode == "vicuna_v1"
    plain = Namespace(model_path=str(setup.ckpt), explain=False, conv_mode=None)
    assert not _uses_exemplars(plain, Question("emotion_open")) and plain.conv_mode is None


def test_exit_status_says_whether_all_some_or_none_were_answered(setup, tmp_path):
    out = tmp_path / "a.jsonl"
    skipped = tmp_path / "a.jsonl.skipped.jsonl"
    skipped.write_text("left by an earlier run\n")
    code, _, err = predict(*setup.model_args, str(setup.image()), "--out", str(out), "--task", "emotion_closed")
    assert code == EXIT_ALL_ANSWERED, err
    assert not skipped.exists()  # nothing skipped: no listing, and the stale one is gone
    code, _, err = predict(*setup.model_args, str(tmp_path / "nowhere.png"), "--out", str(out), "--task", "hate")
    assert code == EXIT_NONE_ANSWERED and "0 answered now" in err and skipped.is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = predict(*setup.model_args, str(empty), "--out", str(out), "--task", "hate")
    assert code == EXIT_NONE_ANSWERED and "nothing to answer" in err


def test_two_questions_about_one_file_get_two_answer_ids(setup, tmp_path):
    ids = []
    for task in ("emotion_closed", "sarcasm"):
        out = tmp_path / f"{task}.jsonl"
        code, _, err = predict(*setup.model_args, str(setup.image()), "--out", str(out), "--task", task)
        assert code == EXIT_ALL_ANSWERED, err
        ids += [row["answer_id"] for row in rows(out)]
    assert len(ids) == 2 and ids[0] != ids[1]


def test_help_documents_the_exit_status(capsys):
    from emollm_plugin.apps.predict import build_parser
    text = build_parser().format_help()
    assert f"{EXIT_SOME_SKIPPED}  some inputs were answered" in text and f"{EXIT_NONE_ANSWERED}  no input" in text


def test_answer_mode_score_gives_an_option_with_probabilities_and_refuses_explain(setup, tmp_path):
    out = tmp_path / "a.jsonl"
    code, _, err = predict(*setup.model_args, str(setup.image()), "--out", str(out), "--task", "intention",
                           "--options", "Complain,Praise,Thank", "--answer-mode", "score")
    assert code == EXIT_ALL_ANSWERED, err
    (row,) = rows(out)
    assert list(row["option_probabilities"]) == ["Complain", "Praise", "Thank"]
    assert row["text"] == max(row["option_probabilities"], key=row["option_probabilities"].get)
    assert row["label"] == row["text"] and row["parse"] == "ok"
    code, _, err = predict(*setup.model_args, str(setup.image()), "--out", str(tmp_path / "b.jsonl"), "--task",
                           "emotion_closed", "--explain", "--answer-mode", "score")
    assert code == 2 and "--explain" in err and "--answer-mode score" in err
