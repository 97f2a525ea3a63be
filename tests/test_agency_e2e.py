"""The whole hosted path on a running relay: rejection mail, form, mailed confirmation, push, withdrawal.

The relay service runs in-process on loopback ports with its SMTP next hop a recording sink (which
also receives the confirmation mails) and the partner agency a real HTTP server that answers 503 to
its first requests.  The relay's own background sender must get every registration there once, the
counts and /metrics must follow, and the withdrawal link from the mail must reach the agency too.
"""

from __future__ import annotations

import email
import email.policy
import http.cookiejar
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from agency_fixtures import AgencyServer
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink
from test_funnel_e2e import LINK, Web, metric_values, relay_mail

from relay_smtp.config import AdminSettings, AgencySettings, Company, Settings

SECRET = "push-secret-e2e-0123456789"
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def settings(sink: Sink, tmp_path: Path, agency: AgencyServer) -> Settings:
    base = settings_for_sink(sink.port, spool=tmp_path / "spool")
    return replace(
        base,
        companies=(Company("acme", "ACME Inc.", "en", "enforce", ("recruit@acme.example",)),),
        links=replace(base.links, secrets=("e2e-link-secret-0123456789",)),
        agency=AgencySettings(
            name="Partner Agency K.K.",
            push_url=agency.url,
            push_secret=SECRET,
            push_retry_seconds=0.05,
            push_interval_seconds=0.05,
        ),
        admin=AdminSettings(token="admin-token-e2e-0123456789"),
    )


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def mail_text(data: bytes) -> str:
    body = email.message_from_bytes(data, policy=email.policy.default).get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def register(web: Web, token: str, address: str) -> None:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    opener.addheaders = [("User-Agent", UA)]
    page = opener.open(f"{web.base}/r/{token}", timeout=10).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf, page
    fields = {
        "csrf": csrf.group(1),
        "name": "Alex Doe",
        "email": address,
        "job_type": "sales",
        "consent": "yes",
    }
    opener.open(f"{web.base}/r/{token}/register?lang=en", urllib.parse.urlencode(fields).encode(), timeout=10)


def test_hosted_registrations_reach_the_agency_once_and_count_then(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    agency = AgencyServer(SECRET, fail_first=2).start()
    relay = Relay(loop_thread, settings(sink, tmp_path, agency)).start()
    web = Web(relay.web_port)
    try:
        candidates = [f"cand{i}@example.org" for i in range(3)]
        relay_mail(relay, candidates, "batch-1")
        tokens = {r.recipients[0]: LINK.search(r.data).group(1).decode() for r in sink.received}  # type: ignore[union-attr]
        for address in candidates:
            register(web, tokens[address], address)
        mails = {r.recipients[0]: mail_text(r.data) for r in sink.received[len(candidates) :]}
        assert set(mails) == set(candidates)
        for address in candidates:
            confirm = re.search(r"/confirm/[A-Za-z0-9_-]+\?lang=en", mails[address])
            assert confirm, mails[address]
            assert web.request(confirm.group(0), data=b"")[0] == 200

        wait_for(lambda: len(agency.log.accepted) == 3, "three hand-offs")
        assert agency.log.refused == 2 and agency.log.bad_signatures == 0
        assert sorted(agency.log.accepted.values()) == [1, 1, 1]
        emails = sorted(b["candidate"]["email"] for b in agency.log.bodies.values())
        assert emails == candidates
        wait_for(lambda: metric_values(web)["relay_smtp_ledger_counted"] == 3, "the counts")
        metrics = metric_values(web)
        assert metrics["relay_smtp_agency_handoffs_delivered"] == 3
        assert metrics["relay_smtp_agency_handoffs_pending"] == 0
        assert metrics["relay_smtp_agency_handoffs_flagged"] == 0

        withdraw = re.search(r"http://127\.0\.0\.1:\d+(/w/\S+)", mails[candidates[0]])
        assert withdraw, mails[candidates[0]]
        assert web.request(withdraw.group(1), data=b"")[0] == 200
        rid = next(k[0] for k, b in agency.log.bodies.items() if b["candidate"]["email"] == candidates[0])
        wait_for(lambda: agency.log.accepted[(rid, "withdrawn")] == 1, "the withdrawal notice")
        assert metric_values(web)["relay_smtp_ledger_counted"] == 3  # counts stay
    finally:
        relay.stop()
        agency.stop()
