"""Smaller hardening, over real sockets: SMTP AUTH guessing and confirmation mail on demand are throttled."""

from __future__ import annotations

import base64
import http.cookiejar
import re
import smtplib
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace

from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.config import AgencySettings, Company
from relay_smtp.links import LinkSigner

SECRET = "abuse-limits-secret-0123456789"
HUMAN_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"


def plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def test_smtp_auth_failures_are_throttled_per_client(loop_thread: LoopThread, sink: Sink) -> None:
    settings = settings_for_sink(
        sink.port, allowed_networks=(), auth_users={"ats": "s3cret"}, auth_require_tls=False
    )
    relay = Relay(loop_thread, settings).start()
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
            client.ehlo()
            codes = [client.docmd("AUTH", f"PLAIN {plain('ats', f'guess{i}')}")[0] for i in range(30)]
            # While throttled even the right password gets 454: a guesser learns nothing.
            right = client.docmd("AUTH", f"PLAIN {plain('ats', 's3cret')}")
        assert codes[:5] == [535] * 5
        assert set(codes[5:]) == {454}
        assert right[0] == 454 and right[1].startswith(b"4.7.0")
    finally:
        relay.stop()


def test_confirmation_mails_are_limited_per_link_and_per_address(loop_thread: LoopThread, sink: Sink) -> None:
    base = settings_for_sink(sink.port)
    settings = replace(
        base,
        companies=(Company("acme", "ACME Inc.", "en", "enforce", ("recruit@acme.example",)),),
        links=replace(base.links, secrets=(SECRET,)),
        agency=AgencySettings(name="Partner Agency K.K."),
    )
    relay = Relay(loop_thread, settings).start()
    an_hour_ago = LinkSigner([SECRET], clock=lambda: time.time() - 3600)  # past the scanner window

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    def register(token: str, email: str) -> int:
        """A person opening the link and sending the hosted form (a fresh browser: own cookies)."""
        base = f"http://127.0.0.1:{relay.web_port}"
        cookies = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        browser = urllib.request.build_opener(cookies, NoRedirect)
        browser.addheaders = [("User-Agent", HUMAN_UA)]
        with browser.open(f"{base}/r/{token}", timeout=10) as page:
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.read().decode())
        assert csrf is not None
        fields = {
            "csrf": csrf.group(1),
            "name": "Anne",
            "email": email,
            "job_type": "sales",
            "consent": "yes",
        }
        try:
            with browser.open(f"{base}/r/{token}/register", urllib.parse.urlencode(fields).encode(), 10) as r:
                return int(r.status)
        except urllib.error.HTTPError as err:
            err.close()
            return err.code

    try:
        one_link = an_hour_ago.issue("acme", "cand@example.org", "m1")
        by_link = [register(one_link, f"victim{i}@example.net") for i in range(5)]
        links = [an_hour_ago.issue("acme", f"cand{i}@example.org", f"m{i}") for i in range(5)]
        to_one_address = [register(link, "victim@example.net") for link in links]
    finally:
        relay.stop()
    assert by_link == [303, 303, 303, 429, 429]
    assert to_one_address == [303, 303, 303, 429, 429]
    confirmations = [r.recipients[0] for r in sink.received]
    assert sorted(confirmations) == sorted(
        ["victim0@example.net", "victim1@example.net", "victim2@example.net"] + ["victim@example.net"] * 3
    )
