"""Property-based fuzzing of the readers that take a user's files: predict's manifests (CSV, JSONL,
JSON), ``eval score``'s answers file, the answer parser and the training data check.

Each generated input either reads, or is refused with the reader's own ``EmoLLMError`` naming the
file, or becomes a counted skip (predict's ``Rejected``); never another exception. Inputs mix
well-formed records with hostile parts: other encodings (UTF-16/32, Latin-1, a byte-order mark),
random bytes, NUL bytes, lone surrogates, 5,000-digit numbers, 100,000-deep nesting, repeated or
unknown CSV columns, unclosed quotes, paths that cannot be paths (a NUL byte, 5,000 characters, a
folder, a broken link, ``..``). Profiles (``HYPOTHESIS_PROFILE``, tests/conftest.py): ``ci`` (the
default, in the fast tier) and ``long`` (10,000 examples per test).
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
import uuid
from pathlib import Path
from types import SimpleNamespace

from hypothesis import event, given, strategies as st

from emollm_plugin.apps.inputs import InputError, collect
from emollm_plugin.tasks.answers import AMBIGUOUS, OK, UNPARSEABLE, AnswerParseError, parse_answer
from emollm_plugin.tasks.labels import CANONICAL_EMOTIONS, MINTREC_INTENTS, TASKS, YES_NO
from emollm_plugin.tasks.lexicon import normalize
from emollm_plugin.eval.score import ScoringInputError, judge, load_answers, summarize
from emollm_plugin.train.data_check import DataCheckError, check_training_data

# ----- building blocks ---------------------------------------------------------------------------
ANY_CHAR = st.characters(exclude_categories=())  # surrogates, controls and NUL included
HOSTILE_TEXT = st.one_of(st.text(max_size=30), st.text(ANY_CHAR, max_size=30))
HUGE_NUMBER = st.integers(4301, 6000).map(lambda n: "9" * n)
DEEP = st.integers(1_000, 100_000).map(lambda n: "[" * n + "]" * n)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), HOSTILE_TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(HOSTILE_TEXT, inner, max_size=4)),
                           max_leaves=12)
MEDIA_NAMES = ("a.png", "v.mp4", "s.wav")
PATHS = st.one_of(st.sampled_from(MEDIA_NAMES + ("missing.png", "../a.png", "/", "sub.png", "link.png", "a.png\x00",
                                                 "x" * 5000 + ".png", "\ud800.png", "a.PNG", "", "  ", "sub/../a.png")),
                  HOSTILE_TEXT, JSON_VALUES)
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252")


def _encoded(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace")


def _json_line(value) -> str:
    return json.dumps(value, allow_nan=True)


def _hostile_lines(line: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """JSONL text: good lines, garbage, over-long numbers and over-deep nesting, mixed."""
    return st.lists(st.one_of(line, HOSTILE_TEXT, HUGE_NUMBER, DEEP, HUGE_NUMBER.map(lambda n: '{"path": %s}' % n)),
                    max_size=6).map("\n".join)


def _file_bytes(text: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """Mostly UTF-8 (so the parsers behind the decoding are reached), else another encoding or bytes."""
    utf8 = text.map(lambda t: _encoded(t, "utf-8"))
    return st.one_of(utf8, utf8, utf8, st.tuples(text, st.sampled_from(ENCODINGS)).map(lambda t: _encoded(*t)),
                     st.binary(max_size=300))


@st.composite
def _csv_text(draw) -> str:
    columns = draw(st.lists(st.sampled_from(("path", "audio", "prompt", "label", "mood", "", "path ")), min_size=1,
                            max_size=5))
    cells = st.one_of(st.sampled_from(MEDIA_NAMES + ('"a.png"', '"un,closed', 'say ""hi""', "a,b", "\x00")),
                      HOSTILE_TEXT.map(lambda t: t.replace("\r", "")))
    rows = draw(st.lists(st.lists(cells, max_size=6).map(",".join), max_size=6))
    return "\n".join([",".join(columns)] + rows) + "\n"


MANIFEST_ROWS = st.one_of(
    st.fixed_dictionaries({}, optional={"path": PATHS, "audio": PATHS, "prompt": HOSTILE_TEXT, "label": JSON_VALUES,
                                        "extra": JSON_VALUES}),
    JSON_VALUES)


def _media_folder(root: Path) -> None:
    for name in MEDIA_NAMES:
        (root / name).write_bytes(b"x")
    (root / "sub.png").mkdir()
    (root / "link.png").symlink_to(root / "nowhere.png")


def _assert_names(message: str, path: Path) -> None:
    message.encode("utf-8")  # printable: no lone surrogate reaches a message
    assert str(path) in message, message


# ----- predict's manifests ---------------------------------------------------------------------------
MANIFESTS = st.one_of(
    st.tuples(st.just("m.csv"), _file_bytes(_csv_text())),
    st.tuples(st.just("m.jsonl"), _file_bytes(_hostile_lines(MANIFEST_ROWS.map(_json_line)))),
    st.tuples(st.just("m.json"), _file_bytes(st.one_of(st.lists(MANIFEST_ROWS, max_size=5).map(_json_line),
                                                       _hostile_lines(MANIFEST_ROWS.map(_json_line))))),
)


@given(MANIFESTS)
def test_predict_manifests_read_or_refuse_naming_the_file(manifest):
    name, data = manifest
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        _media_folder(root)
        path = root / name
        path.write_bytes(data)
        try:
            items, rejected, _ = collect([path])
        except InputError as err:
            event("manifest refused")
            _assert_names(str(err), path)
            return
        event(f"manifest read: {'some' if items else 'no'} items, {'some' if rejected else 'no'} skips")
        for skip in rejected:
            _assert_names(skip.message + skip.source, path)
            assert skip.reason
        for item in items:
            uuid.uuid5(uuid.NAMESPACE_URL, item.id)  # predict's answer id: the id encodes
            (item.prompt or "").encode("utf-8")  # the tokenizer takes it
            assert item.path.is_file() and item.path.name.lower() in MEDIA_NAMES + ("a.png",)


# ----- eval score's answers reader ---------------------------------------------------------------
QUESTIONS = [{"id": "q1", "task": "emotion_closed", "dataset": "meld", "label": "joy", "label_set": ["joy", "anger"]},
             {"id": "q2", "task": "emotion_open", "dataset": "emotic", "label": "fear"},
             {"id": "q3", "task": "sarcasm", "dataset": "mmsd2", "label": "yes"},
             {"id": "q4", "task": "intention", "dataset": "mintrec", "label": "Complain",
              "label_set": list(MINTREC_INTENTS)}]
ANSWER_ROWS = st.one_of(
    st.fixed_dictionaries({"question_id": st.one_of(st.sampled_from(["q1", "q2", "q3", "q4"]), JSON_VALUES),
                           "text": st.one_of(HOSTILE_TEXT, JSON_VALUES)}),
    MANIFEST_ROWS)


@given(_file_bytes(st.one_of(_hostile_lines(ANSWER_ROWS.map(_json_line)),
                             st.lists(ANSWER_ROWS, max_size=5).map(_json_line))))
def test_eval_score_answers_read_or_refuse_naming_the_file(data):
    from emollm_plugin.eval.report import to_markdown
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "answers.jsonl"
        path.write_bytes(data)
        try:
            answers = load_answers(path)
        except ScoringInputError as err:
            event("answers refused")
            _assert_names(str(err), path)
            return
        event(f"answers read: {len(answers.text_by_id)} answered")
        scores = summarize(judge(QUESTIONS, answers.text_by_id), answers)
        to_markdown(scores).encode("utf-8")
        json.dumps(scores, ensure_ascii=False).encode("utf-8")


# ----- the answer parser ---------------------------------------------------------------------------
WORDS = ("Answer:", "Final answer:", "the answer is", "Emotion:", "In conclusion,", "so", "therefore,", "not", "no",
         "yes", "never", "joy", "anger", "happy", "scared", "sarcastic", "hateful", "funny", "Complain", "apologizing",
         "!", ".", ",", "\n", "<image>", "\x00", "\ud800")
ANSWERS = st.one_of(HOSTILE_TEXT, st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join),
                    st.lists(st.one_of(st.sampled_from(WORDS), HOSTILE_TEXT), max_size=12).map(" ".join))
LABEL_SETS = st.one_of(st.just(list(CANONICAL_EMOTIONS)), st.just(list(MINTREC_INTENTS)),
                       st.lists(st.one_of(st.sampled_from(CANONICAL_EMOTIONS + MINTREC_INTENTS), HOSTILE_TEXT),
                                min_size=1, max_size=6))


def _usable(label_set: list[str]) -> bool:
    """The scorer's rule for a closed task's label_set (eval.score._record_problem)."""
    keys = [normalize(option) for option in label_set]
    return "" not in keys and len(set(keys)) == len(keys)


@given(ANSWERS, st.sampled_from(TASKS), LABEL_SETS)
def test_the_answer_parser_names_a_label_or_says_why_not(answer, task, label_set):
    closed = task in ("emotion_closed", "intention")
    if closed and not _usable(label_set):
        try:
            parse_answer(answer, task, label_set)
        except AnswerParseError as err:
            event("label_set refused")
            assert "label_set" in str(err) or "distinct" in str(err)
        return
    parsed = parse_answer(answer, task, label_set if closed else None)
    event(parsed.status)
    assert parsed.status in (OK, AMBIGUOUS, UNPARSEABLE)
    if parsed.status == OK:
        allowed = label_set if closed else CANONICAL_EMOTIONS if task == "emotion_open" else YES_NO
        assert parsed.label in allowed
    assert parse_answer(answer, task, label_set if closed else None) == parsed


# ----- the training data check ---------------------------------------------------------------------
TURN_TEXT = st.one_of(st.lists(st.sampled_from(("<image>", "<video>", "<audio>", "<ima", "ge>", "How?", "joy", "</s>",
                                                " ", "\n", "USER:", "ASSISTANT:")), max_size=5).map("".join),
                      HOSTILE_TEXT, JSON_VALUES)
TURNS = st.lists(st.one_of(st.fixed_dictionaries({}, optional={"from": st.one_of(st.sampled_from(
    ("human", "gpt", "user", "Human")), JSON_VALUES), "value": TURN_TEXT}),
    st.fixed_dictionaries({"from": st.sampled_from(("human", "gpt")), "value": TURN_TEXT}), JSON_VALUES), max_size=5)
ANSWER_TEXT = st.one_of(st.sampled_from(("joy", "It is anger.", "no", " yes ", "ge>", "<im")), HOSTILE_TEXT)
FOLLOW_UP = st.one_of(st.sampled_from(("Why?", "And now?", "age>", "ASSISTANT: x")), HOSTILE_TEXT)


@st.composite
def _near_valid_record(draw) -> dict:
    """A record the check should pass: placeholders for its media in the first turn, in any order,
    among question text; then 0-2 more rounds."""
    visual = draw(st.sampled_from((None, "image", "video")))
    audio = draw(st.booleans())
    marks = ([f"<{visual}>"] if visual else []) + (["<audio>"] if audio else [])
    question = draw(st.sampled_from(("How does she feel?", "", " Why? ", "<ima", "USER: x", "\n")))
    first = draw(st.sampled_from(("\n", " ", ""))).join(draw(st.permutations(marks + [question])))
    turns = [{"from": "human", "value": first}, {"from": "gpt", "value": draw(ANSWER_TEXT)}]
    for _ in range(draw(st.integers(0, 2))):
        turns += [{"from": "human", "value": draw(FOLLOW_UP)}, {"from": "gpt", "value": draw(ANSWER_TEXT)}]
    record = {"id": draw(st.text(max_size=4)), "conversations": turns}
    if visual:
        record[visual] = "a.png" if visual == "image" else "v.mp4"
    if audio:
        record["audio"] = draw(st.sampled_from(("s.wav", "v.mp4")))
    return record


def _mutated(record: dict) -> st.SearchStrategy[dict]:
    """One turn's 'from' or 'value' changed (or removed), or a turn added at the end."""
    turns = record["conversations"]

    def apply(change) -> dict:
        at, field, value = change
        changed = copy.deepcopy(record)
        if at == len(turns):
            changed["conversations"].append({"from": "human", "value": "<image>"})
        elif value is None:
            changed["conversations"][at].pop(field)
        else:
            changed["conversations"][at][field] = value
        return changed
    return st.tuples(st.integers(0, len(turns)), st.sampled_from(("from", "value")),
                     st.one_of(st.none(), st.sampled_from(("human", "gpt", "<image>", "<audio>", "joy</s>")),
                               TURN_TEXT)).map(apply)


