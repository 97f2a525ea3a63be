#!/usr/bin/env python3
"""Train the classifier's outcome-sentence signal (relay_smtp/mail/outcome_model.py), and measure it.

    python scripts/train_outcome_model.py          # train, write outcome_{ja,en}.json
    python scripts/train_outcome_model.py --cv     # also: leave-one-round-out over rounds 7-15, a grid
                                                   # of thresholds and weights, the development set
    python scripts/train_outcome_model.py --timing # only: the signal's cost per message

Training data, one document per sentence:

* hand-written labelled sentences (tests/data/classify/sentences/*.tsv, ``label<TAB>kind<TAB>sentence``,
  label 1: the sentence states that the reader's job application will not go forward), written for
  this signal;
* sentences of the tuning rounds (tests/data/classify/*.eml), read exactly as the classifier reads
  them (the text and the rules' signals captured at the model hook in classify.py): positives are the
  body sentences of rejections that hold a counted body phrase of weight >= 4 (the rules' own outcome
  statements); negatives are every sentence of the "other" messages (offers, passes, invitations,
  loans, internal notes: the hard negatives), and the thanks and wish sentences of rejections the
  rules stated an outcome in elsewhere, that hold no rejection phrase at all (the shape around an
  outcome, not the outcome).

The held-out set is never trained on; ``--cv`` scores it as a development set. The fit is the shared
pure-Python logistic regression (scripts/logistic.py), seeded: a rerun writes the same files. The raw
score is calibrated (Platt) on the out-of-fold sentence scores of the leave-one-round-out runs.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from relay_smtp.mail.classify import STATES_OUTCOME, ClassifierRules, Sender, Signal, classify  # noqa: E402
from relay_smtp.mail.model import TextModel  # noqa: E402
from relay_smtp.mail.outcome_model import (  # noqa: E402
    MAX_TEXT,
    OutcomeModels,
    OutcomeReading,
    default_outcome_models,
    set_aside,
)
from relay_smtp.mail.phrase_index import Forms  # noqa: E402
from relay_smtp.mail.sentences import sentence_spans  # noqa: E402
from relay_smtp.mail.structure import shape_markers  # noqa: E402
from relay_smtp.mail.textform import nfkc  # noqa: E402
from scripts import logistic  # noqa: E402
from scripts.classify_report import DATA, HELDOUT, Confusion, recipients_of, sender_of  # noqa: E402
from scripts.train_classifier_model import Capture  # noqa: E402

OUT = REPO / "relay_smtp" / "mail" / "phrases"
SENTENCES = DATA / "sentences"
FIRST_CV_ROUND = 7  # the first round that was an independent held-out set
SEEN = DATA / "seen"  # development sets of earlier work, never trained on
MAX_CHARS = 300  # of one sentence
FIT = logistic.FitSettings(min_df=2, top_features=8000, epochs=12, l2=1e-4, learning_rate=0.05, seed=1)
# The signal's configuration, chosen on the CV figures and the development set (docs/classifier.md).
THRESHOLD = {"ja": 0.93, "en": 0.93}
WEIGHT = {"ja": 4, "en": 4}
# English is read folded (model.en_folded_features): contractions written out, endings cut, and
# pairs of neighbouring words other than these (articles, pronouns, auxiliaries, prepositions; never
# "not" or "no", which carry the outcome).
FOLDED = {"ja": False, "en": True}
STOP_WORDS = frozenset(
    "a an the to of for in on at by with and or your you we our us i my me this that it its is are was"  # noqa: SIM905
    " were be been being as from have has had will would shall should can could do does did so very"
    " just also all any some there their they them he she his her".split()
)
GRID_THRESHOLDS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.98, 0.99)
GRID_WEIGHTS = (4, 5)


@dataclass
class Message:
    file: str
    language: str
    round: int
    positive: bool
    locale: str = ""
    text: str = ""  # the form the sentences are read from
    sentences: list[tuple[str, bool]] = field(default_factory=list)  # training sentences derived
    rules_label: str = "other"


def _round(file: str) -> int:
    name = file.removeprefix("ho")
    return int(name.split("_")[0][1:]) if name.startswith("r") and name[1].isdigit() else 0


def _derived(ex: Message, signals: list[Signal], rules_label: str) -> list[tuple[str, bool]]:
    """The training sentences of one tuning message (see the module docstring)."""
    japanese = ex.locale == "ja"
    text = ex.text[:MAX_TEXT]
    spans = [text[a:b] for a, b in sentence_spans(text, japanese)]
    if not ex.positive:
        return [(s, False) for s in spans]
    body = [s for s in signals if s.where == "body" and s.matched]
    strong = [s.matched for s in body if s.weight >= STATES_OUTCOME]
    found = [s.matched for s in body if s.weight > 0]
    out = [(s, True) for s in spans if any(m in s for m in strong)]
    if out and rules_label == "rejection":
        shape = shape_markers("ja" if japanese else "en")
        for s in spans:
            if not any(m in s for m in found) and (shape.thanks.search(s) or shape.wish.search(s)):
                out.append((s, False))
    return out


def load(data: Path) -> list[Message]:
    """Every labelled message of a set, read by the rules alone, with its training sentences."""
    capture = Capture()
    rules = ClassifierRules(text_model=capture, outcome_model=None)
    plain = ClassifierRules(outcome_model=None)
    with (data / "labels.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    out = []
    for row in rows:
        raw = (data / row["file"]).read_bytes()
        ex = Message(row["file"], row["language"], _round(row["file"]), row["label"] == "rejection")
        capture.seen.clear()
        sender, recipients = sender_of(raw), recipients_of(raw)
        classify(raw, rules, sender, recipients)
        ex.rules_label = classify(raw, plain, sender, recipients).label
        if capture.seen:
            locale, ja_text, en_text = capture.seen[0]
            ex.locale, ex.text = locale, ja_text if locale == "ja" else en_text
            ex.sentences = _derived(ex, list(capture.signals), ex.rules_label)
        out.append(ex)
    return out


def handwritten(folder: Path) -> dict[str, list[tuple[str, bool]]]:
    """The hand-written sentences per language, in the classifier's normalised form."""
    found: dict[str, list[tuple[str, bool]]] = {"ja": [], "en": []}
    for path in sorted(folder.glob("*.tsv")):
        language = path.name[:2]
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            label, _kind, sentence = line.split("\t", 2)
            forms = Forms.of(nfkc(sentence))
            text = forms.ja if language == "ja" else forms.en
            found[language].append((text.strip(" 。.!?;"), label.strip() == "1"))
    return found


