"""A learned signal beside the phrase rules: a small linear text model per language.

Why this module exists: every independently written held-out set showed that phrase rules do not
reach new wording (recall 0.77-0.91 at the frozen rules, though each tuning round reached 1.00).
A linear model over short n-grams of the text the rules read has seen the wording of twelve rounds
at once, and backs rejection wording that no single phrase weighs enough. It is one signal among
the phrases, never a verdict by itself: it adds ``weight`` when its probability reaches
``threshold``, and only where :func:`may_add` allows (the rules counted typical rejection wording,
no "something else" phrase, nothing set aside as conditional, delayed or quoted: a bag of n-grams
cannot read those); it may subtract ``low_weight`` below ``low_threshold``. The job-context gate
still decides after the sum. Its explanation names the n-grams that pushed it most.

Features come from the text the classifier weighs (the sender's own text, quoted history and
signature removed, normalised by ``classify``): for Japanese, characters and character 2- and
3-grams of the Japanese form (no spaces, no commas); for English, word unigrams and bigrams of the
English form (lower case). Digits are folded to 0. Only the first ``max_chars`` characters are
read: rejections state their outcome early, and it bounds the cost to a few hundred dict lookups.
A model may read English *folded* (``folded``; the outcome-sentence model does): contractions
as their words ("won't" as "will not"), a plural or -ed/-ing ending cut off, and besides the
bigrams the pairs of neighbouring words once its ``stop_words`` are left out ("we have decided
not to proceed with your application" also gives "decid not", "proceed application"): the same
statement then reads alike whichever of its many English wordings it takes.

The weights are data, trained offline by ``scripts/train_classifier_model.py`` on the tuning
rounds only, and shipped as ``mail/phrases/model_{ja,en}.json`` (read once).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Protocol

_DIGITS = re.compile(r"\d+")
_EN_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
#: how many n-grams an explanation names
TOP_GRAMS = 5


def ja_features(text: str, max_chars: int) -> set[str]:
    """Characters and character 2- and 3-grams of a Japanese-form text (binary: each counted once)."""
    text = _DIGITS.sub("0", text[:max_chars])
    grams = set(text)
    grams.update(text[i : i + 2] for i in range(len(text) - 1))
    grams.update(text[i : i + 3] for i in range(len(text) - 2))
    return grams


def en_features(text: str, max_chars: int) -> set[str]:
    """Word unigrams and bigrams of an English-form text (numbers folded to 0)."""
    words = _EN_WORD.findall(_DIGITS.sub("0", text[:max_chars]))
    grams = set(words)
    grams.update(map(" ".join, pairwise(words)))
    return grams


# A contraction's own first word where cutting "n't" off does not give it ("won't": will not).
_EN_NOT = {"won't": "will", "can't": "can", "shan't": "shall", "cannot": "can"}
_EN_CLITIC = {"'re": "are", "'ve": "have", "'ll": "will", "'m": "am", "'d": "would", "'s": ""}


def _fold(word: str) -> str:
    """The word with a plural or -ed/-ing ending cut off (crudely: "decided" -> "decid", "roles" ->
    "rol"); only where enough of the word is left to stay a word of its own."""
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith(("ed", "es")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _en_words(text: str) -> list[str]:
    """The words of an English-form text, contractions written out, endings folded."""
    words: list[str] = []
    for word in _EN_WORD.findall(text):
        if "'" in word or word == "cannot":
            if word in _EN_NOT:
                words += (_EN_NOT[word], "not")
                continue
            if word.endswith("n't"):
                words += (_fold(word[:-3]), "not")
                continue
            head, _, tail = word.partition("'")
            words.append(_fold(head))
            if _EN_CLITIC.get("'" + tail):
                words.append(_EN_CLITIC["'" + tail])
            continue
        words.append(_fold(word))
    return words


def en_folded_features(text: str, max_chars: int, stop_words: frozenset[str]) -> set[str]:
    """Word unigrams and bigrams of an English-form text read folded (contractions written out,
    endings cut), and "~"-marked bigrams of its words other than ``stop_words``."""
    words = _en_words(_DIGITS.sub("0", text[:max_chars]))
    grams = set(words)
    grams.update(map(" ".join, pairwise(words)))
    content = [w for w in words if w not in stop_words]
    grams.update("~" + a + " " + b for a, b in pairwise(content))
    return grams


@dataclass(frozen=True)
class Reading:
    """What the model read in one text: its probability, the weight it adds, the top n-grams."""

    probability: float
    weight: int
    top: tuple[tuple[str, float], ...]

    @property
    def pattern(self) -> str:
        return "reads like a rejection" if self.weight > 0 else "reads unlike a rejection"

    @property
    def explanation(self) -> str:
        """What an admin reads: the verdict of the model, its probability and the top n-grams."""
        return f"{self.pattern} ({explain(self.probability, self.top)})"


def explain(probability: float, top: Sequence[tuple[str, float]]) -> str:
    """A model's probability and the n-grams that pushed it most, as the classifier's signals name them."""
    grams = ", ".join(f"{g} {w:+.2f}" for g, w in top)
    return f"p={probability:.3f}; top n-grams: {grams}"


@dataclass(frozen=True, eq=False)
class TextModel:
    """One language's model: n-gram weights, bias, a Platt calibration (p = sigmoid(scale * z +
    shift) of the raw score z) and the thresholds at which it becomes a signal."""

    language: str
    weights: Mapping[str, float]
    bias: float
    scale: float = 1.0
    shift: float = 0.0
    max_chars: int = 1000
    threshold: float = 0.9
    weight: int = 4
    low_threshold: float = 0.0
    low_weight: int = 0
    # English read folded (en_folded_features), with these words left out of the "~" pairs.
    folded: bool = False
    stop_words: frozenset[str] = frozenset()

    def features(self, text: str) -> set[str]:
        if self.language == "ja":
            return ja_features(text, self.max_chars)
        if self.folded:
            return en_folded_features(text, self.max_chars, self.stop_words)
        return en_features(text, self.max_chars)

    def raw_score(self, grams: Iterable[str]) -> float:
        # filter(None, ...) drops the n-grams the model does not know (get gives None)
        return self.bias + sum(filter(None, map(self.weights.get, grams)))

    def probability(self, text: str) -> float:
        return _sigmoid(self.scale * self.raw_score(self.features(text)) + self.shift)

    def read(self, text: str) -> Reading:
        """The probability, the weight it contributes and, when it contributes, the n-grams that
        pushed it most that way (the ranking is skipped when the model adds nothing)."""
        grams = self.features(text)
        p = _sigmoid(self.scale * self.raw_score(grams) + self.shift)
        weight = self.weight if p >= self.threshold else -self.low_weight if p < self.low_threshold else 0
        if not weight:
            return Reading(p, 0, ())
        # Ranked by C-level sorts (a key function per n-gram would cost as much as the scoring);
        # the few first are ordered again with the n-gram as tie-break, so the text is stable.
        weights = self.weights
        known = sorted(filter(weights.__contains__, grams), key=weights.__getitem__, reverse=weight > 0)
        sign = 1.0 if weight > 0 else -1.0
        top = sorted(known[: 2 * TOP_GRAMS], key=lambda g: (-sign * weights[g], g))[:TOP_GRAMS]
        return Reading(p, weight, tuple((g, weights[g]) for g in top))

    def to_json(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "bias": self.bias,
            "scale": self.scale,
            "shift": self.shift,
            "max_chars": self.max_chars,
            "threshold": self.threshold,
            "weight": self.weight,
            "low_threshold": self.low_threshold,
            "low_weight": self.low_weight,
            # written only when set, so a model that does not fold keeps the file it had
            **({"folded": True, "stop_words": sorted(self.stop_words)} if self.folded else {}),
            "weights": dict(sorted(self.weights.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TextModel:
        weights = data["weights"]
        if not isinstance(weights, dict) or not all(
            isinstance(k, str) and isinstance(v, int | float) for k, v in weights.items()
        ):
            raise ValueError("model weights must map n-grams to numbers")
        return cls(
            language=str(data["language"]),
            weights={k: float(v) for k, v in weights.items()},
            bias=float(data["bias"]),
            scale=float(data["scale"]),
            shift=float(data["shift"]),
            max_chars=int(data["max_chars"]),
            threshold=float(data["threshold"]),
            weight=int(data["weight"]),
            low_threshold=float(data["low_threshold"]),
            low_weight=int(data["low_weight"]),
            folded=bool(data.get("folded", False)),
            stop_words=frozenset(str(w) for w in data.get("stop_words", ())),
        )


def _sigmoid(z: float) -> float:
    if z < -30:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


class _Signal(Protocol):
    """What the model looks at in the rules' signals (classify.Signal)."""

    @property
    def where(self) -> str: ...
    @property
    def weight(self) -> int: ...
    @property
    def note(self) -> str: ...


