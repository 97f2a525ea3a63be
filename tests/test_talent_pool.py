"""The talent pool: its own opt-in on the form, visible to its company only, delivered, withdrawn, purged.

The candidate ticks the talent-pool box (separate from the agency consent) and confirms the address;
then the entry shows on the company's dashboard and CSV, the company's ATS receives it by a signed
webhook (a real HTTP server on loopback), another company's HR user never sees it, and
`talent_pool.withdraw` (the candidate's withdrawal) and the retention purge take it away.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from test_web import HUMAN_UA, Relay, build, open_form, registration

from relay_smtp.store import talent_pool
from relay_smtp.web.auth import webhook_signature
from relay_smtp.web.settings import CompanyPage
from relay_smtp.web.talent_pool import deliver_pending

HOOK_SECRET = "ats-hook-secret"
HR = {"acme-hr": "acme-pass", "globex-hr": "globex-pass"}


class Ats(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Ats.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def ats() -> Iterator[str]:
    Ats.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ats)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/pool"
    server.shutdown()
    server.server_close()


@pytest.fixture
def relay(tmp_path: Path, ats: str) -> Iterator[Relay]:
    r = build(
        tmp_path,
        companies={
            "acme": CompanyPage("株式会社ACME", "ja", ats, HOOK_SECRET),
            "globex": CompanyPage("Globex Ltd", "en"),
        },
        admin_users=HR,
        admin_user_companies={"acme-hr": "acme", "globex-hr": "globex"},
    )
    yield r
    r.client.close()
    r.ledger.close()


def register(relay: Relay, recipient: str, message_id: str, **fields: str) -> int:
    token = relay.token("acme", recipient, message_id)
    relay.later()
    values = open_form(relay, token) | registration(**fields)
    response = relay.client.post(f"/r/{token}/register", data=values, headers={"User-Agent": HUMAN_UA})
    assert response.status_code == 303, response.text
    code = re.search(r"/confirm/([A-Za-z0-9_-]+)", relay.outbox.sent[-1][2])
    assert code is not None
    assert relay.client.post(f"/confirm/{code.group(1)}").status_code == 200
    return len(relay.outbox.sent)


def test_opt_in_is_separate_shown_to_its_company_and_withdrawn(relay: Relay) -> None:
    page = relay.client.get(f"/r/{relay.token('acme')}", headers={"User-Agent": HUMAN_UA}).text
    assert 'name="talent_pool"' in page and 'name="consent"' in page and "タレントプール" in page
    assert "同意文言の版: 2026-01" in page

    register(relay, "no-pool@example.jp", "q1", email="no-pool@example.jp")  # agency consent only
    assert talent_pool.entries(relay.ledger.engine, "acme") == []
    register(relay, "pool@example.jp", "q2", email="pool@example.jp", name="池田 花子", talent_pool="yes")
    pool = talent_pool.entries(relay.ledger.engine, "acme")
    assert [(p.name, p.email, p.consent_version) for p in pool] == [
        ("池田 花子", "pool@example.jp", "2026-01")
    ]

    # The ATS got it, signed.
    assert len(Ats.received) == 1
    headers, body = Ats.received[0]
    stamp = headers["x-careerrelay-timestamp"]
    assert headers["x-careerrelay-signature"] == webhook_signature(HOOK_SECRET, stamp, body)
    assert json.loads(body)["email"] == "pool@example.jp"

    own = relay.client.get("/admin/companies/acme/talent-pool.csv", auth=("acme-hr", "acme-pass"))
    assert own.status_code == 200 and "池田 花子,pool@example.jp" in own.text
    assert "no-pool@" not in own.text
    dashboard = relay.client.get("/admin", auth=("acme-hr", "acme-pass")).text
    assert "池田 花子" in dashboard
    other = relay.client.get("/admin/companies/acme/talent-pool.csv", auth=("globex-hr", "globex-pass"))
    assert other.status_code == 404 and "pool@" not in other.text
    globex = relay.client.get("/admin/companies/globex/talent-pool.csv", auth=("globex-hr", "globex-pass"))
    assert globex.status_code == 200 and "pool@" not in globex.text

    # The candidate's own withdrawal link (in the confirmation mail) takes them out of the pool too.
    mail = next(body for to, _, body in reversed(relay.outbox.sent) if to == "pool@example.jp")
    link = re.search(r"(/w/[A-Za-z0-9_.~-]+)", mail)
    assert link is not None, mail
    assert relay.client.post(link.group(1), headers={"User-Agent": HUMAN_UA}).status_code == 200
    assert talent_pool.entries(relay.ledger.engine, "acme") == []
    assert talent_pool.withdraw(relay.ledger.engine, pool[0].registration_id) == 0
    after = relay.client.get("/admin/companies/acme/talent-pool.csv", auth=("acme-hr", "acme-pass")).text
    assert "pool@" not in after


def test_unconfirmed_and_old_entries_are_purged(relay: Relay) -> None:
    register(relay, "old@example.jp", "q3", email="old@example.jp", talent_pool="yes")
    token = relay.token("acme", "pending@example.jp", "q4")
    relay.later()
    values = open_form(relay, token) | registration(email="pending@example.jp", talent_pool="yes")
    assert relay.client.post(f"/r/{token}/register", data=values).status_code == 303  # never confirmed
    engine = relay.ledger.engine
    retention, pending = timedelta(days=730), timedelta(days=2)
    assert talent_pool.purge(engine, relay.clock.now, retention, pending) == 0
    assert talent_pool.purge(engine, relay.clock.now + timedelta(days=3), retention, pending) == 1
    assert [p.email for p in talent_pool.entries(engine, "acme")] == ["old@example.jp"]
    assert talent_pool.purge(engine, relay.clock.now + timedelta(days=731), retention, pending) == 1
    assert talent_pool.entries(engine, "acme") == []


def test_an_unreachable_ats_is_tried_again(tmp_path: Path, ats: str) -> None:
    down = "http://127.0.0.1:9/hooks/pool"  # discard port: nothing listens
    relay = build(
        tmp_path,
        companies={"acme": CompanyPage("株式会社ACME", "ja", down, HOOK_SECRET)},
    )
    try:
        register(relay, "later@example.jp", "q5", email="later@example.jp", talent_pool="yes")
        engine = relay.ledger.engine
        assert [p.email for p in talent_pool.entries(engine, "acme")] == ["later@example.jp"]
        assert len(talent_pool.undelivered(engine, ["acme"])) == 1 and Ats.received == []
        # The housekeeping loop's retry, once the ATS answers again.
        companies = {"acme": CompanyPage("株式会社ACME", "ja", ats, HOOK_SECRET)}
        assert deliver_pending(engine, companies, relay.clock) == 1
        assert talent_pool.undelivered(engine, ["acme"]) == [] and len(Ats.received) == 1
        assert deliver_pending(engine, companies, relay.clock) == 0
    finally:
        relay.client.close()
        relay.ledger.close()