def _empty(language: str) -> TextModel:
    folded = FOLDED[language]
    return TextModel(
        language,
        {},
        0.0,
        max_chars=MAX_CHARS,
        folded=folded,
        stop_words=STOP_WORDS if folded else frozenset(),
    )


def _features(sentence: str, language: str) -> set[str]:
    return _empty(language).features(sentence)


def _docs(
    messages: list[Message], hand: list[tuple[str, bool]], language: str, held: int = -1
) -> Iterator[tuple[set[str], bool]]:
    seen: set[tuple[str, bool]] = set()
    pairs = list(hand) + [
        s for m in messages if m.locale == language and m.round != held for s in m.sentences
    ]
    for pair in pairs:
        if pair not in seen:
            seen.add(pair)
            yield _features(pair[0], language), pair[1]


def model_for(
    messages: list[Message], hand: list[tuple[str, bool]], language: str, held: int = -1
) -> TextModel:
    weights, bias = logistic.fit(list(_docs(messages, hand, language, held)), FIT)
    return replace(
        _empty(language), weights=weights, bias=bias, threshold=THRESHOLD[language], weight=WEIGHT[language]
    )


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Figures(Confusion):
    caught: list[str] = field(default_factory=list)  # rejections the rules alone missed
    wrong: list[str] = field(default_factory=list)  # others now called rejections

    def add(self, ex: Message, predicted: bool) -> None:
        self.count(predicted, ex.positive)
        if predicted and ex.rules_label != "rejection":
            (self.caught if ex.positive else self.wrong).append(ex.file)


@dataclass
class Reading:
    """A message read with a model that always may fire (threshold 0): per weight, the label it then
    gets and the probability of the sentence found (-1: the signal was not read or found nothing);
    and the best probability of any sentence not set aside (the model alone, no rules, no gate)."""

    ex: Message
    labels: dict[int, tuple[str, float]]
    alone: float


