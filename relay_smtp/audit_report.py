"""`relay-smtp audit --company ID --since 7d`: the audited verdicts, for a person to confirm.

Why this module exists: before a company is switched from ``audit`` to ``enforce``, HR should read
what the relay would have done. This turns the rows of ``store/audit.py`` into a short text (or JSON)
listing: when, score, subject, and the reasons as the classifier gave them. Kept out of ``cli.py`` so
that the command there is two lines.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import datetime, timedelta

from relay_smtp.store.audit import AuditedVerdict

_SINCE = re.compile(r"(\d{1,5})\s*([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_since(value: str, now: datetime) -> datetime:
    """ "7d", "24h", "90m", or an ISO date/time (UTC when no zone is given)."""
    text = value.strip().lower()
    match = _SINCE.fullmatch(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"--since: {value!r} is not like 7d, 24h, 90m or 2026-03-01") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)


def render_text(company: str, since: datetime, rows: list[AuditedVerdict]) -> str:
    lines = [f"{company}: {len(rows)} audited verdicts since {since:%Y-%m-%d %H:%M} UTC"]
    for row in rows:
        subject = row.subject or "(no subject)"
        lines.append(f"\n{row.at:%Y-%m-%d %H:%M}  rejection (score {row.score})  {subject}")
        lines.extend(f"    {reason}" for reason in row.reasons)
    if not rows:
        lines.append("(none: either no rejection was seen, or the company is not in audit mode)")
    return "\n".join(lines)


def render_json(rows: list[AuditedVerdict]) -> str:
    out = [{**asdict(row), "at": row.at.isoformat(), "verdict": "rejection"} for row in rows]
    return json.dumps(out, ensure_ascii=False, indent=2)
