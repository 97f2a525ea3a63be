"""Candidate satisfaction (候補者満足度): one anonymous 1–5 answer per link, kept only as counts.

Why this module exists: the company wants to know how candidates felt about how their application was
handled, and the candidate must be able to answer without being identifiable.  So no answer is stored
as a row: the answer adds one to the count of (company, month, score), and the link that answered is
remembered only as a keyed hash in a table of its own (no company, no date, no score) so that one link
cannot answer twice.  Months are UTC months.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from relay_smtp.store.db import read_transaction, write_transaction
from relay_smtp.store.kpi_tables import satisfaction_counts, satisfaction_voters
from relay_smtp.store.writes import insert_ignoring_duplicates

SCORES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class MonthSatisfaction:
    month: str
    distribution: tuple[int, ...]  # answers per score 1..5

    @property
    def answers(self) -> int:
        return sum(self.distribution)

    @property
    def average(self) -> float | None:
        total = self.answers
        return sum(s * n for s, n in zip(SCORES, self.distribution, strict=True)) / total if total else None


def voter_hash(recipient_hash: str, message_id: str) -> str:
    """Who answered, as a hash of the link's own (already keyed) recipient hash and message id."""
    return hashlib.sha256(f"satisfaction\0{recipient_hash}\0{message_id}".encode()).hexdigest()


def record_answer(engine: Engine, company: str, voter: str, score: int, at: datetime) -> bool:
    """Count one answer; False (and nothing changed) when this voter answered before."""
    if score not in SCORES:
        raise ValueError(f"score must be 1 to 5, not {score}")
    month = at.astimezone(UTC).strftime("%Y-%m")
    try:
        with write_transaction(engine) as connection:
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT DO NOTHING.
            stmt = insert_ignoring_duplicates(connection, satisfaction_voters).values(voter_hash=voter)
            inserted = connection.execute(stmt.returning(satisfaction_voters.c.voter_hash)).scalar()
            if inserted is None:
                return False
            key = {"company": company, "month": month, "score": score}
            connection.execute(
                insert_ignoring_duplicates(connection, satisfaction_counts).values(**key, answers=0)
            )
            c = satisfaction_counts.c
            connection.execute(
                update(satisfaction_counts)
                .where(c.company == company, c.month == month, c.score == score)
                .values(answers=c.answers + 1)
            )
    except IntegrityError:  # a concurrent answer of the same voter won
        return False
    return True


def monthly(engine: Engine, company: str, months: Sequence[str]) -> list[MonthSatisfaction]:
    """The distribution of answers per month label ("2026-11"), zeros included."""
    c = satisfaction_counts.c
    stmt = select(c.month, c.score, c.answers).where(c.company == company, c.month.in_(list(months)))
    found: dict[tuple[str, int], int] = {}
    with read_transaction(engine) as connection:
        for month, score, answers in connection.execute(stmt):
            found[(str(month), int(score))] = int(answers)
    return [MonthSatisfaction(m, tuple(found.get((m, s), 0) for s in SCORES)) for m in months]