def read_all(data: Path, messages: list[Message], model: TextModel) -> list[Reading]:
    """Every message read with the rules and ``model`` (one language's) at threshold 0, per weight."""
    one = (model, None) if model.language == "ja" else (None, model)
    rules = {
        weight: ClassifierRules(
            outcome_model=OutcomeModels(*(m and replace(m, threshold=0.0, weight=weight) for m in one))
        )
        for weight in GRID_WEIGHTS
    }
    models = OutcomeModels(*one)
    out = []
    for ex in messages:
        raw = (data / ex.file).read_bytes()
        sender, recipients = sender_of(raw), recipients_of(raw)
        labels = {}
        for weight in GRID_WEIGHTS:
            verdict = classify(raw, rules[weight], sender, recipients)
            found = [s.matched for s in verdict.reasons if s.where == "outcome"]
            labels[weight] = (verdict.label, model.probability(found[0]) if found else -1.0)
        best = -1.0
        if ex.locale == model.language:
            text = ex.text[:MAX_TEXT]
            for p, a, b in models.scored(ex.locale, text):
                if not set_aside(text, a, b, ex.locale == "ja"):
                    best = p
                    break
        out.append(Reading(ex, labels, best))
    return out


def tally(messages: list[Message], language: str, predicted: Callable[[Message], bool]) -> Figures:
    result = Figures()
    for ex in messages:
        if ex.language == language:
            result.add(ex, predicted(ex))
    return result


def figures(readings: list[Reading], language: str, threshold: float, weight: int) -> Figures:
    """Rules + signal at this threshold and weight (the label the signal gave, where it fired)."""
    by_file = {r.ex.file: r.labels[weight] for r in readings}

    def predicted(ex: Message) -> bool:
        label, p = by_file[ex.file]
        return label == "rejection" if p >= threshold else ex.rules_label == "rejection"

    return tally([r.ex for r in readings], language, predicted)


def alone(readings: list[Reading], language: str, threshold: float) -> Figures:
    """The signal by itself: the best sentence not set aside reaches the threshold (no rules, no gate)."""
    best = {r.ex.file: r.alone for r in readings}
    messages = [r.ex for r in readings if r.ex.locale == language]
    return tally(messages, language, lambda ex: best[ex.file] >= threshold)


def rules_alone(messages: list[Message], language: str) -> Figures:
    return tally(messages, language, lambda ex: ex.rules_label == "rejection")


def cross_validate(
    tuning: list[Message], hand: dict[str, list[tuple[str, bool]]], heldout: list[Message]
) -> dict[str, tuple[float, float]]:
    cv_rounds = sorted({ex.round for ex in tuning if ex.round >= FIRST_CV_ROUND})
    print(f"CV rounds {cv_rounds}", flush=True)
    seen = {path: load(path) for path in sorted(SEEN.glob("set*")) if (path / "labels.tsv").is_file()}
    calibration = {}
    for language in ("ja", "en"):
        print(f"== {language}", flush=True)
        folds = {h: model_for(tuning, hand[language], language, h) for h in cv_rounds}
        oof = [
            (folds[ex.round].raw_score(_features(s, language)), y)
            for ex in tuning
            if ex.round in cv_rounds and ex.locale == language
            for s, y in ex.sentences
        ]
        scale, shift = logistic.platt(oof)
        calibration[language] = (scale, shift)
        print(f"calibration on {len(oof)} out-of-fold sentences: scale {scale} shift {shift}", flush=True)
        readings: dict[int, list[Reading]] = {}
        for h, m in folds.items():
            part = [ex for ex in tuning if ex.round == h]
            readings[h] = read_all(DATA, part, replace(m, scale=scale, shift=shift))
        final = replace(model_for(tuning, hand[language], language), scale=scale, shift=shift)
        dev = read_all(HELDOUT, heldout, final) if heldout else []
        for weight in GRID_WEIGHTS:
            for t in GRID_THRESHOLDS:
                # each round read by its own fold's model
                total = figures([r for h in cv_rounds for r in readings[h]], language, t, weight)
                d = figures(dev, language, t, weight)
                print(
                    f"w {weight} t {t}: CV {total} +{len(total.caught)} new FP {total.wrong} | dev {d} "
                    f"+{len(d.caught)} new FP {d.wrong}",
                    flush=True,
                )
        t, w = THRESHOLD[language], WEIGHT[language]
        print(f"chosen t {t} w {w}, per round: rules alone | rules + signal | signal alone", flush=True)
        for h in cv_rounds:
            part = [ex for ex in tuning if ex.round == h]
            f = figures(readings[h], language, t, w)
            print(f"  round {h}: {rules_alone(part, language)} | {f} caught {f.caught} wrong {f.wrong}")
            print(f"            alone {alone(readings[h], language, t)}")
        if dev:
            d = figures(dev, language, t, w)
            print(f"  dev: {rules_alone(heldout, language)} | {d}")
            print(f"       caught {d.caught} wrong {d.wrong}")
            print(f"       alone {alone(dev, language, t)}", flush=True)
        # in sample: the final model on the whole tuning set; and the seen sets
        for name, (data, messages) in {
            "tuning": (DATA, tuning),
            **{p.name: (p, m) for p, m in seen.items()},
        }.items():
            part = [ex for ex in messages if ex.language == language]
            f = figures(read_all(data, part, final), language, t, w)
            print(
                f"  {name}: {rules_alone(part, language)} | {f} caught {f.caught} wrong {f.wrong}", flush=True
            )
    return calibration


