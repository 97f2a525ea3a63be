#!/usr/bin/env python3
"""Train the classifier's learned signal (relay_smtp/mail/model.py) on the tuning rounds, and measure it.

    python scripts/train_classifier_model.py            # train on rounds 1-12, write model_{ja,en}.json
    python scripts/train_classifier_model.py --cv       # also: leave-one-round-out over rounds 7-12,
                                                        # and the held-out set as a development set

Training data is the tuning set only (tests/data/classify/*.eml, rounds 1-12); the held-out set is
never trained on. Each message is read exactly as the classifier reads it (the text handed to the
model hook in classify.py, captured through ``ClassifierRules.text_model``), so training and
inference share one normalisation.

The model is an L2-regularised logistic regression over binary n-gram features (see model.py),
fitted by stochastic gradient descent with epoch averaging, in pure Python and seeded, so a rerun
writes the same file. Features seen in fewer than FIT.min_df training messages are dropped (names,
dates, company words), and only the FIT.top_features largest weights are kept, so each file stays small.
The raw score is calibrated (Platt: p = sigmoid(scale * z + shift)) on the out-of-fold scores of the
leave-one-round-out runs over rounds 7-12: each of those rounds was an independent held-out set once,
so their out-of-fold scores are what the model gives on unseen mail.

A verdict with the model is the rules' score plus the model's weight (a positive weight only where
``model.may_add`` allows), then the job-context gate: ``--cv`` computes it from two classify runs per
message (the rules alone, and with a model that always fires, which shows whether the gate would let
it through), so a grid of settings is cheap.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from relay_smtp.mail.classify import ClassifierRules, classify  # noqa: E402
from relay_smtp.mail.model import Reading, TextModel, TextModels, may_add  # noqa: E402
from scripts import logistic  # noqa: E402
from scripts.classify_report import DATA, HELDOUT, Confusion, recipients_of, sender_of  # noqa: E402

OUT = REPO / "relay_smtp" / "mail" / "phrases"
CV_ROUNDS = (7, 8, 9, 10, 11, 12)
# The opening of the text the model reads: every message of the tuning set fits (at most 378 and 868
# characters), and the cost stays near 100 us per message however long the mail is.
MAX_CHARS = {"ja": 400, "en": 1200}
FIT = logistic.FitSettings(min_df=3, top_features=6000, epochs=20, l2=1e-4, learning_rate=0.05, seed=1)
# The signal's configuration, chosen on the development set and the CV figures (docs/classifier.md).
THRESHOLD = {"ja": 0.95, "en": 0.95}
WEIGHT = {"ja": 4, "en": 4}
LOW_THRESHOLD = {"ja": 0.0, "en": 0.05}
LOW_WEIGHT = {"ja": 0, "en": 2}


@dataclass
class Example:
    file: str
    language: str  # the set's language column
    round: int  # 0 for rounds 1-6, which are always trained on
    positive: bool
    locale: str = ""  # as the classifier detected it ("" when a marker or gate decided first)
    text: str = ""  # the form of the text the model reads
    rules_score: int = 0
    rules_label: str = "other"
    gated: bool = True  # would the job-context gate let a rejection through
    decided: bool = False  # decided before the content was weighed
    may_add: bool = False  # whether the rules' signals let the model add (model.may_add)


@dataclass(frozen=True, eq=False)
class Capture(TextModels):
    """Records the text handed to the hook; adds ``force`` (0: nothing) to the score."""

    force: int = 0
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    signals: list[Any] = field(default_factory=list)

    def read(self, locale: str, ja_text: str, en_text: str, signals: Sequence[Any]) -> Reading | None:
        self.seen.append((locale, ja_text, en_text))
        self.signals[:] = list(signals)
        return Reading(1.0, self.force, ()) if self.force else None


def _round(file: str) -> int:
    found = re.match(r"r(\d+)_", file)
    return int(found.group(1)) if found else 0


def load(data: Path) -> list[Example]:
    """Every labelled message of a set, read and classified by the rules alone."""
    capture, forced = Capture(), Capture(force=1000)
    plain, always = ClassifierRules(text_model=capture), ClassifierRules(text_model=forced)
    with (data / "labels.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    out = []
    for row in rows:
        raw = (data / row["file"]).read_bytes()
        sender, recipients = sender_of(raw), recipients_of(raw)
        ex = Example(row["file"], row["language"], _round(row["file"]), row["label"] == "rejection")
        capture.seen.clear()
        verdict = classify(raw, plain, sender, recipients)
        ex.rules_score, ex.rules_label = verdict.score, verdict.label
        if capture.seen:
            locale, ja_text, en_text = capture.seen[0]
            ex.locale, ex.text = locale, ja_text if locale == "ja" else en_text
            ex.may_add = may_add(capture.signals)
            ex.gated = classify(raw, always, sender, recipients).label == "rejection"
        else:
            ex.decided = True
        out.append(ex)
    return out


# --- the model --------------------------------------------------------------------------------


def _features(ex: Example) -> set[str]:
    if not ex.locale:
        return set()
    return TextModel(ex.locale, {}, 0.0, max_chars=MAX_CHARS[ex.locale]).features(ex.text)


def fit(examples: list[Example], language: str) -> tuple[dict[str, float], float]:
    """Weights and bias of the logistic regression (scripts/logistic.py) on one language's messages."""
    docs = [(_features(ex), ex.positive) for ex in examples if ex.locale == language]
    return logistic.fit(docs, FIT)


