"""Label vocabularies shared by the EmoBench builder and the scorer.

Canonical emotion set: the seven labels of MELD and Emotion6, which is also the option list the
paper's Emo-C prompt shows. Per-dataset maps live next to the sets they map into.
"""
from __future__ import annotations

TASKS = ("emotion_closed", "emotion_open", "intention", "hate", "humor", "sarcasm")
YES_NO_TASKS = ("hate", "humor", "sarcasm")

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