def timing() -> None:
    """Cost of the signal per message (time.process_time, best of 5): the tuning and held-out sets
    classified with and without it, and the reading alone where the signal was read."""
    raws = [(p.read_bytes()) for d in (DATA, HELDOUT) for p in sorted(d.glob("*.eml"))]
    args = [(raw, sender_of(raw), recipients_of(raw)) for raw in raws]
    with_signal, without = ClassifierRules(), ClassifierRules(outcome_model=None)

    # Alternated, best of 5 each: the machine's load drifts between runs.
    runs: dict[bool, list[float]] = {True: [], False: []}
    for n in range(10):
        signal = n % 2 == 0
        start = time.process_time()
        for raw, sender, recipients in args:
            classify(raw, with_signal if signal else without, sender, recipients)
        runs[signal].append((time.process_time() - start) / len(args))
    on, off = min(runs[True]), min(runs[False])
    print(f"classify: {off * 1e6:.0f} us per message without the signal, {on * 1e6:.0f} us with it")
    models = default_outcome_models()
    read = [v for v in _read_texts(args) if v]
    readings = []
    for _ in range(5):
        start = time.process_time()
        for locale, text in read:
            models.read(locale, text)
        readings.append(time.process_time() - start)
    per = min(readings) / max(1, len(read))
    print(f"the signal was read for {len(read)} of {len(args)} messages, {per * 1e6:.0f} us per reading")


def _read_texts(args: list[tuple[bytes, Sender, list[str]]]) -> Iterator[tuple[str, str] | None]:
    """The (locale, text) the signal reads, for each message where classify reads it."""
    seen: list[tuple[str, str]] = []

    class Spy(OutcomeModels):
        def read(self, locale: str, text: str) -> OutcomeReading | None:
            seen.append((locale, text))
            return None

    shipped = default_outcome_models()
    rules = ClassifierRules(outcome_model=Spy(shipped.ja, shipped.en))
    for raw, sender, recipients in args:
        seen.clear()
        classify(raw, rules, sender, recipients)
        yield seen[0] if seen else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", action="store_true", help="also cross-validate and score the dev set")
    parser.add_argument("--timing", action="store_true", help="only measure the signal's cost per message")
    args = parser.parse_args(argv)
    if args.timing:
        timing()
        return 0
    tuning = load(DATA)
    hand = handwritten(SENTENCES)
    for language in ("ja", "en"):
        derived = [s for ex in tuning if ex.locale == language for s in ex.sentences]
        print(
            f"{language}: {len(hand[language])} hand-written sentences "
            f"({sum(y for _, y in hand[language])} outcome), {len(derived)} from the tuning rounds "
            f"({sum(y for _, y in derived)} outcome)",
            flush=True,
        )
    heldout = load(HELDOUT) if args.cv and (HELDOUT / "labels.tsv").is_file() else []
    calibration = cross_validate(tuning, hand, heldout) if args.cv else None
    for language in ("ja", "en"):
        path = OUT / f"outcome_{language}.json"
        kept = calibration[language] if calibration else logistic.shipped_calibration(path)
        if kept is None:
            parser.error(f"{path.name} does not exist: run with --cv once to calibrate")
        scale, shift = kept
        logistic.write_model(
            path, replace(model_for(tuning, hand[language], language), scale=scale, shift=shift)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
