"""From a rejection relayed by the running relay to a credit redeemed: the whole Career Relay funnel."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import smtplib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.config import AdminSettings, AgencySettings, Company, Settings

WEBHOOK_SECRET = "agency-webhook-secret-0123456789"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
LINK = re.compile(rb"http://127\.0\.0\.1:\d+/r/([A-Za-z0-9_\-.]+)")


def rejection(recipients: list[str], message_id: str) -> bytes:
    return (
        f"From: ACME Recruiting <recruit@acme.example>\r\nTo: {', '.join(recipients)}\r\n"
        f"Subject: Your application\r\nMessage-ID: <{message_id}@acme.example>\r\n\r\n"
        "Dear candidate,\r\n\r\nThank you for interviewing for the analyst position. Unfortunately we\r\n"
        "have decided not to move forward with your application.\r\n\r\nBest of luck in your job search.\r\n"
    ).encode()


def settings(sink: Sink, tmp_path: Path) -> Settings:
    base = settings_for_sink(sink.port, spool=tmp_path / "spool")
    company = Company("acme", "ACME Inc.", "en", "enforce", ("recruit@acme.example",))
    return replace(
        base,
        companies=(company,),
        links=replace(base.links, secrets=("funnel-link-secret-0123456789",)),
        agency=AgencySettings(name="Partner Agency K.K.", webhook_secret=WEBHOOK_SECRET),
        admin=AdminSettings(token=ADMIN_TOKEN),
    )


class Web:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def request(
        self, path: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            body = err.read()
            err.close()
            return err.code, body

    def webhook(
        self, registration_id: str, token: str, *, age: int = 0, secret: str = WEBHOOK_SECRET
    ) -> tuple[int, dict[str, object]]:
        body = json.dumps({"registration_id": registration_id, "token": token}).encode()
        timestamp = str(int(time.time()) - age)
        signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        status, answer = self.request(
            "/api/v1/registrations",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-CareerRelay-Timestamp": timestamp,
                "X-CareerRelay-Signature": f"sha256={signature}",
            },
        )
        return status, json.loads(answer) if answer.startswith(b"{") else {}


def metric_values(web: Web) -> dict[str, float]:
    """The samples of /metrics by name and labels (counters are per process, so tests compare)."""
    status, text = web.request("/metrics")
    assert status == 200
    samples = {}
    for line in text.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def relay_mail(relay: Relay, recipients: list[str], message_id: str) -> None:
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as c:
        assert c.sendmail("recruit@acme.example", recipients, rejection(recipients, message_id)) == {}


def credits_cli(config_settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    config = Path(config_settings.store.url.removeprefix("sqlite:///")).parent / "cli.toml"
    config.write_text(f'[store]\nurl = "{config_settings.store.url}"\n', encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "relay_smtp.cli", "credits", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_ten_registrations_earn_one_credit_and_the_rest_holds(
    loop_thread: LoopThread, sink: Sink, tmp_path: Path
) -> None:
    config = settings(sink, tmp_path)
    relay = Relay(loop_thread, config).start()
    web = Web(relay.web_port)
    try:
        before = metric_values(web)
        candidates = [f"cand{i}@example.org" for i in range(10)]
        relay_mail(relay, candidates, "batch-1")
        tokens = {r.recipients[0]: LINK.search(r.data).group(1).decode() for r in sink.received}  # type: ignore[union-attr]
        assert len(set(tokens.values())) == 10

        status, page = web.request(f"/r/{tokens['cand0@example.org']}", headers={"User-Agent": "Mozilla/5.0"})
        assert status == 200 and b"Partner Agency K.K." in page

        for i, candidate in enumerate(candidates):
            status, answer = web.webhook(f"agency-{i}", tokens[candidate])
            assert status == 200 and answer["counted"] is True, answer
        assert answer["company_counted"] == 10 and answer["balance"] == 1

        relay_mail(relay, ["cand0@example.org"], "batch-2")  # the same candidate, a new link
        again = LINK.search(sink.received[-1].data).group(1).decode()  # type: ignore[union-attr]
        status, answer = web.webhook("agency-10", again)
        assert status == 200 and answer["counted"] is False and answer["balance"] == 1

        listed = json.loads(credits_cli(config, "--company", "acme", "--json").stdout)
        assert (listed[0]["counted"], listed[0]["balance"], listed[0]["links_issued"]) == (10, 1, 11)
        status, admin = web.request("/admin", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert status == 200 and b"acme" in admin
        assert web.request("/admin")[0] == 401

        redeemed = credits_cli(config, "redeem", "--company", "acme")
        assert "balance 0" in redeemed.stdout
        assert redeemed.returncode == 0, redeemed.stderr
        assert json.loads(credits_cli(config, "--json").stdout)[0]["balance"] == 0

        assert web.request("/r/forged-token-AAAAAAAAAAAAAAAAAAAA")[0] in (400, 404)
        assert web.webhook("agency-x", tokens["cand1@example.org"], secret="wrong")[0] == 401
        assert web.webhook("agency-y", tokens["cand1@example.org"], age=3600)[0] == 401

        after = metric_values(web)
        moved = {name: after[name] - before.get(name, 0.0) for name in after}
        assert moved['relay_smtp_messages_total{action="injected",verdict="rejection"}'] == 2
        assert moved["relay_smtp_blocks_injected_total"] == 11
        assert moved["relay_smtp_links_issued_total"] == 11
        assert moved['relay_smtp_upstream_replies_total{reply_class="2xx"}'] == 11
        assert moved["relay_smtp_added_latency_seconds_count"] == 2
        assert after["relay_smtp_ledger_counted"] == 10
        assert after["relay_smtp_spool_copies"] == 0
    finally:
        relay.stop()