#: Notes with which the rules set rejection wording aside: the model must not read it back in.
SET_ASIDE = ("conditional", "delayed", "quoted example")
#: How much counted rejection wording the body must hold for the model to add: typical wording (+2), not
#: weak context alone (+1; 募集を締め切 is said of a job still being filled).
MIN_RULE_EVIDENCE = 2


def may_add(signals: Iterable[_Signal]) -> bool:
    """Whether the model may add its weight: it reads wording, not conditions, quotes or roles, so it
    only backs what the rules already lean to. The body holds counted rejection wording, no
    "something else" phrase counted anywhere, and no rejection wording was set aside as conditional,
    delayed or a quoted example (a bag of n-grams cannot tell those apart from the real thing)."""
    evidence = 0
    for s in signals:
        if s.weight < 0 or any(s.note.startswith(n) for n in SET_ASIDE):
            return False
        if s.where == "body":
            evidence += s.weight
    return evidence >= MIN_RULE_EVIDENCE


@dataclass(frozen=True, eq=False)
class TextModels:
    """The models per language; a language without one gets no model signal."""

    ja: TextModel | None = None
    en: TextModel | None = None

    def read(self, locale: str, ja_text: str, en_text: str, signals: Sequence[_Signal]) -> Reading | None:
        """The reading of the model of the message's language, given the rules' signals so far
        (None: no model, or it adds nothing). A positive weight only where :func:`may_add`."""
        model, text = (self.ja, ja_text) if locale == "ja" else (self.en, en_text)
        adds = may_add(signals)
        if model is None or not (adds or model.low_weight):  # nothing it could say: not read at all
            return None
        reading = model.read(text)
        if reading.weight > 0 and not adds:
            return None
        return reading if reading.weight else None


@functools.cache
def default_models() -> TextModels:
    """The shipped models (read once per process); a missing file means no model for that language."""
    return TextModels(*shipped("model"))


def shipped(stem: str) -> tuple[TextModel | None, TextModel | None]:
    """The Japanese and English models shipped as ``phrases/{stem}_{ja,en}.json`` (None where a file
    is missing)."""
    found: dict[str, TextModel] = {}
    for language in ("ja", "en"):
        resource = importlib.resources.files("relay_smtp.mail").joinpath("phrases", f"{stem}_{language}.json")
        if resource.is_file():
            found[language] = TextModel.from_json(json.loads(resource.read_text(encoding="utf-8")))
    return found.get("ja"), found.get("en")
