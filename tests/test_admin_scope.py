"""Company-scoped admin access, over real HTTP: an HR user of one company never sees another's data.

The app runs under uvicorn on a loopback port (as `relay-smtp serve` runs it); requests go through
urllib with basic auth.  Company A's HR user gets A's dashboard, funnel CSV, ledger CSV, talent pool
CSV and may redeem A's credit; for company B every one of those answers 404 (as for a company that does
not exist), the all-company exports hold A's rows only, and B's balance is untouched.  Operators see
everything.  Pages come in Japanese or English by Accept-Language or ?lang=, with dates in JST or UTC.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ports import free_port

from relay_smtp.links import LinkSigner
from relay_smtp.store import talent_pool
from relay_smtp.store.ledger import IssuedLink, Ledger
from relay_smtp.store.talent_pool import PoolEntry
from relay_smtp.web.app import CompanyPage, WebConfig, create_app
from relay_smtp.web.server import make_server

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # 23:00 JST
USERS = {"ops": "ops-password", "tanaka": "acme-password", "smith": "globex-password"}


@dataclass
class Site:
    base: str
    ledger: Ledger

    def get(self, path: str, user: str | None = None, **headers: str) -> tuple[int, str]:
        return self.call("GET", path, user, headers=headers)

    def call(
        self, method: str, path: str, user: str | None, *, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        all_headers = dict(headers or {})
        if user is not None:
            pair = f"{user}:{USERS[user]}".encode()
            all_headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        data = b"{}" if method == "POST" else None
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, headers=all_headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as err:
            body = err.read().decode("utf-8")
            err.close()
            return err.code, body


def seed(ledger: Ledger, links: LinkSigner) -> None:
    """Both companies: rejections, links, clicks, registrations; acme earns and keeps one credit."""
    for company, people in (("acme", 10), ("globex", 10)):
        for i in range(people):
            claims = links.verify(links.issue(company, f"{company}-{i}@example.jp", f"m{i}"))
            ledger.record_rejection(company, f"m{i}", f"q{i}", "injected")
            ledger.record_links([IssuedLink(company, claims.recipient_hash, f"m{i}", NOW)])
            ledger.record_click(
                company, claims.recipient_hash, f"m{i}", user_agent="Mozilla", suspected_bot=False
            )
            ledger.register(
                source="agency",
                external_id=f"{company}-{i}",
                company=company,
                recipient_hash=claims.recipient_hash,
                message_id=f"m{i}",
                confirmed=True,
            )
    registration = ledger.register(
        source="agency",
        external_id="pool-globex",
        company="globex",
        recipient_hash="f" * 24,
        message_id="mp",
        confirmed=True,
    )
    entry = PoolEntry(
        registration.registration_id,
        "globex",
        "Jane Globex",
        "jane@globex-pool.example",
        "sales",
        "2026-01",
        NOW,
    )
    talent_pool.join(ledger.engine, entry, confirmed_at=NOW)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    links = LinkSigner(["scope-test-secret"], clock=lambda: NOW.timestamp())
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'scope.db'}", upgrade=True, clock=lambda: NOW)
    seed(ledger, links)
    port = free_port()
    config = WebConfig(
        public_url=f"http://127.0.0.1:{port}",
        companies={"acme": CompanyPage("株式会社ACME", "ja"), "globex": CompanyPage("Globex Ltd", "en")},
        admin_users=USERS,
        admin_user_companies={"tanaka": "acme", "smith": "globex"},
        webhook_secret="x",
    )

    async def no_mail(to: str, subject: str, body: str) -> bool:
        return True

    server = make_server(
        create_app(config, ledger, links, send_mail=no_mail, clock=lambda: NOW), "127.0.0.1", port
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.02)
    try:
        yield Site(config.public_url, ledger)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        ledger.close()


def test_hr_user_sees_only_its_own_company(site: Site) -> None:
    status, own = site.get("/admin", "tanaka")
    assert status == 200 and "株式会社ACME" in own and "Globex" not in own
    assert site.get("/admin/companies/acme", "tanaka")[0] == 200
    for path in (
        "/admin/companies/globex",
        "/admin/companies/globex/funnel.csv",
        "/admin/companies/globex/ledger.csv",
        "/admin/companies/globex/talent-pool.csv",
        "/admin/companies/nonexistent",
    ):
        status, body = site.get(path, "tanaka")
        assert status == 404, path
        assert "Globex" not in body and "jane@" not in body
    assert (
        "ご担当の企業のページのみ" in site.get("/admin/companies/globex", "tanaka")[1]
    )  # a page, in Japanese
    # The operators' overview is the company's own dashboard for an HR user, never the list.
    assert "/admin/companies/globex" not in own


def test_hr_exports_hold_only_its_own_rows(site: Site) -> None:
    status, funnels = site.get("/admin/funnels.csv", "tanaka")
    assert status == 200
    lines = funnels.lstrip("\ufeff").splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["acme"]
    status, ledger_csv = site.get("/admin/export.csv", "tanaka")
    assert status == 200 and "globex" not in ledger_csv and "acme,株式会社ACME" in ledger_csv
    status, funnel = site.get("/admin/companies/acme/funnel.csv?from=2026-11&to=2026-11", "tanaka")
    assert status == 200
    rows = funnel.lstrip("\ufeff").splitlines()
    assert rows[0].startswith("company,month,rejections_seen,links_issued,links_issued_rate,human_clicks")
    assert rows[1].startswith("acme,2026-11,10,10,1.0000,10,1.0000,10,1.0000,10,1.0000,1,0.1000,0,0.0000")
    status, pool = site.get("/admin/companies/globex/talent-pool.csv", "smith")
    assert status == 200 and "Jane Globex,jane@globex-pool.example" in pool
    status, pool = site.get("/admin/companies/acme/talent-pool.csv", "tanaka")
    assert status == 200 and "jane@" not in pool


def test_redeem_api_follows_the_same_rule(site: Site) -> None:
    assert site.ledger.balance("acme") == 1 and site.ledger.balance("globex") == 1
    status, body = site.call("POST", "/api/v1/companies/globex/redeem", "tanaka")
    assert status == 404 and site.ledger.balance("globex") == 1
    status, body = site.call("POST", "/api/v1/companies/acme/redeem", "tanaka")
    assert status == 200 and '"balance":0' in body
    status, _ = site.call("POST", "/api/v1/companies/globex/redeem", "ops")
    assert status == 200 and site.ledger.balance("globex") == 0


def test_operator_sees_every_company(site: Site) -> None:
    status, overview = site.get("/admin", "ops")
    assert status == 200 and "株式会社ACME" in overview and "Globex Ltd" in overview
    for company in ("acme", "globex"):
        assert site.get(f"/admin/companies/{company}", "ops")[0] == 200
    status, funnels = site.get("/admin/funnels.csv", "ops")
    assert sorted(line.split(",")[0] for line in funnels.lstrip("\ufeff").splitlines()[1:]) == [
        "acme",
        "globex",
    ]
    assert "jane@globex-pool.example" in site.get("/admin/companies/globex", "ops")[1]


def test_language_and_time_zone_follow_the_reader(site: Site) -> None:
    status, ja = site.get("/admin/companies/acme", "tanaka", **{"Accept-Language": "ja,en;q=0.5"})
    assert status == 200 and '<html lang="ja">' in ja
    assert "ファネル" in ja and "再応募率" in ja and "候補者満足度" in ja and "タレントプール" in ja
    assert "2026年11月" in ja and "2026/11/30 23:00" in ja  # the credit, earned at 14:00 UTC, in JST
    assert "1,000" not in ja and "100.0%" in ja
    assert "2026-11-30: クリック 10件、登録 10件、カウント対象 10件" in ja  # the chart's tooltip
    status, en = site.get("/admin/companies/acme", "tanaka", **{"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in en and "Funnel" in en and "30 Nov 2026 14:00" in en
    switched = site.get("/admin/companies/acme?lang=en", "tanaka", **{"Accept-Language": "ja"})[1]
    assert '<html lang="en">' in switched and 'href="/admin/companies/acme?lang=ja"' in switched
    status, refused = site.get("/admin/companies/acme?from=2026-13&lang=en", "tanaka")
    assert status == 422 and "give months as YYYY-MM" in refused


def test_nobody_without_credentials(site: Site) -> None:
    for path in ("/admin", "/admin/companies/acme", "/admin/companies/acme/talent-pool.csv"):
        assert site.get(path)[0] == 401
    assert site.call("POST", "/api/v1/companies/acme/redeem", None)[0] == 401
