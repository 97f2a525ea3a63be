"""A learned signal that reads the text sentence by sentence: does this sentence state the outcome?

Why this module exists: on every independently written held-out set most missed rejections state
their outcome (the reader's application will not go forward) in words no phrase has: "I'm gonna go
with him", "found NOT ELIGIBLE for the above post", お会いする機会を設けるのは難しいと判断. The
whole-text model (``model.py``) may only back wording the rules already found, so it never reaches
those. Sentences are dense data: thousands of labelled sentences, each saying the outcome or not,
teach wordings that no phrase list holds, and a sentence is small enough that one reading of it is
about one thing.

Each sentence of the sender's own text (the classifier's normalised form, split where the
classifier's other checks split, ``sentences.py``) is read by a linear model over the same n-grams
as ``model.py`` (``TextModel``, one per language; English read folded, contractions written out
and endings cut, since English states one outcome in many wordings); the sentence with the highest
probability that reaches the model's threshold and is not set aside is the finding. A sentence is
set aside when it is conditional, denied or delayed (``weigh.sentence_set_aside``), a wish for the
reader's future (``structure.in_wish``) or quotes an example in mail about rejection mail
(``structure.quotes_example``): a bag of n-grams cannot read those, the rules can. When it may
add, and how much, is decided in ``classify.py``; the job-context gate still decides after the sum.

The weights are data, trained offline by ``scripts/train_outcome_model.py`` and shipped as
``mail/phrases/outcome_{ja,en}.json`` (read once).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from relay_smtp.mail.model import TextModel, explain, shipped
from relay_smtp.mail.sentences import sentence_spans
from relay_smtp.mail.structure import in_wish, quotes_example
from relay_smtp.mail.weigh import QUOTED_EXAMPLE, sentence_set_aside

#: How much of the text is read: an outcome is stated early, and it bounds the cost.
MAX_TEXT = 4000
IN_WISH = "in a wish for the reader's future"


def set_aside(text: str, start: int, end: int, japanese: bool) -> str:
    """Why the sentence text[start:end] does not state this mail's outcome ("" when it may)."""
    reason = sentence_set_aside(text[start:end], japanese)
    if reason:
        return reason
    if in_wish(text, start, end, japanese):
        return IN_WISH
    if quotes_example(text, start, end, japanese):
        return QUOTED_EXAMPLE
    return ""


@dataclass(frozen=True)
class OutcomeReading:
    """The sentence found to state the outcome, its probability, the weight it adds, the n-grams
    that pushed it most."""

    sentence: str
    probability: float
    weight: int
    top: tuple[tuple[str, float], ...]

    @property
    def explanation(self) -> str:
        return explain(self.probability, self.top)


@dataclass(frozen=True, eq=False)
class OutcomeModels:
    """The sentence models per language; a language without one gets no outcome signal."""

    ja: TextModel | None = None
    en: TextModel | None = None

    def for_locale(self, locale: str) -> TextModel | None:
        return self.ja if locale == "ja" else self.en

    def scored(self, locale: str, text: str) -> list[tuple[float, int, int]]:
        """(probability, start, end) of every sentence of the opening of ``text``, best first."""
        model = self.for_locale(locale)
        if model is None:
            return []
        text = text[:MAX_TEXT]
        spans = sentence_spans(text, locale == "ja")
        return sorted(((model.probability(text[a:b]), a, b) for a, b in spans), key=lambda x: (-x[0], x[1]))

    def read(self, locale: str, text: str) -> OutcomeReading | None:
        """The most probable outcome sentence that reaches the threshold and is not set aside; None
        when there is none (or no model for the language)."""
        model = self.for_locale(locale)
        if model is None:
            return None
        text = text[:MAX_TEXT]
        for p, start, end in self.scored(locale, text):
            if p < model.threshold:
                return None
            if set_aside(text, start, end, locale == "ja"):
                continue
            sentence = text[start:end]
            return OutcomeReading(sentence, p, model.weight, model.read(sentence).top)
        return None


@functools.cache
def default_outcome_models() -> OutcomeModels:
    """The shipped models (read once per process); a missing file means no model for that language."""
    return OutcomeModels(*shipped("outcome"))
