"""What the classifier answers: a verdict and the signals it was reached by.

Why this module exists: the verdict types are what the rest of the relay (pipeline, ATS signal,
recorder, CLI) reads, while the classifier's steps (``classify``, ``weigh``) build them; a module of
their own keeps both sides free of each other's imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from relay_smtp.mail.textform import Locale

Label = Literal["rejection", "other"]
Explicit = Literal["rejection", "skip"]


@dataclass(frozen=True)
class Signal:
    """One observation that contributed to a verdict.

    ``where`` is one of subject, body, header, sender, recipient, placeholder, subject-tag, or
    message (the message could not be read). ``pattern`` is the phrase as configured (or the
    marker / gate); ``matched`` the normalised text it matched, which is what a person reads.
    Gates and explicit markers carry weight 0: they decide by themselves. A phrase that matched
    only where it does not count carries weight 0 and a ``note`` (negated, conditional, reply
    subject), so an admin sees why it was ignored; the job-context term found has note
    "job context".
    """

    where: str
    pattern: str
    weight: int
    matched: str = ""
    note: str = ""

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f'{self.where}: "{self.matched or self.pattern}"{note} {self.weight:+d}'

    def to_dict(self) -> dict[str, object]:
        return {
            "where": self.where,
            "pattern": self.pattern,
            "weight": self.weight,
            "matched": self.matched,
            "note": self.note,
        }


@dataclass(frozen=True)
class Verdict:
    """The classifier's answer for one message.

    ``score`` is the sum of the phrase weights; it is 0 when a marker or a gate decided before the
    content was weighed (``explicit`` is set for markers; a gate shows as its reason).
    """

    label: Label
    score: int
    reasons: tuple[Signal, ...]
    explicit: Explicit | None
    locale: Locale

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "score": self.score,
            "explicit": self.explicit,
            "locale": self.locale,
            "reasons": [str(s) for s in self.reasons],
            "signals": [s.to_dict() for s in self.reasons],
        }