def model_for(examples: list[Example], language: str, scale: float = 1.0, shift: float = 0.0) -> TextModel:
    weights, bias = fit(examples, language)
    return TextModel(
        language,
        weights,
        bias,
        scale=scale,
        shift=shift,
        max_chars=MAX_CHARS[language],
        threshold=THRESHOLD[language],
        weight=WEIGHT[language],
        low_threshold=LOW_THRESHOLD[language],
        low_weight=LOW_WEIGHT[language],
    )


# --- verdicts ---------------------------------------------------------------------------------


def verdict(ex: Example, model: TextModel | None, threshold: int = 4) -> bool:
    """Whether rules + model call the message a rejection."""
    if ex.decided or model is None or ex.locale != model.language:
        return ex.rules_label == "rejection"
    weight = model.read(ex.text).weight
    if weight > 0 and not ex.may_add:
        weight = 0
    return ex.rules_score + weight >= threshold and ex.gated


@dataclass
class Figures(Confusion):
    missed: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def add(self, ex: Example, predicted: bool) -> None:
        self.count(predicted, ex.positive)
        if predicted and not ex.positive:
            self.wrong.append(ex.file)
        elif ex.positive and not predicted:
            self.missed.append(ex.file)


def score(examples: list[Example], language: str, model: TextModel | None) -> Figures:
    figures = Figures()
    for ex in examples:
        if ex.language == language:
            figures.add(ex, verdict(ex, model))
    return figures


def with_signal(model: TextModel, signal: tuple[float, int, float, int]) -> TextModel:
    """The model with another (threshold, weight, low_threshold, low_weight)."""
    threshold, weight, low_threshold, low_weight = signal
    return replace(
        model, threshold=threshold, weight=weight, low_threshold=low_threshold, low_weight=low_weight
    )


def chosen(language: str) -> tuple[float, int, float, int]:
    return THRESHOLD[language], WEIGHT[language], LOW_THRESHOLD[language], LOW_WEIGHT[language]


GRID = [
    (t, w, low_t, low_w)
    for t in (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
    for w in (3, 4)
    for low_t, low_w in ((0.0, 0), (0.02, 2), (0.05, 2))
]


def model_alone(examples: list[Example], model: TextModel) -> Figures:
    """The model by itself at its threshold (no rules, no gate): how it reads unseen wording."""
    figures = Figures()
    for ex in examples:
        if ex.locale == model.language:
            figures.add(ex, model.probability(ex.text) >= model.threshold)
    return figures


def cross_validate(tuning: list[Example], heldout: list[Example]) -> dict[str, tuple[float, float]]:
    """Leave-one-round-out over rounds 7-12, the grid of signal settings, and the dev set."""
    calibration: dict[str, tuple[float, float]] = {}
    for language in ("ja", "en"):
        print(f"== {language}")
        folds: dict[int, TextModel] = {}
        oof: list[tuple[float, bool]] = []
        for held in CV_ROUNDS:
            train = [ex for ex in tuning if ex.round != held]
            folds[held] = model_for(train, language)
            for ex in tuning:
                if ex.round == held and ex.locale == language:
                    oof.append((folds[held].raw_score(folds[held].features(ex.text)), ex.positive))
        scale, shift = logistic.platt(oof)
        calibration[language] = (scale, shift)
        print(f"calibration on out-of-fold scores: scale {scale} shift {shift}")
        folds = {h: replace(m, scale=scale, shift=shift) for h, m in folds.items()}
        final = model_for(tuning, language, scale, shift)
        rounds = {h: [ex for ex in tuning if ex.round == h] for h in CV_ROUNDS}
        for signal in GRID:
            total = Figures()
            for held in CV_ROUNDS:
                for ex in rounds[held]:
                    if ex.language == language:
                        total.add(ex, verdict(ex, with_signal(folds[held], signal)))
            dev = score(heldout, language, with_signal(final, signal))
            print(f"{signal}: CV rounds 7-12 {total} | dev {dev}")
        signal = chosen(language)
        print(f"chosen {signal}, per round: rules alone | rules + model | model alone (p >= threshold)")
        for held in CV_ROUNDS:
            fold = with_signal(folds[held], signal)
            part = rounds[held]
            print(f"  round {held}: {score(part, language, None)} | {score(part, language, fold)}")
            print(f"            model alone {model_alone(part, fold)}")
        dev_model = with_signal(final, signal)
        print(f"  dev: {score(heldout, language, None)} | {score(heldout, language, dev_model)}")
        print(f"            model alone {model_alone(heldout, dev_model)}")
        dev = score(heldout, language, dev_model)
        print(f"  dev still missed: {' '.join(dev.missed)}; wrong: {' '.join(dev.wrong)}")
    return calibration


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", action="store_true", help="also cross-validate and score the dev set")
    args = parser.parse_args(argv)
    tuning = load(DATA)
    heldout = load(HELDOUT) if args.cv and (HELDOUT / "labels.tsv").is_file() else []
    calibration = cross_validate(tuning, heldout) if args.cv else None
    for language in ("ja", "en"):
        path = OUT / f"model_{language}.json"
        # without --cv the calibration of the shipped file is kept
        kept = calibration[language] if calibration else logistic.shipped_calibration(path)
        if kept is None:
            parser.error(f"{path.name} does not exist: run with --cv once to calibrate")
        logistic.write_model(path, model_for(tuning, language, *kept))
    return 0


if __name__ == "__main__":
    sys.exit(main())
