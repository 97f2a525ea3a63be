"""The web app end to end: a real LinkSigner, a real Ledger on SQLite, FastAPI's TestClient.

What a candidate, the partner agency and the admin can do, and what nobody else can: forged, cut-off
and expired links get friendly pages in the right language; clicks are recorded and scanners flagged;
the hosted form needs consent and a valid CSRF token and counts only after the mailed confirmation;
ten distinct candidates through the signed webhook earn one credit, exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from relay_smtp.links import LinkSigner
from relay_smtp.store.ledger import Ledger
from relay_smtp.store.outbox import Outbox as AgencyOutbox
from relay_smtp.web.app import CompanyPage, WebConfig, create_app
from relay_smtp.web.auth import (
    AdminCredentials,
    WebhookRejected,
    admin_allowed,
    check_webhook,
    webhook_signature,
)
from relay_smtp.web.bots import BotDetector
from relay_smtp.web.pages import default_templates_dir, page_locales, preferred_locale
from relay_smtp.web.ratelimit import RateLimiter
from relay_smtp.web.settings import DEFAULT_BOT_USER_AGENTS

BASE = "https://relay.example.jp"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HUMAN_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
)
WEBHOOK_SECRET = "whsec-test"
ADMIN_TOKEN = "admin-token-0123456789"
EVIL_NAME = '<script>alert("x")</script>&Co'


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Outbox:
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    accept: bool = True

    async def __call__(self, to: str, subject: str, body: str) -> bool:
        self.sent.append((to, subject, body))
        return self.accept


@dataclass
class Relay:
    client: TestClient
    ledger: Ledger
    links: LinkSigner
    clock: Clock
    outbox: Outbox

    def token(
        self, company: str = "acme", recipient: str = "cand@example.jp", message_id: str = "q0000001"
    ) -> str:
        return self.links.issue(company, recipient, message_id)

    def later(self, seconds: float = 600) -> None:
        self.clock.advance(seconds)


def make_config(**overrides: Any) -> WebConfig:
    base = WebConfig(
        public_url=BASE,
        companies={
            "acme": CompanyPage("株式会社ACME", "ja"),
            "globex": CompanyPage("Globex Ltd", "en"),
            "initech": CompanyPage("Initech", "auto"),
            "evil": CompanyPage(EVIL_NAME, "ja"),
        },
        partner_name="テスト人材株式会社",
        partner_license="13-ユ-000000",
        webhook_secret=WEBHOOK_SECRET,
        admin_token=ADMIN_TOKEN,
        admin_users={"admin": "correct horse"},
        privacy_contact="privacy@career-relay.example",
    )
    return replace(base, **overrides)


def build(tmp_path: Path, **overrides: Any) -> Relay:
    clock = Clock(START)
    links = LinkSigner(["link-secret-for-tests"], max_age_days=180, clock=lambda: clock.now.timestamp())
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", upgrade=True, clock=clock)
    outbox = Outbox()
    app = create_app(make_config(**overrides), ledger, links, send_mail=outbox, clock=clock)
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    return Relay(client, ledger, links, clock, outbox)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    r = build(tmp_path)
    yield r
    r.client.close()
    r.ledger.close()


def human(relay: Relay, url: str, **headers: str) -> Any:
    return relay.client.get(url, headers={"User-Agent": HUMAN_UA, **headers})


def form_values(html: str) -> dict[str, str]:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the form has a CSRF field"
    return {"csrf": match.group(1)}


def registration(**fields: str) -> dict[str, str]:
    base = {"name": "山田 花子", "email": "hanako@example.jp", "phone": "090-1234-5678", "job_type": "sales"}
    return {**base, "consent": "yes", **fields}


def signed_post(relay: Relay, payload: Any, *, secret: str = WEBHOOK_SECRET, at: float | None = None) -> Any:
    body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    stamp = str(int(relay.clock.now.timestamp() if at is None else at))
    headers = {
        "Content-Type": "application/json",
        "X-CareerRelay-Timestamp": stamp,
        "X-CareerRelay-Signature": webhook_signature(secret, stamp, body),
    }
    return relay.client.post("/api/v1/registrations", content=body, headers=headers)


def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


# --------------------------------------------------------------------------- links


def test_healthz(relay: Relay) -> None:
    response = relay.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_garbage_token_gets_a_bilingual_404(relay: Relay) -> None:
    response = human(relay, "/r/not-a-token")
    assert response.status_code == 404
    assert "リンクを確認できませんでした" in response.text
    assert "We could not read this link" in response.text
    assert relay.ledger.funnels() == []


def test_truncated_token_speaks_the_company_language(relay: Relay) -> None:
    relay.later()
    ja = human(relay, "/r/" + relay.token("acme")[:-6])
    en = human(relay, "/r/" + relay.token("globex")[:-6])
    assert ja.status_code == en.status_code == 404
    assert "リンクを確認できませんでした" in ja.text and "We could not read" not in ja.text
    assert "We could not read this link" in en.text and "リンク" not in en.text


def test_forged_token_is_refused(relay: Relay) -> None:
    token = relay.token("acme")
    payload, _, signature = token.partition(".")
    forged = relay.links.issue("globex", "x@example.jp", "q0000001").partition(".")[0] + "." + signature
    altered = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    for bad in (forged, altered):
        response = human(relay, f"/r/{bad}")
        assert response.status_code == 404
    assert relay.ledger.funnels() == []


def test_expired_token_gets_410_in_company_language(relay: Relay) -> None:
    token = relay.token("acme")
    relay.later(181 * 86_400)
    response = human(relay, f"/r/{token}")
    assert response.status_code == 410
    assert "有効期限" in response.text and "180日" in response.text
    assert "株式会社ACME" in response.text
    assert relay.ledger.funnel("acme").clicks == 0


def test_valid_click_is_recorded_and_shows_the_landing_page(relay: Relay) -> None:
    token = relay.token("acme")
    relay.later()
    response = human(relay, f"/r/{token}")
    assert response.status_code == 200
    assert "株式会社ACME" in response.text and "テスト人材株式会社" in response.text
    assert 'name="consent"' in response.text and "13-ユ-000000" in response.text
    funnel = relay.ledger.funnel("acme")
    assert (funnel.clicks, funnel.suspected_bot_clicks) == (1, 0)


def test_language_follows_the_company_then_the_browser(relay: Relay) -> None:
    relay.later()
    assert "Let us help you" in human(relay, f"/r/{relay.token('globex')}").text
    auto = relay.token("initech")
    assert (
        "Let us help you" in human(relay, f"/r/{auto}", **{"Accept-Language": "en-US,en;q=0.9,ja;q=0.5"}).text
    )
    assert "次のご縁を" in human(relay, f"/r/{auto}", **{"Accept-Language": "ja,en;q=0.8"}).text
    assert "Let us help you" in human(relay, f"/r/{relay.token('acme')}/register?lang=en").text


def test_landing_page_is_one_template_worded_per_language(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(default_templates_dir(), templates)
    wording = templates / "landing_text.toml"
    text = wording.read_text(encoding="utf-8")
    text = text.replace("次のご縁を、私たちがおつなぎします", "見出しは文言ファイルから")
    text = text.replace("Please enter your name.", "Your name, please (from the wording file).")
    wording.write_text(text.replace("Let us help you find", "Headline from the wording file:"), "utf-8")
    relay = build(tmp_path, templates_dir=templates)
    try:
        relay.later()
        ja = human(relay, f"/r/{relay.token('acme')}").text
        assert '<html lang="ja">' in ja and "<h1>見出しは文言ファイルから</h1>" in ja
        assert 'lang="en" hreflang="en">English</a>' in ja and "_talent_pool" not in ja
        token = relay.token("globex")
        en = human(relay, f"/r/{token}").text
        assert '<html lang="en">' in en and "<h1>Headline from the wording file: your next" in en
        assert 'lang="ja" hreflang="ja">日本語</a>' in en
        assert 'I have read "How we handle your personal data" above' in en  # the text as written
        refused = relay.client.post(f"/r/{token}/register", data=form_values(en) | registration(name=""))
        assert "Your name, please (from the wording file)." in refused.text
    finally:
        relay.client.close()
        relay.ledger.close()


@pytest.mark.parametrize(
    ("method", "user_agent", "wait", "reason"),
    [
        ("HEAD", HUMAN_UA, 600, "head-request"),
        ("GET", "Mozilla/5.0 (compatible; Proofpoint URL Defense)", 600, "user-agent:proofpoint"),
        ("GET", "curl/8.5.0", 600, "user-agent:curl/"),
        ("GET", "python-requests/2.32.3", 600, "user-agent:python-requests"),
        ("GET", "Mozilla/5.0 (compatible; bingbot/2.0)", 600, "user-agent:bot\\b"),
        ("GET", HUMAN_UA, 5, "within-60s-of-issue"),
        ("GET", "", 600, "no-user-agent"),
    ],
)
def test_scanners_are_flagged(relay: Relay, method: str, user_agent: str, wait: int, reason: str) -> None:
    token = relay.token("acme")
    relay.later(wait)
    response = relay.client.request(method, f"/r/{token}", headers={"User-Agent": user_agent})
    assert response.status_code == 200
    funnel = relay.ledger.funnel("acme")
    assert (funnel.clicks, funnel.suspected_bot_clicks) == (1, 1)
    assert BotDetector(DEFAULT_BOT_USER_AGENTS, 60).judge(method, user_agent, 0, wait).reason == reason


def test_redirect_mode_sends_the_token_to_the_partner_form(tmp_path: Path) -> None:
    relay = build(tmp_path, landing="redirect", partner_form_url="https://agency.example/entry?src=cr")
    token = relay.token("acme")
    relay.later()
    response = human(relay, f"/r/{token}")
    assert response.status_code == 303
    assert response.headers["location"] == f"https://agency.example/entry?src=cr&cr_ref={token}"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert relay.ledger.funnel("acme").clicks == 1
    assert human(relay, f"/r/{token}/register").status_code == 404


# --------------------------------------------------------------------------- hosted registration


def open_form(relay: Relay, token: str) -> dict[str, str]:
    page = human(relay, f"/r/{token}")
    assert page.status_code == 200
    return form_values(page.text)


def test_registration_needs_consent(relay: Relay) -> None:
    token = relay.token("acme")
    relay.later()
    fields = open_form(relay, token) | registration(consent="")
    response = relay.client.post(f"/r/{token}/register", data=fields)
    assert response.status_code == 422
    assert "個人情報の提供へのご同意が必要です" in response.text
    assert 'value="山田 花子"' in response.text  # what was typed is kept
    assert relay.outbox.sent == []
    assert relay.ledger.funnel("acme").registrations == 0


def test_invalid_fields_get_friendly_errors(relay: Relay) -> None:
    token = relay.token("globex")
    relay.later()
    fields = open_form(relay, token) | registration(email="not-an-address", phone="12", job_type="astronaut")
    response = relay.client.post(f"/r/{token}/register", data=fields)
    assert response.status_code == 422
    for message in ("check your e-mail address", "10 to 15 digits", "Please choose the kind of work"):
        assert message in response.text
    assert relay.outbox.sent == []


def test_full_width_input_is_normalised(relay: Relay) -> None:
    token = relay.token("acme")
    relay.later()
    fields = open_form(relay, token) | registration(
        email="ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ", phone="０９０－１２３４－５６７８"
    )
    response = relay.client.post(f"/r/{token}/register", data=fields)
    assert response.status_code == 303
    assert relay.outbox.sent[0][0] == "hanako@example.jp"


def test_registration_counts_only_after_confirmation(relay: Relay) -> None:
    token = relay.token("acme")
    relay.later()
    fields = open_form(relay, token) | registration()
    response = relay.client.post(f"/r/{token}/register", data=fields)
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/r/{token}/sent?lang=ja&w=")
    assert "確認メールをお送りしました" in relay.client.get(response.headers["location"]).text

    ((to, subject, body),) = relay.outbox.sent
    assert to == "hanako@example.jp" and "ご登録の確認" in subject and "山田 花子 様" in body
    match = re.search(re.escape(BASE) + r"/confirm/([A-Za-z0-9_-]+)\?lang=ja", body)
    assert match, body
    funnel = relay.ledger.funnel("acme")
    assert (funnel.registrations, funnel.counted) == (1, 0)

    confirm_url = f"/confirm/{match.group(1)}?lang=ja"
    page = human(relay, confirm_url)  # a mail scanner fetching the link confirms nothing
    assert page.status_code == 200 and "登録を完了する" in page.text
    assert relay.ledger.funnel("acme").counted == 0

    done = relay.client.post(confirm_url)
    assert done.status_code == 200 and "ご登録が完了しました" in done.text
    assert relay.ledger.funnel("acme").counted == 0  # counts when the agency has the candidate
    outbox = AgencyOutbox(relay.ledger)
    (owed,) = outbox.undelivered(after=0, limit=10)
    assert owed.person is not None and owed.person.email == "hanako@example.jp" and owed.locale == "ja"
    outbox.acknowledge([owed.outbox_id])
    assert relay.ledger.funnel("acme").counted == 1
    again = relay.client.post(confirm_url)
    assert again.status_code == 200
    assert relay.ledger.funnel("acme").counted == 1


def test_unknown_or_expired_confirmation(relay: Relay) -> None:
    response = relay.client.post("/confirm/no-such-code?lang=en")
    assert response.status_code == 404 and "not valid" in response.text

    token = relay.token("acme")
    relay.later()
    relay.client.post(f"/r/{token}/register", data=open_form(relay, token) | registration())
    url = re.search(r"/confirm/\S+", relay.outbox.sent[0][2])
    assert url
    relay.later(49 * 3600)
    expired = relay.client.post(url.group(0))
    assert expired.status_code == 404 and "有効期限" in expired.text
    assert relay.ledger.funnel("acme").counted == 0


def test_csrf_failures_are_403(relay: Relay) -> None:
    token = relay.token("acme")
    other = relay.token("acme", "someone@example.jp")
    relay.later()
    fields = open_form(relay, token) | registration()
    cookies = dict(relay.client.cookies)
    tampered = fields | {"csrf": fields["csrf"][:-2] + "xx"}
    assert relay.client.post(f"/r/{token}/register", data=tampered).status_code == 403
    assert relay.client.post(f"/r/{other}/register", data=fields).status_code == 403  # bound to its link
    relay.client.cookies.clear()
    assert relay.client.post(f"/r/{token}/register", data=fields).status_code == 403  # no cookie
    relay.client.cookies.update(cookies)
    relay.later(13 * 3600)
    expired = relay.client.post(f"/r/{token}/register", data=fields)
    assert expired.status_code == 403 and "フォームを開き直す" in expired.text
    assert relay.outbox.sent == []


def test_form_cookie_is_strict(relay: Relay) -> None:
    token = relay.token("acme")
    relay.later()
    cookie = human(relay, f"/r/{token}").headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/r/"):
        assert attribute.lower() in cookie.lower()


def test_mail_failure_is_explained(relay: Relay) -> None:
    relay.outbox.accept = False
    token = relay.token("globex")
    relay.later()
    response = relay.client.post(f"/r/{token}/register", data=open_form(relay, token) | registration())
    assert response.status_code == 503
    assert "could not send the confirmation" in response.text


# --------------------------------------------------------------------------- agency webhook


def test_ten_candidates_earn_one_credit_exactly_once(relay: Relay) -> None:
    tokens = [relay.token("acme", f"cand{i}@example.jp", f"q{i:07d}") for i in range(10)]
    relay.later()
    answers = [
        signed_post(relay, {"registration_id": f"ag-{i}", "token": t}).json() for i, t in enumerate(tokens)
    ]
    assert [a["counted"] for a in answers] == [True] * 10
    assert answers[-1] == {
        "registration_id": "ag-9",
        "counted": True,
        "reason": "counted",
        "company": "acme",
        "company_counted": 10,
        "balance": 1,
        "duplicate": False,
    }
    again = signed_post(relay, {"registration_id": "ag-10", "token": tokens[0]})  # the same candidate
    assert again.status_code == 200
    assert again.json()["counted"] is False and again.json()["balance"] == 1
    assert again.json()["company_counted"] == 10
    replay = signed_post(relay, {"registration_id": "ag-9", "token": tokens[9]})
    assert replay.json() == answers[-1] | {"duplicate": True}
    assert relay.ledger.balance("acme") == 1


@pytest.mark.parametrize(
    "tamper",
    ["wrong-secret", "old-timestamp", "future-timestamp", "no-headers", "body-changed", "garbage-signature"],
)
def test_webhook_refuses_unsigned_or_stale_requests(relay: Relay, tamper: str) -> None:
    relay.later()
    body = json.dumps({"registration_id": "ag-1", "token": relay.token("acme")}).encode()
    now = int(relay.clock.now.timestamp())
    stamp = {"old-timestamp": now - 301, "future-timestamp": now + 301}.get(tamper, now)
    secret = "not-the-secret" if tamper == "wrong-secret" else WEBHOOK_SECRET
    headers = {
        "X-CareerRelay-Timestamp": str(stamp),
        "X-CareerRelay-Signature": webhook_signature(secret, str(stamp), body),
    }
    if tamper == "no-headers":
        headers = {}
    if tamper == "garbage-signature":
        headers["X-CareerRelay-Signature"] = "sha256=zz"
    sent = body.replace(b"ag-1", b"ag-2") if tamper == "body-changed" else body
    response = relay.client.post("/api/v1/registrations", content=sent, headers=headers)
    assert response.status_code == 401
    assert "www-authenticate" in response.headers
    assert relay.ledger.funnel("acme").registrations == 0


def test_webhook_rejects_bad_tokens_and_bodies(relay: Relay) -> None:
    relay.later()
    token = relay.token("acme")
    assert signed_post(relay, {"registration_id": "ag-1", "token": token[:-3]}).status_code == 422
    assert signed_post(relay, {"registration_id": "ag-1"}).status_code == 422
    assert signed_post(relay, b"{not json").status_code == 422
    assert signed_post(relay, {"registration_id": "", "token": token}).status_code == 422
    relay.later(181 * 86_400)
    expired = signed_post(relay, {"registration_id": "ag-1", "token": token})
    assert expired.status_code == 422 and "expired" in expired.json()["detail"]


def test_webhook_without_secret_is_503(tmp_path: Path) -> None:
    relay = build(tmp_path, webhook_secret=None)
    assert signed_post(relay, {"registration_id": "ag-1", "token": relay.token()}).status_code == 503


def test_webhook_body_is_bounded(relay: Relay) -> None:
    big = json.dumps({"registration_id": "x" * 70_000, "token": "t"}).encode()
    assert signed_post(relay, big).status_code == 413


# --------------------------------------------------------------------------- credits and admin


def earn_one_credit(relay: Relay, company: str = "acme") -> None:
    relay.later()
    for i in range(10):
        token = relay.token(company, f"c{i}@example.jp", f"m{i:07d}")
        assert signed_post(relay, {"registration_id": f"{company}-{i}", "token": token}).status_code == 200


def test_redeem_spends_one_credit_then_409(relay: Relay) -> None:
    earn_one_credit(relay)
    assert relay.client.post("/api/v1/companies/acme/redeem").status_code == 401
    first = relay.client.post("/api/v1/companies/acme/redeem", headers=bearer(), json={"reason": "hire #1"})
    assert first.status_code == 200
    assert (
        first.json()["balance"] == 0 and first.json()["kind"] == "redeemed" and first.json()["amount"] == -1
    )
    second = relay.client.post("/api/v1/companies/acme/redeem", headers=bearer())
    assert second.status_code == 409
    assert relay.ledger.balance("acme") == 0


def test_redeem_refuses_cross_site_posts(relay: Relay) -> None:
    earn_one_credit(relay)
    headers = bearer() | {"Origin": "https://evil.example"}
    assert relay.client.post("/api/v1/companies/acme/redeem", headers=headers).status_code == 403
    headers = bearer() | {"Origin": BASE}
    assert relay.client.post("/api/v1/companies/acme/redeem", headers=headers).status_code == 200


def test_admin_needs_credentials(relay: Relay) -> None:
    response = relay.client.get("/admin")
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert "Basic" in challenge and "Bearer" in challenge
    assert relay.client.get(f"/admin?token={ADMIN_TOKEN}").status_code == 401
    assert relay.client.get("/admin", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert relay.client.get("/admin", auth=("admin", "wrong")).status_code == 401
    assert relay.client.get("/admin", auth=("admin", "correct horse")).status_code == 200
    assert relay.client.get("/admin", headers=bearer()).status_code == 200
    assert relay.client.get("/admin/export.csv").status_code == 401


def test_admin_failures_are_rate_limited(relay: Relay) -> None:
    for _ in range(10):
        assert relay.client.get("/admin", auth=("admin", "guess")).status_code == 401
    response = relay.client.get("/admin", auth=("admin", "correct horse"))
    assert response.status_code == 429 and "retry-after" in response.headers
    relay.later(60)
    assert relay.client.get("/admin", auth=("admin", "correct horse")).status_code == 200


def test_admin_without_configured_credentials_is_closed(tmp_path: Path) -> None:
    relay = build(tmp_path, admin_token=None, admin_users={})
    assert relay.client.get("/admin").status_code == 503
    assert relay.client.get("/admin", headers={"Authorization": "Bearer "}).status_code == 503


def test_admin_page_shows_funnel_ledger_and_chart(relay: Relay) -> None:
    token = relay.token("globex")
    relay.later()
    human(relay, f"/r/{token}")
    relay.client.head(f"/r/{token}")
    earn_one_credit(relay)
    relay.client.post("/api/v1/companies/acme/redeem", headers=bearer(), json={"reason": "hire of 2026-03"})
    overview = relay.client.get("/admin?lang=en", headers=bearer())
    assert overview.status_code == 200
    html = overview.text
    assert "株式会社ACME" in html and "Globex Ltd" in html
    assert 'href="/admin/companies/acme?lang=en&amp;from=2025-10&amp;to=2026-03"' in html
    page = relay.client.get("/admin/companies/acme?lang=en", headers=bearer())
    assert page.status_code == 200
    html = page.text
    assert html.count("<svg") == 1
    assert "2026-03-02: 0 clicks, 10 registrations, 10 counted" in html
    assert "10 registrations counted" in html and "hire of 2026-03" in html
    globex = relay.client.get("/admin/companies/globex?lang=en", headers=bearer()).text
    assert "2026-03-02: 2 clicks, 0 registrations, 0 counted" in globex
    assert "<script" not in html.replace("&lt;script", "")


def test_admin_page_words_the_relays_own_ledger_reasons_in_the_readers_language(relay: Relay) -> None:
    earn_one_credit(relay)
    relay.ledger.adjust("acme", 2, "goodwill, March")
    assert relay.client.post("/api/v1/companies/acme/redeem", headers=bearer()).status_code == 200
    ja = relay.client.get("/admin/companies/acme?lang=ja", headers=bearer()).text
    assert "<td>カウント対象の登録が10件に到達</td>" in ja and "<td>API経由で利用を記録</td>" in ja
    assert "<td>goodwill, March</td>" in ja  # a person's own words stay as written
    assert "registrations counted" not in ja and "redeemed via API" not in ja
    en = relay.client.get("/admin/companies/acme?lang=en", headers=bearer()).text
    assert "<td>10 registrations counted</td>" in en and "<td>redeemed via API</td>" in en
    exported = relay.client.get("/admin/companies/acme/ledger.csv?lang=ja", headers=bearer()).text
    assert ",10 registrations counted\r\n" in exported  # the CSV keeps the stored text


def test_csv_exports(relay: Relay) -> None:
    earn_one_credit(relay)
    ledger_csv = relay.client.get("/admin/export.csv", headers=bearer())
    assert ledger_csv.status_code == 200
    assert ledger_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in ledger_csv.headers["content-disposition"]
    text = ledger_csv.content.decode("utf-8")
    assert text.startswith("\ufeffcompany,company_name,entry_id,at,kind,amount,credit_no,reason\r\n")
    assert "acme,株式会社ACME,1,2026-03-02T09:10:00+00:00,earned,1,1,10 registrations counted" in text
    funnels = relay.client.get("/admin/funnels.csv", auth=("admin", "correct horse")).content.decode()
    assert "acme,株式会社ACME,0,0,0,0,10,10,1,0,0,1" in funnels


# --------------------------------------------------------------------------- hardening


def test_link_rate_limit(relay: Relay) -> None:
    token = relay.token("acme")
    relay.later()
    statuses = [human(relay, f"/r/{token}").status_code for _ in range(31)]
    assert statuses[:30] == [200] * 30 and statuses[30] == 429
    limited = human(relay, f"/r/{token}")
    assert int(limited.headers["retry-after"]) >= 1
    assert "アクセスが集中" in limited.text or "Too many requests" in limited.text
    assert relay.ledger.funnel("acme").clicks == 30
    relay.later(10)
    assert human(relay, f"/r/{token}").status_code == 200


def test_registration_rate_limit(relay: Relay) -> None:
    token = relay.token("acme")
    relay.later()
    fields = open_form(relay, token) | registration(consent="")
    statuses = [relay.client.post(f"/r/{token}/register", data=fields).status_code for _ in range(11)]
    assert statuses == [422] * 10 + [429]


def test_security_headers_everywhere(relay: Relay) -> None:
    token = relay.token("acme")
    relay.later()
    responses = [
        human(relay, f"/r/{token}"),
        human(relay, "/r/garbage"),
        relay.client.get("/admin", headers=bearer()),
        relay.client.get("/admin"),
        relay.client.get("/healthz"),
        relay.client.get("/nowhere"),
        relay.client.get("/static/relay.css"),
    ]
    for response in responses:
        headers = response.headers
        csp = headers["content-security-policy"]
        assert (
            "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
        )
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["strict-transport-security"].startswith("max-age=")
    assert responses[0].headers["cache-control"] == "no-store"


def test_pages_need_no_inline_script_or_style(relay: Relay) -> None:
    token = relay.token("acme")
    relay.later()
    for html in (human(relay, f"/r/{token}").text, relay.client.get("/admin", headers=bearer()).text):
        assert "<script" not in html and "<style" not in html and " style=" not in html
        assert '<link rel="stylesheet" href="/static/relay.css">' in html
    assert "font-family" in relay.client.get("/static/relay.css").text


def test_company_names_are_escaped(relay: Relay) -> None:
    token = relay.token("evil")
    relay.later()
    landing = human(relay, f"/r/{token}").text
    admin = relay.client.get("/admin", headers=bearer()).text
    for html in (landing, admin):
        assert EVIL_NAME not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;Co" in html


def test_typed_input_is_escaped_when_the_form_comes_back(relay: Relay) -> None:
    token = relay.token("acme")
    relay.later()
    fields = open_form(relay, token) | registration(name='"><img src=x onerror=alert(1)>', consent="")
    html = relay.client.post(f"/r/{token}/register", data=fields).text
    assert "<img src=x" not in html


def test_openapi_documents_the_api_only(relay: Relay) -> None:
    schema = relay.client.get("/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/v1/registrations",
        "/api/v1/companies/{company}/redeem",
        "/api/v1/agency/registrations",
        "/api/v1/agency/registrations/ack",
        "/api/v1/companies/{company}/rejections",
    }
    assert relay.client.get("/docs").status_code == 200


def test_logs_hold_no_tokens_or_personal_data(relay: Relay, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = relay.token("acme", "secret.person@example.jp")
    relay.later()
    fields = open_form(relay, token) | registration()
    relay.client.post(f"/r/{token}/register", data=fields)
    code = re.search(r"/confirm/([A-Za-z0-9_-]+)", relay.outbox.sent[0][2])
    assert code
    relay.client.post(f"/confirm/{code.group(1)}")
    signed_post(relay, {"registration_id": "ag-1", "token": relay.token("acme", "other@example.jp")})
    human(relay, f"/r/{token[:-4]}")
    ours = [r for r in caplog.records if r.name.startswith(("relay_smtp", "uvicorn", "fastapi", "starlette"))]
    text = "\n".join(record.getMessage() for record in ours)
    assert "click company=acme" in text and "GET /r/… 200" in text
    recipient_hash = relay.links.verify(token).recipient_hash
    for secret in (token, token[:-4], token.partition(".")[0], recipient_hash, code.group(1)):
        assert secret not in text
    for personal in ("hanako@example.jp", "山田", "090-1234-5678", "secret.person"):
        assert personal not in text


def test_unknown_paths_get_a_friendly_404(relay: Relay) -> None:
    response = relay.client.get("/nowhere", headers={"Accept-Language": "en"})
    assert response.status_code == 404 and "Page not found" in response.text


# --------------------------------------------------------------------------- parts


def test_preferred_locale() -> None:
    assert preferred_locale(None) == "ja"
    assert preferred_locale("en-GB,en;q=0.9") == "en"
    assert preferred_locale("fr,en;q=0.5,ja;q=0.7") == "ja"
    assert preferred_locale("de") == "ja"
    assert preferred_locale("en;q=0") == "ja"
    assert page_locales(None, "en", None) == ["en", "ja"]
    assert page_locales("ja", "en", None) == ["ja"]
    assert page_locales("ja", "en", "en") == ["en"]


def test_rate_limiter_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60.0, lambda: now[0])
    assert [limiter.acquire("a"), limiter.acquire("a")] == [0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(30.0)
    assert limiter.acquire("b") == 0.0
    now[0] = 30.0
    assert limiter.blocked("a") == 0.0
    assert limiter.acquire("a") == 0.0


def test_webhook_signature_check() -> None:
    body = b'{"registration_id":"1","token":"t"}'
    good = webhook_signature("s", "1000", body)
    assert good == "sha256=" + hmac.new(b"s", b"1000." + body, hashlib.sha256).hexdigest()
    check_webhook("s", "1000", good, body, now=1200, tolerance_seconds=300)
    check_webhook(
        "s", "1000", good.upper().replace("SHA256=", "sha256="), body, now=1000, tolerance_seconds=300
    )
    for stamp, signature in (("1000", "sha256=00"), ("-5", good), ("1e3", good), ("1000", "")):
        with pytest.raises(WebhookRejected):
            check_webhook("s", stamp, signature, body, now=1000, tolerance_seconds=300)


def test_admin_credentials() -> None:
    credentials = AdminCredentials("tok", {"admin": "pw"})
    assert admin_allowed(credentials, "Bearer tok")
    assert admin_allowed(credentials, "Basic YWRtaW46cHc=")  # admin:pw
    assert not admin_allowed(credentials, "Basic YWRtaW46cHd4")  # admin:pwx
    assert not admin_allowed(credentials, "Basic !!!")
    assert not admin_allowed(credentials, "Token tok")
    assert not admin_allowed(AdminCredentials(None, {}), "Bearer ")


def test_unexpected_failure_is_a_plain_500_without_the_message(
    relay: Relay, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("INSERT failed for hanako@example.jp")

    monkeypatch.setattr(relay.ledger, "record_click", broken)
    token = relay.token("acme")
    relay.later()
    response = human(relay, f"/r/{token}")
    assert response.status_code == 500
    assert response.headers["x-frame-options"] == "DENY"
    assert "hanako" not in response.text
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("relay_smtp"))
    assert "RuntimeError" in text and "hanako" not in text and token not in text


def test_confirmation_mail_is_plain_text(relay: Relay) -> None:
    token = relay.token("globex")
    relay.later()
    fields = open_form(relay, token) | registration(name="Anne O'Brien & Co", email="anne@example.com")
    assert relay.client.post(f"/r/{token}/register", data=fields).status_code == 303
    ((to, subject, body),) = relay.outbox.sent
    assert to == "anne@example.com" and subject == "[Career Relay] Please confirm your registration"
    assert "Dear Anne O'Brien & Co," in body and "&amp;" not in body and "&#39;" not in body
    assert f"{BASE}/confirm/" in body and "?lang=en" in body
