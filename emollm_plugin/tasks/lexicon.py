"""Synonym and inflection lexicon that maps free text to EmoBench labels, negation-aware.

Shared by the scorer (open-set emotions, closed-set fallback, yes/no cues) and the builder (raw
dataset label -> canonical label). Matching works on normalised tokens:

1. lowercase, curly apostrophes -> ``'``, ``n't`` -> `` not`` (``isn't`` -> ``is not``);
2. split into clauses at punctuation (``. , ; : ! ? ( ) [ ] " newline``) and at the contrast words
   ``but, however, although, though, whereas, instead, rather``;
3. a clause's tokens are its runs of letters and digits (``non-sarcastic`` -> ``non sarcastic``);
4. left to right, the longest lexicon phrase starting at a token wins (``ask for help`` before
   ``help``); a negator (``not, no, never, without, non, ...``) negates every later mention in the
   same clause, so ``"not happy, sad"`` names sadness and ``"not happy"`` names nothing.

Phrases like ``no doubt`` or ``not only`` are consumed as fillers, so their ``no``/``not`` negates
nothing. A lexicon may itself list a negator as a phrase (the yes/no lexicons list ``no``); the
phrase then wins.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

NEGATORS = frozenset({
    "not", "no", "never", "neither", "nor", "without", "non", "cannot", "hardly", "barely",
    "nothing", "none", "nobody", "lacks", "lacking", "dont", "doesnt", "didnt", "isnt", "arent",
    "wasnt", "werent", "cant", "couldnt", "wouldnt", "shouldnt", "hasnt", "havent", "hadnt",
})
# Fixed phrases whose negation word negates nothing.
NON_NEGATING_PHRASES = ("no doubt", "without doubt", "without a doubt", "not only", "not just",
                        "no wonder")

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_CONTRACTED_NOT = re.compile(r"n't\b")
_CLAUSE_BREAK = re.compile(
    r"[.,;:!?()\[\]{}\"\n]+|\b(?:but|however|although|though|whereas|instead|rather)\b")
_WORD = re.compile(r"[^\W_]+")


def clauses(text: str) -> list[list[str]]:
    """Normalised tokens of ``text``, one list per clause (empty clauses left out)."""
    text = _CONTRACTED_NOT.sub(" not", text.lower().translate(_APOSTROPHES))
    return [tokens for part in _CLAUSE_BREAK.split(text) if (tokens := _WORD.findall(part))]


def normalize(text: str) -> str:
    """Lowercase, punctuation stripped, single spaces: ``"  SADNESS!! "`` -> ``"sadness"``."""
    return " ".join(token for clause in clauses(text) for token in clause)


@dataclass(frozen=True)
class Mention:
    """One lexicon phrase found in a text: the label it names and whether it is negated."""

    label: str
    phrase: str      # the normalised words that matched
    clause: int      # index of the clause it sits in
    position: int    # token index inside that clause
    negated: bool


class Lexicon:
    """Phrases (any number of words) mapped to labels; finds them in text, negation-aware.

    Args:
        name: shown in error messages.
        entries: ``{label: phrases}``; a phrase is normalised like the text it is matched against,
            so ``"Ask for help"`` and ``"ask-for-help"`` are the same phrase.
    """

    def __init__(self, name: str, entries: Mapping[str, Iterable[str]]):
        self.name = name
        self.labels = tuple(entries)
        self._phrases: dict[tuple[str, ...], str | None] = {
            tuple(normalize(p).split()): None for p in NON_NEGATING_PHRASES}
        for label, phrases in entries.items():
            for phrase in phrases:
                key = tuple(normalize(phrase).split())
                if not key:
                    raise ValueError(f"lexicon {name!r}: phrase {phrase!r} of label {label!r} "
                                     "has no letters or digits; remove it")
                taken = self._phrases.get(key)
                if taken is not None and taken != label:
                    raise ValueError(f"lexicon {name!r}: phrase {phrase!r} is listed for both "
                                     f"{taken!r} and {label!r}; keep it under one label")
                self._phrases[key] = label
        self._longest = max(len(key) for key in self._phrases)

    def __repr__(self) -> str:
        return f"Lexicon({self.name!r}, labels={len(self.labels)}, phrases={len(self._phrases)})"

    def lookup(self, text: str) -> str | None:
        """The label ``text`` names as a whole (``"Happiness!"`` -> ``"joy"``), else None."""
        return self._phrases.get(tuple(normalize(text).split()))

    def mentions(self, text: str) -> list[Mention]:
        """Every phrase in ``text`` in reading order, each marked negated or not."""
        found = []
        for clause_index, tokens in enumerate(clauses(text)):
            negated, i = False, 0
            while i < len(tokens):
                for length in range(min(self._longest, len(tokens) - i), 0, -1):
                    key = tuple(tokens[i:i + length])
                    if key in self._phrases:
                        label = self._phrases[key]
                        if label is not None:
                            found.append(Mention(label, " ".join(key), clause_index, i, negated))
                        i += length
                        break
                else:
                    negated = negated or tokens[i] in NEGATORS
                    i += 1
        return found


# Keys: labels.CANONICAL_EMOTIONS, same order; each label is also listed under its own name.
# Left out on purpose, because they name two labels about equally often: upset (sadness / anger),
# horrified (fear / disgust), content (also the noun), down, moved, emotional.
EMOTION_PHRASES: dict[str, tuple[str, ...]] = {
    "anger": ("anger", "angry", "angrily", "angered", "mad", "furious", "furiously", "fury",
              "rage", "raging", "enraged", "irate", "outraged", "outrage", "irritated",
              "irritation", "annoyed", "annoyance", "frustrated", "frustration", "hostile",
              "resentful", "indignant"),
    "disgust": ("disgust", "disgusted", "disgusting", "disgustedly", "revulsion", "revolted",
                "repulsed", "repulsion", "grossed out", "aversion", "loathing", "contempt"),
    "fear": ("fear", "fearful", "fearfully", "afraid", "scared", "scary", "frightened", "fright",
             "terrified", "terror", "panic", "panicked", "anxious", "anxiety", "worried",
             "worry", "nervous", "nervousness", "alarmed", "apprehensive", "dread"),
    "joy": ("joy", "joyful", "joyfully", "joyous", "happy", "happiness", "happily", "glad",
            "gladness", "cheerful", "cheer", "delighted", "delight", "pleased", "pleasure",
            "excited", "excitement", "elated", "elation", "amused", "amusement", "gleeful",
            "glee", "thrilled", "ecstatic", "jubilant", "merry", "overjoyed"),
    "sadness": ("sadness", "sad", "sadly", "saddened", "unhappy", "unhappiness", "sorrow",
                "sorrowful", "grief", "grieving", "depressed", "depression", "gloomy", "gloom",
                "heartbroken", "miserable", "misery", "melancholy", "melancholic", "despair",
                "dejected", "mournful", "sorrowing", "suffering"),
    "surprise": ("surprise", "surprised", "surprising", "surprisingly", "shocked", "shock",
                 "astonished", "astonishment", "amazed", "amazement", "startled", "stunned",
                 "astounded"),
    "neutral": ("neutral", "neutrality", "calm", "calmly", "calmness", "indifferent",
                "indifference", "composed", "impassive", "expressionless", "emotionless",
                "unemotional", "no emotion", "no emotions", "no particular emotion",
                "no strong emotion", "no clear emotion", "without emotion", "peaceful",
                "serene"),
}

# Keys: MIntRec's exact label strings (labels.MINTREC_INTENTS, same order). Generic words (help,
# stop, sorry, tell) appear only inside phrases that pin the intent down, or not at all.
INTENT_PHRASES: dict[str, tuple[str, ...]] = {
    "Complain": ("complain", "complains", "complaining", "complained", "complaint",
                 "complaints"),
    "Praise": ("praise", "praises", "praising", "praised", "compliment", "compliments",
               "complimenting"),
    "Apologise": ("apologise", "apologises", "apologising", "apologised", "apologize",
                  "apologizes", "apologizing", "apologized", "apology", "apologies"),
    "Thank": ("thank", "thanks", "thanking", "thanked", "express gratitude",
              "expressing gratitude", "gratitude"),
    "Criticize": ("criticize", "criticizes", "criticizing", "criticized", "criticise",
                  "criticises", "criticising", "criticised", "criticism", "critique"),
    "Agree": ("agree", "agrees", "agreeing", "agreed", "agreement"),
    "Taunt": ("taunt", "taunts", "taunting", "taunted", "mock", "mocks", "mocking", "ridicule",
              "ridiculing"),
    "Flaunt": ("flaunt", "flaunts", "flaunting", "flaunted", "show off", "shows off",
               "showing off", "boast", "boasts", "boasting", "brag", "brags", "bragging"),
    "Joke": ("joke", "jokes", "joking", "joked", "jest", "jesting"),
    "Oppose": ("oppose", "opposes", "opposing", "opposed", "opposition", "disagree",
               "disagrees", "disagreeing", "objecting"),
    "Care": ("care", "cares", "caring", "show concern", "shows concern", "showing concern"),
    "Comfort": ("comfort", "comforts", "comforting", "comforted", "console", "consoles",
                "consoling", "reassure", "reassures", "reassuring"),
    "Inform": ("inform", "informs", "informing", "informed", "give information",
               "gives information", "giving information"),
    "Advise": ("advise", "advises", "advising", "advised", "advice", "suggest", "suggests",
               "suggesting", "recommend", "recommends", "recommending"),
    "Arrange": ("arrange", "arranges", "arranging", "arranged", "arrangement", "schedule",
                "schedules", "scheduling", "organize", "organizes", "organizing", "organise"),
    "Introduce": ("introduce", "introduces", "introducing", "introduced", "introduction"),
    "Leave": ("leave", "leaves", "leaving", "say goodbye", "says goodbye", "saying goodbye",
              "goodbye", "farewell"),
    "Prevent": ("prevent", "prevents", "preventing", "prevented", "stop someone",
                "stopping someone", "stop them", "stop him", "stop her"),
    "Greet": ("greet", "greets", "greeting", "greeted", "greetings", "say hello",
              "says hello", "saying hello"),
    "Ask for help": ("ask for help", "asks for help", "asking for help", "asked for help",
                     "seek help", "seeks help", "seeking help", "request help",
                     "requests help", "requesting help", "ask for assistance",
                     "asking for assistance"),
}

YES_WORDS = ("yes", "yeah", "yep", "yup")
NO_WORDS = ("no", "nope", "nah")

# Per yes/no task: words that say the property holds ("yes") or explicitly does not ("no").
YES_NO_CUES: dict[str, dict[str, tuple[str, ...]]] = {
    "hate": {"yes": ("hate", "hateful", "hatred", "hate speech", "racist", "racism", "sexist",
                     "sexism", "homophobic", "homophobia", "bigoted", "bigotry", "xenophobic",
                     "discriminatory", "slur", "slurs"),
             "no": ()},
    "humor": {"yes": ("funny", "humorous", "humor", "humour", "humorously", "hilarious",
                      "amusing", "comedic", "comical", "witty", "joke", "jokes", "joking"),
              "no": ("unfunny", "humorless", "humourless")},
    "sarcasm": {"yes": ("sarcastic", "sarcasm", "sarcastically", "ironic", "irony",
                        "ironically"),
                "no": ("sincere", "sincerely", "genuine", "genuinely")},
}

EMOTION_LEXICON = Lexicon("emotion", EMOTION_PHRASES)
INTENT_LEXICON = Lexicon("intent", INTENT_PHRASES)
YES_NO_LEXICONS: dict[str, Lexicon] = {
    task: Lexicon(f"{task} yes/no",
                  {"yes": YES_WORDS + cues["yes"], "no": NO_WORDS + cues["no"]})
    for task, cues in YES_NO_CUES.items()
}


def canonical_emotion(word: str) -> str | None:
    """Canonical emotion a word or phrase names as a whole (``"Happy"`` -> ``"joy"``), else None."""
    return EMOTION_LEXICON.lookup(word)


__all__ = [
    "NEGATORS", "NON_NEGATING_PHRASES", "Mention", "Lexicon", "clauses", "normalize",
    "EMOTION_PHRASES", "INTENT_PHRASES", "YES_WORDS", "NO_WORDS", "YES_NO_CUES",
    "EMOTION_LEXICON", "INTENT_LEXICON", "YES_NO_LEXICONS", "canonical_emotion",
]
