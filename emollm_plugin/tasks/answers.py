"""Turn a model's free-text answer into the EmoBench label it names, or say why it names none.

Rules (all matching on lowercased, punctuation-stripped tokens, see ``tasks.lexicon``):

- closed set (emotion_closed, intention), in order, the first rule that names something decides:
  1. ``exact``: the whole answer is one of the options (``"  Joy!"`` -> ``joy``);
  2. ``option``: options named inside the answer (``"The emotion is anger."``);
  3. ``lexicon``: synonyms and inflections mapped to an option (``"scared"`` -> ``fear``,
     ``"apologizing"`` -> ``Apologise``).
  Negated mentions name nothing (``"not angry, disgusted"`` -> ``disgust``). Two or more
  different options named by the deciding rule -> ``ambiguous`` (scored wrong).
- open set (emotion_open): rule 3 over the seven canonical emotions, same ambiguity rule.
- yes/no (hate, humor, sarcasm): the first yes/no word or task cue in reading order decides;
  a negated cue flips (``"not sarcastic"`` -> no, ``"it is sarcastic"`` -> yes,
  ``"No, ..."`` -> no).
Nothing named -> ``unparseable`` (scored wrong).

Final-answer rule (``parse_answer`` only, applied before the rules above): when the answer
carries a final-answer marker (``FINAL_ANSWER_MARKER``: "Answer:", "Final answer:", "the answer
is", "Emotion:", "In conclusion,", "so the emotion is ...", "therefore, ..."), the text after the
LAST marker is parsed by the task's rules and decides, with ``Parsed.final_answer`` set, so
labels named or negated in reasoning before it are ignored. When that text names nothing
(unparseable), the marker is ignored and the whole answer is parsed by the rules above.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Sequence

from ..errors import EmoLLMError
from .labels import YES_NO_TASKS
from .lexicon import (EMOTION_LEXICON, INTENT_LEXICON, NO_WORDS, YES_NO_LEXICONS, YES_WORDS,
                      Lexicon, normalize)

OK, AMBIGUOUS, UNPARSEABLE = "ok", "ambiguous", "unparseable"


class AnswerParseError(EmoLLMError, ValueError):
    """A task or label_set the parser cannot use (any answer text itself always parses)."""

CLOSED_SET_LEXICONS = {"emotion_closed": EMOTION_LEXICON, "intention": INTENT_LEXICON}

# Phrases after which a reasoning answer states its label (case-insensitive, whole words).
FINAL_ANSWER_MARKER = re.compile(r"""
    \b(?:
        (?:final\s+)?answer\s*(?:[:=]|-(?!\w)|\bis\b|\bwould\s+be\b)     # Answer: / the answer is
      | (?:emotion|feeling|intent|intention|label|prediction|verdict)\s*[:=]  # Emotion: anger
      | (?:in\s+conclusion|to\s+conclude|in\s+summary|to\s+sum\s+up)\b\s*[,:]?
      | (?:so|therefore|thus|hence)\s*,                                      # So, ... / Therefore, ...
      | (?:so|therefore|thus|hence)(?=\s+(?:the|she|he|they|it|this|his|her|their|i|we)\b)
    )""", re.IGNORECASE | re.VERBOSE)


@dataclass(frozen=True)
class Parsed:
    """What an answer names: ``label`` when ``status == "ok"``, else None."""

    label: str | None
    status: str                        # ok | ambiguous | unparseable
    rule: str                          # exact | option | lexicon | yes_no_word | cue | none
    candidates: tuple[str, ...] = ()   # every label the deciding rule found
    final_answer: bool = False         # decided by the text after the last final-answer marker


def _decide(named: Sequence[str], rule: str) -> Parsed:
    distinct = tuple(dict.fromkeys(named))
    if len(distinct) == 1:
        return Parsed(distinct[0], OK, rule, distinct)
    return Parsed(None, AMBIGUOUS, rule, distinct)


def _affirmed(lexicon: Lexicon, answer: str) -> list[str]:
    return [m.label for m in lexicon.mentions(answer) if not m.negated]


@lru_cache(maxsize=256)
def _options_lexicon(options: tuple[str, ...]) -> Lexicon:
    seen: dict[str, str] = {}
    for option in options:
        key = normalize(option)
        if key in seen:
            raise AnswerParseError(f"options {seen[key]!r} and {option!r} are the same after lowercasing "
                             "and stripping punctuation; make the label_set entries distinct")
        seen[key] = option
    try:
        return Lexicon("options", {option: (option,) for option in options})
    except ValueError as err:  # an option with no letters or digits
        raise AnswerParseError(f"label_set {list(options)}: {err}") from None


def parse_closed(answer: str, options: Sequence[str], lexicon: Lexicon) -> Parsed:
    """The option ``answer`` names. An option's lexicon label is the label its own text names
    (``"Apologize"`` -> ``Apologise``), so spelling variants of an option still match."""
    options_lexicon = _options_lexicon(tuple(options))
    exact = options_lexicon.lookup(answer)
    if exact is not None:
        return Parsed(exact, OK, "exact", (exact,))
    named = _affirmed(options_lexicon, answer)
    if named:
        return _decide(named, "option")
    options_by_label: dict[str, list[str]] = {}
    for option in options:
        label = lexicon.lookup(option) or option
        options_by_label.setdefault(label, []).append(option)
    named = [option for label in _affirmed(lexicon, answer)
             for option in options_by_label.get(label, ())]
    if named:
        return _decide(named, "lexicon")
    return Parsed(None, UNPARSEABLE, "none")


def parse_open_emotion(answer: str) -> Parsed:
    """The canonical emotion ``answer`` names through the emotion lexicon."""
    named = _affirmed(EMOTION_LEXICON, answer)
    return _decide(named, "lexicon") if named else Parsed(None, UNPARSEABLE, "none")


def parse_yes_no(answer: str, task: str) -> Parsed:
    """``"yes"`` or ``"no"`` from the first yes/no word or ``task`` cue; a negated cue flips."""
    if task not in YES_NO_LEXICONS:
        raise AnswerParseError(f"no yes/no cues for task {task!r}; yes/no tasks are {YES_NO_TASKS}")
    mentions = YES_NO_LEXICONS[task].mentions(answer)
    if not mentions:
        return Parsed(None, UNPARSEABLE, "none")
    first = mentions[0]
    label = {"yes": "no", "no": "yes"}[first.label] if first.negated else first.label
    rule = "yes_no_word" if first.phrase in YES_WORDS + NO_WORDS else "cue"
    return Parsed(label, OK, rule, (label,))


def last_final_answer_marker(answer: str) -> re.Match | None:
    """The last final-answer marker that has words after it, or None: the one marker rule, for
    scoring (``final_answer_text``) and for showing reasoning apart from the answer (the apps)."""
    last = None
    for match in FINAL_ANSWER_MARKER.finditer(answer):
        if re.search(r"[^\W_]", answer[match.end():]):
            last = match
    return last


def final_answer_text(answer: str) -> str | None:
    """The text after the last final-answer marker that has words after it, or None."""
    match = last_final_answer_marker(answer)
    return None if match is None else answer[match.end():]


def parse_answer(answer: str, task: str, label_set: Sequence[str] | None = None) -> Parsed:
    """Dispatch on the EmoBench task; closed-set tasks need the record's ``label_set``.

    The final-answer rule comes first: the text after the last marker decides when it names
    something (``Parsed.final_answer`` is then True); otherwise the whole answer decides."""
    tail = final_answer_text(answer)
    if tail is not None:
        parsed = _parse_task(tail, task, label_set)
        if parsed.status != UNPARSEABLE:
            return replace(parsed, final_answer=True)
    return _parse_task(answer, task, label_set)


def _parse_task(answer: str, task: str, label_set: Sequence[str] | None) -> Parsed:
    if task in CLOSED_SET_LEXICONS:
        if not label_set:
            raise AnswerParseError(f"task {task!r} is closed-set: pass the record's label_set")
        return parse_closed(answer, label_set, CLOSED_SET_LEXICONS[task])
    if task == "emotion_open":
        return parse_open_emotion(answer)
    return parse_yes_no(answer, task)


__all__ = ["AnswerParseError", "Parsed", "OK", "AMBIGUOUS", "UNPARSEABLE", "FINAL_ANSWER_MARKER",
           "last_final_answer_marker", "final_answer_text",
           "parse_closed", "parse_open_emotion", "parse_yes_no", "parse_answer"]
