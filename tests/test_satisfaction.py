"""The landing page's satisfaction question: a person's POST is counted, anonymously; machines never are.

Scanners fetch (GET/HEAD) every URL they find and some post forms with their own User-Agent: neither is
stored.  What is stored is a count per (company, month, score) and, apart from it, a hash of the link
that answered; no table holds an address, a User-Agent or a time finer than the month.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from test_web import HUMAN_UA, Relay, bearer, build, open_form

from relay_smtp.store.kpi_tables import satisfaction_counts, satisfaction_voters

SCANNER_UA = "Mozilla/5.0 (compatible; Proofpoint URL Defense)"


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    r = build(tmp_path)
    yield r
    r.client.close()
    r.ledger.close()


def counts(relay: Relay) -> list[tuple[str, str, int, int]]:
    with relay.ledger.engine.connect() as c:
        rows = c.execute(select(satisfaction_counts).order_by(satisfaction_counts.c.score))
        return [(r.company, r.month, r.score, r.answers) for r in rows]


def answer(relay: Relay, token: str, fields: dict[str, str], score: str, ua: str = HUMAN_UA) -> int:
    response = relay.client.post(
        f"/r/{token}/satisfaction", data={**fields, "satisfaction": score}, headers={"User-Agent": ua}
    )
    return response.status_code


def test_the_landing_page_asks_and_a_person_answers_once(relay: Relay) -> None:
    token = relay.token("acme", "taro@example.jp")
    relay.later()
    page = relay.client.get(f"/r/{token}", headers={"User-Agent": HUMAN_UA}).text
    assert f'action="/r/{token}/satisfaction?lang=ja"' in page and 'name="satisfaction" value="5"' in page
    fields = open_form(relay, token)
    assert answer(relay, token, fields, "4") == 200
    assert counts(relay) == [("acme", "2026-03", 4, 1)]
    assert answer(relay, token, fields, "1") == 200  # the same link again: thanked, not counted
    assert counts(relay) == [("acme", "2026-03", 4, 1)]
    other = relay.token("acme", "jiro@example.jp", "q0000002")
    assert answer(relay, other, open_form(relay, other), "2") == 200  # seconds after the mail: a scanner
    assert counts(relay) == [("acme", "2026-03", 4, 1)]
    relay.later()
    assert answer(relay, other, open_form(relay, other), "2") == 200
    assert counts(relay) == [("acme", "2026-03", 2, 1), ("acme", "2026-03", 4, 1)]
    with relay.ledger.engine.connect() as c:
        voters = c.execute(select(satisfaction_voters)).all()
        columns = c.execute(text("SELECT * FROM satisfaction_voters")).keys()
    assert list(columns) == ["voter_hash"] and len(voters) == 2
    assert all("@" not in v.voter_hash and len(v.voter_hash) == 64 for v in voters)
    dashboard = relay.client.get("/admin/companies/acme?lang=en", headers=bearer()).text
    assert '<td class="n strong">3.00</td>' in dashboard  # (4 + 2) / 2


def test_machines_never_answer(relay: Relay) -> None:
    token = relay.token("acme")
    relay.later()
    fields = open_form(relay, token)
    assert relay.client.get(f"/r/{token}/satisfaction?satisfaction=5").status_code == 405
    assert relay.client.head(f"/r/{token}/satisfaction").status_code == 405
    assert answer(relay, token, fields, "5", ua=SCANNER_UA) == 200  # thanked, so it learns nothing
    assert answer(relay, token, fields, "5", ua="") == 200
    assert counts(relay) == []
    assert answer(relay, token, {}, "5") == 403  # no CSRF token: not from our page
    assert answer(relay, token, fields, "9") == 422
    assert relay.client.post("/r/forged/satisfaction", data={"satisfaction": "5"}).status_code == 404
    assert counts(relay) == []
    # The person's own answer still counts afterwards.
    assert answer(relay, token, fields, "5") == 200
    assert counts(relay) == [("acme", "2026-03", 5, 1)]
