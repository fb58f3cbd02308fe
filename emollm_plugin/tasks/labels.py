"""Label vocabularies shared by the EmoBench builder and the scorer, and the per-dataset maps.

Canonical emotion set: the seven labels of MELD and Emotion6. The paper's example Emo-C prompt
lists six labels; its Table 1 sizes imply neutral samples were kept, hence seven. Every emotion dataset is mapped into it; the maps below are this
project's decisions (the paper never published its own) and are documented in docs/emobench.md.

A map function returns the EmoBench label string, or raises :class:`LabelError` whose ``reason``
is a short stable key (the build counts drops by it) and whose message says what was found.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping, Sequence
from ..errors import EmoLLMError

TASKS = ("emotion_closed", "emotion_open", "intention", "hate", "humor", "sarcasm")
YES_NO_TASKS = ("hate", "humor", "sarcasm")
EMOTION_TASKS = ("emotion_closed", "emotion_open")
CLOSED_TASKS = ("emotion_closed", "intention")  # records of these carry a label_set

CANONICAL_EMOTIONS = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")

EMOTIC_CATEGORIES = (
    "Affection", "Anger", "Annoyance", "Anticipation", "Aversion", "Confidence", "Disapproval",
    "Disconnection", "Disquietment", "Doubt/Confusion", "Embarrassment", "Engagement", "Esteem",
    "Excitement", "Fatigue", "Fear", "Happiness", "Pain", "Peace", "Pleasure", "Sadness",
    "Sensitivity", "Suffering", "Surprise", "Sympathy", "Yearning",
)

# MIntRec's exact TSV strings (British "Apologise" as in the data and code).
MINTREC_INTENTS = (
    "Complain", "Praise", "Apologise", "Thank", "Criticize", "Agree", "Taunt", "Flaunt", "Joke",
    "Oppose", "Care", "Comfort", "Inform", "Advise", "Arrange", "Introduce", "Leave", "Prevent",
    "Greet", "Ask for help",
)

YES_NO = ("yes", "no")


class LabelError(EmoLLMError, ValueError):
    """A source label that cannot become an EmoBench label; ``reason`` is the drop-count key."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# --- MELD -----------------------------------------------------------------------------------

def meld_emotion(raw: str) -> str:
    """MELD's ``Emotion`` column -> canonical emotion (identity after lowercasing/stripping)."""
    label = str(raw).strip().lower()
    if label not in CANONICAL_EMOTIONS:
        raise LabelError("unknown MELD emotion",
                         f"{raw!r} is not one of {', '.join(CANONICAL_EMOTIONS)}")
    return label


# --- CAER-S ---------------------------------------------------------------------------------

# The anger folder is "Angry" in train and "Anger" in test; both are accepted.
CAER_S_FOLDERS = {
    "Angry": "anger", "Anger": "anger", "Disgust": "disgust", "Fear": "fear", "Happy": "joy",
    "Neutral": "neutral", "Sad": "sadness", "Surprise": "surprise",
}


def caer_s_emotion(folder: str) -> str:
    """CAER-S class folder name -> canonical emotion (Angry/Anger -> anger, Happy -> joy,
    Sad -> sadness, the others lowercased). The folder name is CAER-S's only label."""
    try:
        return CAER_S_FOLDERS[folder]
    except KeyError:
        raise LabelError("unknown CAER-S class folder",
                         f"{folder!r} is not one of {', '.join(CAER_S_FOLDERS)}") from None


# --- Emotion6 -------------------------------------------------------------------------------

# Column order of ground_truth.txt's seven probabilities.
EMOTION6_PROB_ORDER = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")


def emotion6_emotion(probs: Mapping[str, float] | Sequence[float], keyword: str | None = None,
                     tol: float = 1e-6) -> str:
    """Emotion6's 7-way crowd distribution -> canonical emotion by argmax.

    Tie rule: when several emotions share the maximum probability (within ``tol``), the image's
    search keyword (its folder: anger, disgust, fear, joy, sadness, surprise) wins if it is one
    of them; otherwise the image is dropped as ambiguous (no order among emotions is invented).
    ``probs`` is a mapping emotion -> probability or a sequence in EMOTION6_PROB_ORDER.
    """
    if not isinstance(probs, Mapping):
        values = list(probs)
        if len(values) != len(EMOTION6_PROB_ORDER):
            raise LabelError("malformed Emotion6 distribution",
                             f"expected 7 probabilities ({', '.join(EMOTION6_PROB_ORDER)}), "
                             f"got {len(values)}")
        probs = dict(zip(EMOTION6_PROB_ORDER, values))
    if set(probs) != set(EMOTION6_PROB_ORDER):
        raise LabelError("malformed Emotion6 distribution",
                         f"keys {sorted(probs)} != {sorted(EMOTION6_PROB_ORDER)}")
    best = max(probs.values())
    tied = [e for e in EMOTION6_PROB_ORDER if best - probs[e] <= tol]
    if len(tied) == 1:
        return tied[0]
    if keyword is not None and keyword in tied:
        return keyword
    raise LabelError("Emotion6 tie not resolved by keyword",
                     f"maximum {best:g} shared by {', '.join(tied)} (keyword {keyword!r})")


