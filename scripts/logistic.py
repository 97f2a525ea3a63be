"""Logistic regression over binary n-gram features, fitted in pure Python, for the classifier's
learned signals (``train_classifier_model.py``, ``train_outcome_model.py``).

Why this module exists: both learned signals are the same kind of model (``mail/model.py``'s
``TextModel``); one fitting routine keeps their training alike and a rerun deterministic. The fit is
stochastic gradient descent with epoch averaging and L2 shrinkage, seeded; features seen in fewer
than ``min_df`` documents are dropped (names, dates, company words) and only the ``top_features``
largest weights kept, so each shipped file stays small. ``platt`` calibrates raw scores to
probabilities (p = sigmoid(scale * z + shift)).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from relay_smtp.mail.model import TextModel

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class FitSettings:
    """How a model is fitted: the vocabulary cut (``min_df``, ``top_features``) and the SGD."""

    min_df: int
    top_features: int
    epochs: int = 20
    l2: float = 1e-4
    learning_rate: float = 0.05
    seed: int = 1


def fit(docs: Sequence[tuple[Iterable[str], bool]], settings: FitSettings) -> tuple[dict[str, float], float]:
    """Weights and bias of an L2 logistic regression (SGD, averaged over epochs) of the labels on
    the documents' n-gram sets."""
    min_df, top_features, epochs = settings.min_df, settings.top_features, settings.epochs
    l2, learning_rate, seed = settings.l2, settings.learning_rate, settings.seed
    sets = [(set(grams), y) for grams, y in docs]
    df: dict[str, int] = {}
    for grams, _ in sets:
        for g in grams:
            df[g] = df.get(g, 0) + 1
    vocab = sorted(g for g, n in df.items() if n >= min_df)
    index = {g: i for i, g in enumerate(vocab)}
    rows = [([index[g] for g in grams if g in index], 1.0 if y else 0.0) for grams, y in sets]
    w = [0.0] * len(vocab)
    avg = [0.0] * len(vocab)
    b = avg_b = 0.0
    rng = random.Random(seed)
    order = list(range(len(rows)))
    for epoch in range(epochs):
        rng.shuffle(order)
        rate = learning_rate / (1 + epoch)
        for i in order:
            idx, y = rows[i]
            z = b + sum(w[j] for j in idx)
            p = 1 / (1 + math.exp(-z)) if z > -30 else 0.0
            step = rate * (y - p)
            if step:
                for j in idx:
                    w[j] += step
                b += step
        shrink = 1 - rate * l2 * len(rows)
        w = [x * shrink for x in w]
        for j, x in enumerate(w):
            avg[j] += x
        avg_b += b
    weights = {vocab[j]: x / epochs for j, x in enumerate(avg)}
    kept = sorted(weights, key=lambda g: -abs(weights[g]))[:top_features]
    return {g: round(weights[g], 4) for g in kept if round(weights[g], 4)}, round(avg_b / epochs, 4)


def platt(scores: Sequence[tuple[float, bool]]) -> tuple[float, float]:
    """scale and shift of a 1-d logistic fit of the labels on the raw scores (gradient descent)."""
    a, c = 1.0, 0.0
    for _ in range(2000):
        ga = gc = 0.0
        for z, y in scores:
            p = 1 / (1 + math.exp(-max(-30.0, min(30.0, a * z + c))))
            ga += (p - y) * z
            gc += p - y
        a -= 0.01 * ga / len(scores)
        c -= 0.01 * gc / len(scores)
    return round(a, 4), round(c, 4)


def shipped_calibration(path: Path) -> tuple[float, float] | None:
    """The scale and shift of a shipped model file (kept when a script retrains without --cv), or
    None when there is no such file yet."""
    if not path.is_file():
        return None
    old = json.loads(path.read_text(encoding="utf-8"))
    return float(old["scale"]), float(old["shift"])


def write_model(path: Path, model: TextModel) -> None:
    """Write a model as the shipped JSON, and say so."""
    path.write_text(json.dumps(model.to_json(), ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(REPO)}: {len(model.weights)} n-grams, {path.stat().st_size} bytes")
