"""The shape of a rejection, as a signal beside the phrases.

Why this module exists: phrase lists never cover every way to say no, but rejections share a shape.
HR guides and the templates of ATS products agree on it: the mail thanks the reader, states an
outcome about the application, and closes with a wish for the reader's future; a non-rejection asks
for an action instead (a date, a document, a reply). So:

* :func:`shape_signals` adds a small weight when a real outcome phrase (weight >= 3) is preceded
  by thanks and followed by a wish (+2), or preceded by thanks with nothing asked (+1). It adds
  nothing when any "something else" phrase counted (an offer, a pass, a request for a reply or a
  date are negative phrases in ``phrases/*.toml``), so the shape never rescues such a mail.
* :func:`quoted_example` tells the classifier that a rejection phrase stands inside quotation marks
  (「...」, "...") in a mail that talks about rejection mail in general (an HR newsletter, an internal
  memo on the template): there the phrase is an example being discussed, not this mail's outcome.
* :func:`in_wish` tells the classifier that a negative phrase stands inside a wish for the
  reader's future ("一日も早く内定を手にされますよう応援しております", "all the best in your next
  steps"): there an offer, a pass or a next step belongs to another employer, not to this mail.

The markers are data (``[structure]`` in ``phrases/ja.toml`` and ``en.toml``), compiled once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from relay_smtp.mail.phrasebook import Language, load_phrasebook
from relay_smtp.mail.sentences import sentence_end

OUTCOME_MIN_WEIGHT = 3
SHAPE_FULL = 2  # thanks -> outcome -> wish
SHAPE_PLAIN = 1  # thanks -> outcome, nothing asked


@dataclass(frozen=True)
class _Markers:
    thanks: re.Pattern[str]
    wish: re.Pattern[str]
    future: re.Pattern[str]
    about: re.Pattern[str]


def _union(patterns: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns) or r"(?!)", re.IGNORECASE)


@functools.cache
def shape_markers(language: Language) -> _Markers:
    book = load_phrasebook(language)
    keys = ("thanks", "wish", "future", "about_rejections")
    return _Markers(*(_union(book.structure.get(key, ())) for key in keys))


@dataclass(frozen=True)
class Shape:
    """What was found: the matched texts, for the explanation (empty when absent)."""

    thanks: str
    outcome: str
    wish: str


def _sentence(text: str, start: int, end: int, japanese: bool) -> str:
    pattern = sentence_end(japanese)
    head = text[max(0, start - 200) : start]
    cuts = [m.end() for m in pattern.finditer(head)]
    tail = text[end : end + 200]
    stop = pattern.search(tail)
    return head[cuts[-1] if cuts else 0 :] + text[start:end] + (tail[: stop.start()] if stop else tail)


def in_wish(text: str, start: int, end: int, japanese: bool) -> bool:
    """Whether text[start:end] stands in a sentence that wishes the reader well elsewhere."""
    markers = shape_markers("ja" if japanese else "en")
    sentence = _sentence(text, start, end, japanese)
    return bool(markers.wish.search(sentence) and markers.future.search(sentence))


# Quoted stretches: 「」『』 and straight double quotes; in English also single quotes that open
# after a non-letter and close before one (an apostrophe inside, as in we've, stays inside).
_JA_QUOTED = re.compile(r"「[^「」]{1,300}」|『[^『』]{1,300}』|\"[^\"]{1,300}\"")
# (The lookbehind stands after the opening quote, '(?<!\w') rather than (?<!\w)': the same test,
# but a pattern that starts with a literal lets the engine skip to the next quote in C.)
_EN_QUOTED = re.compile(r"\"[^\"]{1,300}\"|'(?<!\w')(?:[^']|(?<=\w)'(?=\w)){1,300}?'(?!\w)")
# The marks the quoted stretches above open with.
_JA_OPENING = ("「", "『", '"')
_EN_OPENING = ('"', "'")


def _inside_quotes(text: str, start: int, end: int, japanese: bool) -> bool:
    """Whether text[start:end] lies inside a quoted stretch (looked for within 300 characters)."""
    lo = max(0, start - 300)
    # A quoted stretch opens with its quote mark: none from the window's start up to the phrase's
    # start, none that holds the phrase (most phrases; the regex search costs more than this).
    head = text[lo : start + 1]
    if not any(mark in head for mark in (_JA_OPENING if japanese else _EN_OPENING)):
        return False
    window = text[lo : end + 300]
    pattern = _JA_QUOTED if japanese else _EN_QUOTED
    return any(m.start() + lo <= start and end <= m.end() + lo for m in pattern.finditer(window))


def quoted_example(text: str, start: int, end: int, japanese: bool) -> bool:
    """Whether text[start:end] is a quoted example in a mail about rejection mail in general."""
    if not _inside_quotes(text, start, end, japanese):
        return False
    return bool(shape_markers("ja" if japanese else "en").about.search(text))


# What opens a quotation in a sentence read whole (an apostrophe, as in won't, opens none).
_QUOTE_MARKS = ("「", "『", '"')


def quotes_example(text: str, start: int, end: int, japanese: bool) -> bool:
    """Whether the sentence text[start:end] lies in a quoted stretch or opens or holds one, in a mail
    about rejection mail in general: a reading of the whole sentence cannot tell the quoted words
    from the rest ('Try: "We won't be taking your application further" and keep it short')."""
    if not (any(m in text[start:end] for m in _QUOTE_MARKS) or _inside_quotes(text, start, end, japanese)):
        return False
    return bool(shape_markers("ja" if japanese else "en").about.search(text))


def find_shape(text: str, outcomes: Sequence[str], japanese: bool) -> Shape | None:
    """Thanks before the first outcome phrase found in ``text``, and a wish after it (if any)."""
    markers = shape_markers("ja" if japanese else "en")
    positions = [(text.find(o), o) for o in outcomes if o and text.find(o) >= 0]
    if not positions:
        return None
    at, outcome = min(positions)
    thanks = markers.thanks.search(text, 0, at)
    if thanks is None:
        return None
    wish = markers.wish.search(text, at + len(outcome))
    return Shape(thanks.group(), outcome, wish.group() if wish else "")
