"""Per-dataset label maps against plain reference implementations."""
from __future__ import annotations

import itertools
import random

import pytest

from emollm_plugin.tasks import labels as L
from emollm_plugin.tasks.labels import LabelError


def test_meld_identity_and_unknown():
    for label in L.CANONICAL_EMOTIONS:
        assert L.meld_emotion(label) == label
        assert L.meld_emotion(f" {label.upper()} ") == label
    with pytest.raises(LabelError, match="'happy' is not one of") as err:
        L.meld_emotion("happy")
    assert err.value.reason == "unknown MELD emotion"


def test_caer_s_both_anger_spellings():
    assert L.caer_s_emotion("Angry") == L.caer_s_emotion("Anger") == "anger"
    assert L.caer_s_emotion("Happy") == "joy"
    assert L.caer_s_emotion("Sad") == "sadness"
    for name in ("Disgust", "Fear", "Neutral", "Surprise"):
        assert L.caer_s_emotion(name) == name.lower()
    assert set(L.CAER_S_FOLDERS.values()) == set(L.CANONICAL_EMOTIONS)
    with pytest.raises(LabelError) as err:
        L.caer_s_emotion("angry")  # folder names are case-sensitive on disk
    assert err.value.reason == "unknown CAER-S class folder"


def _argmax_reference(probs: list[float]) -> int | None:
    best = max(probs)
    winners = [i for i, p in enumerate(probs) if p == best]
    return winners[0] if len(winners) == 1 else None


def test_emotion6_argmax_matches_reference():
    rng = random.Random(0)
    for _ in range(300):
        probs = [rng.randint(0, 20) / 20 for _ in range(7)]
        index = _argmax_reference(probs)
        if index is None:
            continue
        assert L.emotion6_emotion(probs) == L.EMOTION6_PROB_ORDER[index]
        as_map = dict(zip(L.EMOTION6_PROB_ORDER, probs))
        assert L.emotion6_emotion(as_map, keyword="joy") == L.EMOTION6_PROB_ORDER[index]


def test_emotion6_tie_rule():
    tie = [0.4, 0.0, 0.4, 0.0, 0.0, 0.0, 0.2]  # anger = fear
    assert L.emotion6_emotion(tie, keyword="fear") == "fear"
    assert L.emotion6_emotion(tie, keyword="anger") == "anger"
    with pytest.raises(LabelError, match="shared by anger, fear") as err:
        L.emotion6_emotion(tie, keyword="joy")
    assert err.value.reason == "Emotion6 tie not resolved by keyword"
    # floating noise below the tolerance is a tie too
    assert L.emotion6_emotion([0.3, 0.3 + 1e-9, 0.4 - 1e-9, 0, 0, 0, 0], keyword="anger") == "fear"
    with pytest.raises(LabelError, match="expected 7 probabilities"):
        L.emotion6_emotion([0.5, 0.5])


def _emotic_reference(categories: list[str]) -> str | None:
    votes: dict[str, int] = {}
    for c in categories:
        if c in L.EMOTIC_TO_CANONICAL:
            votes[L.EMOTIC_TO_CANONICAL[c]] = votes.get(L.EMOTIC_TO_CANONICAL[c], 0) + 1
    if not votes:
        return None
    top = max(votes.values())
    winners = [e for e, n in votes.items() if n == top]
    return winners[0] if len(winners) == 1 else None


def test_emotic_vote_matches_reference():
    rng = random.Random(1)
    outcomes = set()
    for _ in range(500):
        cats = rng.sample(L.EMOTIC_CATEGORIES, rng.randint(1, 5))
        expected = _emotic_reference(cats)
        if expected is None:
            with pytest.raises(LabelError):
                L.emotic_emotion(cats)
            outcomes.add("dropped")
        else:
            assert L.emotic_emotion(cats) == expected
            outcomes.add(expected)
    assert outcomes == set(L.CANONICAL_EMOTIONS) | {"dropped"}


def test_emotic_drop_reasons():
    assert L.emotic_emotion(["Happiness", "Pleasure", "Sadness"]) == "joy"
    with pytest.raises(LabelError) as err:
        L.emotic_emotion(["Engagement", "Yearning"])
    assert err.value.reason == "no EMOTIC category maps to the 7 emotions"
    with pytest.raises(LabelError) as err:
        L.emotic_emotion(["Happiness", "Sadness"])
    assert err.value.reason == "EMOTIC categories tie between emotions"
    with pytest.raises(LabelError, match="not among the 26") as err:
        L.emotic_emotion(["Happy"])
    assert err.value.reason == "unknown EMOTIC category"
    assert set(L.EMOTIC_TO_CANONICAL) <= set(L.EMOTIC_CATEGORIES)


def test_mintrec_intents_and_spellings():
    assert len(L.MINTREC_INTENTS) == 20
    for intent in L.MINTREC_INTENTS:
        assert L.mintrec_intent(intent) == intent
        assert L.mintrec_intent(f"  {intent.upper()} ") == intent
    assert L.mintrec_intent("Apologize") == L.mintrec_intent("Apologise") == "Apologise"
    assert L.mintrec_intent("ask  for\thelp") == "Ask for help"
    with pytest.raises(LabelError) as err:
        L.mintrec_intent("Request")
    assert err.value.reason == "unknown MIntRec intent"


def test_mmhs150k_majority_exhaustive():
    for votes in itertools.product(range(6), repeat=3):
        hate_votes = sum(1 for v in votes if v != 0)
        assert L.mmhs150k_is_hate(list(votes)) is (hate_votes >= 2), votes
    for bad in ([0, 1], [0, 1, 6], [0, 1, "2"], [True, 0, 0], [0.0, 1, 1]):
        with pytest.raises(LabelError) as err:
            L.mmhs150k_is_hate(bad)
        assert err.value.reason == "malformed MMHS150K labels"


def test_binary_yes_no():
    for yes in (1, True, "1", " 1", 1.0):
        assert L.binary_yes_no(yes, "flag") == "yes"
    for no in (0, False, "0", 0.0):
        assert L.binary_yes_no(no, "flag") == "no"
    for bad in (2, "yes", None, 0.5):
        with pytest.raises(LabelError, match="expected 0 or 1") as err:
            L.binary_yes_no(bad, "MMSD2.0 label")
        assert err.value.reason == "malformed MMSD2.0 label"
    assert L.yes_no_answer("yes") == "Yes" and L.yes_no_answer("no") == "No"
