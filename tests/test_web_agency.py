"""The web side of the hand-off: withdrawal links, the agency's pull API, and the admin's records.

Built like test_web (real LinkSigner, real Ledger on SQLite, FastAPI's TestClient): a candidate
registers on the hosted form and confirms; the agency pulls and acknowledges; the candidate withdraws
with the link from the mail; the admin exports the person's provision records.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_web import BASE, Relay, bearer, build, human, open_form, registration

from relay_smtp.store.models import candidate_profiles
from relay_smtp.store.outbox import Outbox, OutboxPolicy

PULL_TOKEN = "pull-token-0123456789"


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    r = build(tmp_path, agency_pull_token=PULL_TOKEN)
    yield r
    r.client.close()
    r.ledger.close()


def agency_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {PULL_TOKEN}"}


def register_and_confirm(relay: Relay, email: str, recipient: str | None = None) -> str:
    """A candidate registers and confirms; returns the withdrawal URL from the confirmation mail."""
    token = relay.token("acme", recipient or email)
    relay.later()
    sent_before = len(relay.outbox.sent)
    response = relay.client.post(
        f"/r/{token}/register", data=open_form(relay, token) | registration(email=email)
    )
    assert response.status_code == 303
    body = relay.outbox.sent[sent_before][2]
    confirm = re.search(re.escape(BASE) + r"(/confirm/[A-Za-z0-9_-]+\?lang=ja)", body)
    withdraw = re.search(re.escape(BASE) + r"(/w/\S+)", body)
    assert confirm and withdraw, body
    assert relay.client.post(confirm.group(1)).status_code == 200
    return withdraw.group(1)


def pull(relay: Relay, after: str = "0", limit: int = 100) -> dict:  # type: ignore[type-arg]
    response = relay.client.get(
        f"/api/v1/agency/registrations?after={after}&limit={limit}", headers=agency_headers()
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_pull_api_pages_with_a_cursor_and_counts_on_acknowledgement(relay: Relay) -> None:
    for i in range(3):
        register_and_confirm(relay, f"cand{i}@example.jp")
    first = pull(relay, limit=2)
    assert [i["candidate"]["email"] for i in first["items"]] == ["cand0@example.jp", "cand1@example.jp"]
    assert (
        first["items"][0]["event"] == "registered" and first["items"][0]["company"]["name"] == "株式会社ACME"
    )
    rest = pull(relay, after=first["next_cursor"], limit=2)
    assert [i["candidate"]["email"] for i in rest["items"]] == ["cand2@example.jp"] and rest[
        "next_cursor"
    ] is None
    assert relay.ledger.funnel("acme").counted == 0

    cursors = [i["cursor"] for i in first["items"]]
    ack = relay.client.post(
        "/api/v1/agency/registrations/ack", json={"cursors": [*cursors, "999"]}, headers=agency_headers()
    )
    assert ack.json()["results"] == {cursors[0]: "acknowledged", cursors[1]: "acknowledged", "999": "unknown"}
    again = relay.client.post(
        "/api/v1/agency/registrations/ack", json={"cursors": cursors}, headers=agency_headers()
    )
    assert set(again.json()["results"].values()) == {"already handed over"}
    assert relay.ledger.funnel("acme").counted == 2
    assert [i["candidate"]["email"] for i in pull(relay)["items"]] == ["cand2@example.jp"]  # never twice


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {PULL_TOKEN}"}]
)
def test_pull_api_needs_the_agency_token(relay: Relay, headers: dict[str, str]) -> None:
    assert relay.client.get("/api/v1/agency/registrations", headers=headers).status_code == 401
    ack = relay.client.post("/api/v1/agency/registrations/ack", json={"cursors": ["1"]}, headers=headers)
    assert ack.status_code == 401


def test_pull_api_is_closed_without_a_token(tmp_path: Path) -> None:
    r = build(tmp_path)
    try:
        assert r.client.get("/api/v1/agency/registrations", headers=agency_headers()).status_code == 503
    finally:
        r.client.close()
        r.ledger.close()


def test_withdrawal_link_asks_first_then_deletes_and_notifies(relay: Relay) -> None:
    withdraw = register_and_confirm(relay, "hanako@example.jp")
    (item,) = pull(relay)["items"]
    relay.client.post(
        "/api/v1/agency/registrations/ack", json={"cursors": [item["cursor"]]}, headers=agency_headers()
    )

    page = human(relay, withdraw)  # a mail scanner fetching the link withdraws nothing
    assert page.status_code == 200 and "利用・提供を停止する" in page.text
    with relay.ledger.engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(candidate_profiles)) == 1

    done = relay.client.post(withdraw)
    assert done.status_code == 200 and "利用・提供を停止しました" in done.text
    with relay.ledger.engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(candidate_profiles)) == 0
    (notice,) = pull(relay)["items"]
    assert notice["event"] == "withdrawn" and notice["registration_id"] == item["registration_id"]
    assert "candidate" not in notice
    assert relay.ledger.funnel("acme").counted == 1  # counts stay
    assert "すでに停止" in relay.client.post(withdraw).text

    records = relay.client.post("/admin/records", data={"email": "HANAKO@example.jp"}, headers=bearer())
    assert records.status_code == 200 and records.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(records.text.lstrip("\ufeff"))))
    assert [(r["kind"], r["channel"], r["name"]) for r in rows] == [
        ("provided", "pull", "山田 花子"),
        ("withdrawn", "", "山田 花子"),
    ]
    assert rows[0]["recipient"] == "テスト人材株式会社" and rows[0]["consent_version"] == "2026-01"
    assert rows[0]["items"] == "name email phone job_type locale"


def test_forged_withdrawal_links_are_refused(relay: Relay) -> None:
    withdraw = register_and_confirm(relay, "hanako@example.jp")
    forged = withdraw.replace("/w/hosted-", "/w/hosted-x")
    assert relay.client.post(forged).status_code == 404
    assert relay.client.get("/w/garbage").status_code == 404
    link_token = relay.token("acme")  # a referral token is not a withdrawal token
    assert relay.client.post(f"/w/{link_token}").status_code == 404
    with relay.ledger.engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(candidate_profiles)) == 1


def test_sent_page_carries_the_withdrawal_link(relay: Relay) -> None:
    token = relay.token("globex")
    relay.later()
    response = relay.client.post(f"/r/{token}/register", data=open_form(relay, token) | registration())
    page = relay.client.get(response.headers["location"])
    assert re.search(r'href="/w/[^"]+\?lang=en"', page.text), page.text
    tampered = response.headers["location"].split("&w=")[0] + "&w=forged"
    assert "/w/" not in relay.client.get(tampered).text


def test_admin_shows_handoffs_and_exports_them(relay: Relay) -> None:
    register_and_confirm(relay, "hanako@example.jp")
    page = relay.client.get("/admin?lang=en", headers=bearer())
    assert page.status_code == 200 and "Hand-offs to テスト人材株式会社" in page.text
    exported = relay.client.get("/admin/handoffs.csv", headers=bearer())
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert [(r["event"], r["status"]) for r in rows] == [("registered", "pending")]
    assert "hanako" not in exported.text  # no personal data in the hand-off list
    assert relay.client.get("/admin/handoffs.csv").status_code == 401
    cross = relay.client.post(
        "/admin/records", data={"email": "a@b.jp"}, headers={**bearer(), "Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403


def test_registration_form_states_purpose_recipient_and_no_reward(relay: Relay) -> None:
    token = relay.token("acme")
    relay.later()
    text = human(relay, f"/r/{token}").text
    for phrase in ("利用目的", "職業紹介", "テスト人材株式会社", "13-ユ-000000", "謝礼", "3年間", "利用停止"):
        assert phrase in text, phrase
    english = human(relay, f"/r/{token}/register?lang=en").text
    for phrase in ("Purpose of use", "Recipient", "no reward", "3 years"):
        assert phrase in english, phrase


def test_withdrawal_logs_hold_no_token_or_personal_data(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    withdraw = register_and_confirm(relay, "hanako@example.jp")
    token = withdraw.split("/w/")[1].split("?")[0]
    with caplog.at_level(logging.DEBUG):
        relay.client.get(withdraw)
        relay.client.post(withdraw)
        pull(relay)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("relay_smtp"))
    assert "withdrawal company=acme" in logged
    for secret in (token, token.split(".")[-1], "hanako", "山田", PULL_TOKEN):
        assert secret not in logged


def test_admin_says_the_handoffs_in_the_readers_language(relay: Relay) -> None:
    register_and_confirm(relay, "hanako@example.jp")
    outbox = Outbox(relay.ledger, OutboxPolicy(max_age=timedelta(0)))
    (handoff,) = outbox.claim("test")
    assert outbox.failed(handoff.outbox_id, "test", "HTTP 503 from the agency")  # flagged at once
    ja = relay.client.get("/admin", headers=bearer()).text
    section = ja[ja.index('id="agency"') :]
    for text in (
        "テスト人材株式会社への登録情報の連携",
        '<span class="label">要対応</span>',
        "<code>relay-smtp agency retry</code> で再送できます",
        '<th scope="col">発生日時 (JST)</th>',
        "<td>登録</td>",
        "HTTP 503 from the agency",  # the error as the agency's server said it
        "連携履歴CSV",
        "第三者提供記録の開示",
    ):
        assert text in section, text
    for english in ("Hand-offs", "handed over", "flagged", "retry with", "Attempts", "Export CSV", "E-mail"):
        assert english not in section, english
    en = relay.client.get("/admin?lang=en", headers=bearer()).text
    assert "retry with <code>relay-smtp agency retry</code>" in en and "<td>registered</td>" in en
    assert '<th scope="col">Since (UTC)</th>' in en
