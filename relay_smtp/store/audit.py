"""Audited verdicts: what HR reads before switching a company from ``audit`` to ``enforce``.

Why this module exists: in audit mode the relay only logs that a mail would have got the block; the
``rejections`` table keeps the company, queue id and time, which says nothing a person can check.
``relay-smtp audit --company ID --since 7d`` needs, per audited mail, enough to confirm the verdict:
the subject, the score and the reasons (the phrases that fired). That is all that is kept:

* no addresses: every e-mail address is cut out of the subject and the reasons before storing;
* the subject is cut to ``SUBJECT_MAX`` characters; it may name the candidate (「山田様 選考結果」),
  which is why rows are deleted after ``RETENTION`` (the review window before switching to enforce),
  by :meth:`AuditStore.purge` with the other periodic purges.

The table is created by migration 4 (``store/db.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32

from sqlalchemy import Connection, Engine, Index, Table, delete, insert, select
from sqlmodel import Field, SQLModel

from relay_smtp.store.db import read_transaction, write_transaction
from relay_smtp.store.models import UTCDateTime

SUBJECT_MAX = 200
REASONS_MAX = 2000
RETENTION = timedelta(days=90)
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)


class AuditedVerdictRow(SQLModel, table=True):
    __tablename__ = "audited_verdicts"
    __table_args__ = (Index("ix_audited_verdicts_company_at", "company", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    company: str
    at: datetime = Field(sa_type=UTCDateTime())
    subject: str = Field(default="", max_length=SUBJECT_MAX)
    score: int = 0
    reasons: str = ""  # JSON list of strings


audited_verdicts: Table = SQLModel.metadata.tables["audited_verdicts"]
TABLES = (audited_verdicts,)


@dataclass(frozen=True)
class AuditedVerdict:
    company: str
    at: datetime
    subject: str
    score: int
    reasons: tuple[str, ...]


def without_addresses(text: str) -> str:
    return _ADDRESS.sub("[address]", text)


def audit_subject(raw: bytes) -> str:
    """The decoded Subject of a message, without addresses, cut to SUBJECT_MAX (never raises)."""
    try:
        head = BytesHeaderParser(policy=compat32).parsebytes(raw[:65536])
        value = head.get("Subject", "") or ""
        try:
            value = str(make_header(decode_header(str(value))))
        except (ValueError, LookupError, UnicodeDecodeError):
            value = str(value)
    except Exception:  # a header we cannot read: no subject rather than no record
        return ""
    flat = " ".join(without_addresses(value).split())
    return flat[:SUBJECT_MAX]


class AuditStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def record(self, rows: Sequence[AuditedVerdict]) -> None:
        if not rows:
            return
        with write_transaction(self.engine) as connection:
            insert_audited(connection, rows)

    def since(self, company: str, since: datetime) -> list[AuditedVerdict]:
        query = (
            select(audited_verdicts)
            .where(audited_verdicts.c.company == company, audited_verdicts.c.at >= since)
            .order_by(audited_verdicts.c.at, audited_verdicts.c.id)
        )
        with read_transaction(self.engine) as connection:
            rows = connection.execute(query).mappings().all()
        return [
            AuditedVerdict(r["company"], r["at"], r["subject"], r["score"], tuple(_reasons(r["reasons"])))
            for r in rows
        ]

    def purge(self, retention: timedelta = RETENTION) -> int:
        cutoff = self.clock() - retention
        with write_transaction(self.engine) as connection:
            result = connection.execute(delete(audited_verdicts).where(audited_verdicts.c.at < cutoff))
        return int(result.rowcount or 0)


def insert_audited(connection: Connection, rows: Sequence[AuditedVerdict]) -> None:
    """Store audited verdicts (addresses cut out) in the caller's write transaction."""
    if not rows:
        return
    values = [
        {
            "company": r.company,
            "at": r.at,
            "subject": without_addresses(r.subject)[:SUBJECT_MAX],
            "score": r.score,
            "reasons": json.dumps([without_addresses(x) for x in r.reasons], ensure_ascii=False)[
                :REASONS_MAX
            ],
        }
        for r in rows
    ]
    connection.execute(insert(audited_verdicts), values)


def _reasons(text: str) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:  # cut at REASONS_MAX: show what is there
        return [text]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