# --- EMOTIC ---------------------------------------------------------------------------------

# Partial map: only categories with a clear counterpart among the 7; the other 13 (Affection,
# Anticipation, Confidence, Disconnection, Disquietment, Doubt/Confusion, Embarrassment,
# Engagement, Esteem, Fatigue, Sensitivity, Sympathy, Yearning) carry no vote.
EMOTIC_TO_CANONICAL = {
    "Anger": "anger", "Annoyance": "anger", "Disapproval": "anger",
    "Aversion": "disgust",
    "Fear": "fear",
    "Happiness": "joy", "Pleasure": "joy", "Excitement": "joy",
    "Sadness": "sadness", "Suffering": "sadness", "Pain": "sadness",
    "Surprise": "surprise",
    "Peace": "neutral",
}


def emotic_emotion(categories: Iterable[str]) -> str:
    """One EMOTIC person's category list -> canonical emotion by vote of the partial map.

    Each category in EMOTIC_TO_CANONICAL votes for its canonical emotion; unmapped categories
    do not vote. The emotion with most votes wins. Dropped: persons with no mapped category
    ("no EMOTIC category maps to the 7 emotions") and persons whose top vote is tied between
    different emotions ("EMOTIC categories tie between emotions"), e.g. [Happiness, Sadness].
    Unknown category strings (not among the 26) raise a LabelError naming them.
    """
    cats = [str(c).strip() for c in categories]
    unknown = [c for c in cats if c not in EMOTIC_CATEGORIES]
    if unknown:
        raise LabelError("unknown EMOTIC category",
                         f"{unknown} not among the 26 EMOTIC categories")
    votes = Counter(EMOTIC_TO_CANONICAL[c] for c in cats if c in EMOTIC_TO_CANONICAL)
    if not votes:
        raise LabelError("no EMOTIC category maps to the 7 emotions", f"categories {cats}")
    ranked = votes.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        top = sorted(e for e, n in ranked if n == ranked[0][1])
        raise LabelError("EMOTIC categories tie between emotions",
                         f"categories {cats} vote equally for {', '.join(top)}")
    return ranked[0][0]


# --- MIntRec --------------------------------------------------------------------------------

_MINTREC_BY_KEY = {i.lower(): i for i in MINTREC_INTENTS}
_MINTREC_BY_KEY["apologize"] = "Apologise"  # the README's spelling


def mintrec_intent(raw: str) -> str:
    """MIntRec ``label`` cell -> the exact string in MINTREC_INTENTS (case/space tolerant;
    "Apologize", the README's spelling, becomes the data's "Apologise")."""
    key = " ".join(str(raw).split()).lower()
    try:
        return _MINTREC_BY_KEY[key]
    except KeyError:
        raise LabelError("unknown MIntRec intent",
                         f"{raw!r} is not one of the 20 intents: {', '.join(MINTREC_INTENTS)}"
                         ) from None


# --- yes/no tasks ---------------------------------------------------------------------------

MMHS150K_CLASSES = ("NotHate", "Racist", "Sexist", "Homophobe", "Religion", "OtherHate")


def mmhs150k_is_hate(votes: Sequence[int]) -> bool:
    """MMHS150K's three annotator votes (0 NotHate, 1-5 a hate class) -> hate by majority:
    hate when at least 2 of the 3 votes are > 0 (any hate class counts as hate)."""
    votes = list(votes)
    if len(votes) != 3 or not all(isinstance(v, int) and not isinstance(v, bool)
                                  and 0 <= v <= 5 for v in votes):
        raise LabelError("malformed MMHS150K labels",
                         f"expected three integer votes in 0..5, got {votes!r}")
    return sum(v > 0 for v in votes) >= 2


def binary_yes_no(raw: object, what: str) -> str:
    """A 0/1 flag (int, bool, "0"/"1", 0.0/1.0) -> "yes" (1) or "no" (0); ``what`` names the
    flag in the error (e.g. "MMSD2.0 label")."""
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return "yes" if raw == 1 else "no"
    if isinstance(raw, str) and raw.strip() in ("0", "1"):
        return "yes" if raw.strip() == "1" else "no"
    raise LabelError(f"malformed {what}", f"expected 0 or 1, got {raw!r}")


def yes_no_answer(label: str) -> str:
    """The gpt answer text for a yes/no label: "Yes" / "No"."""
    return label.capitalize()