RECORDS = st.one_of(
    _near_valid_record(), _near_valid_record(), _near_valid_record().flatmap(_mutated),
    st.fixed_dictionaries({"id": st.one_of(st.text(max_size=5), JSON_VALUES),
                           "conversations": st.one_of(TURNS, JSON_VALUES)},
                          optional={"image": PATHS, "video": PATHS, "audio": PATHS}),
    JSON_VALUES)


def test_the_data_check_passes_only_what_upstream_preprocess_takes(tiny_models):
    """A record list is refused (DataCheckError naming the file) or passes; a record that passes
    goes through LLaVA's own preprocess_multimodal + preprocess (v1) without an exception, with
    exactly one placeholder token per media given, as the splice needs."""
    import llava.train.train as upstream
    import torch
    from llava import conversation as conversation_lib
    from transformers import LlamaTokenizer

    import emollm_plugin
    from emollm_plugin.constants import AUDIO_TOKEN_INDEX, IMAGE_TOKEN_INDEX
    from emollm_plugin.plugin.compat import default_conversation

    tokenizer = LlamaTokenizer.from_pretrained(str(tiny_models.llm), legacy=True, model_max_length=512)
    tokenizer.pad_token = tokenizer.unk_token
    data_args = SimpleNamespace(is_multimodal=True, mm_use_im_start_end=False)
    v1 = conversation_lib.conv_templates["v1"]

    def through_upstream(record: dict) -> None:
        turns = copy.deepcopy(record["conversations"])
        for turn in turns:
            turn["value"] = turn["value"].replace("<video>", "<image>")
        visual, audio = "image" in record or "video" in record, "audio" in record
        sources = upstream.preprocess_multimodal([turns], data_args) if visual else [turns]
        with default_conversation(v1):
            ids = upstream.preprocess(sources, tokenizer, has_image=visual or audio)["input_ids"][0]
        assert int((ids == IMAGE_TOKEN_INDEX).sum()) == int(visual), record
        assert int((ids == AUDIO_TOKEN_INDEX).sum()) == int(audio), record
        assert isinstance(ids, torch.Tensor)

    @given(st.lists(RECORDS, min_size=1, max_size=3))
    def property_(records):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            _media_folder(root)
            try:
                check_training_data("train.json", records, root, "fast", has_audio_tower=True, progress=False,
                                    conversation=v1)
            except DataCheckError as err:
                event("data refused")
                assert str(err).startswith("train.json: ")
                return
            event("data passed: through upstream preprocess")
            for record in records:
                through_upstream(record)

    with emollm_plugin.register():
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        property_()
