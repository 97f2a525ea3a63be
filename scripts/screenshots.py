"""Screenshots of the candidate and admin pages in headless Chromium, for people to look at.

Why this script exists: templates and CSS are checked by eye, on a phone-sized and a desktop-sized
window, under the real Content-Security-Policy.  The script starts the web app with uvicorn on a free
loopback port (SQLite in a temporary directory, a few weeks of sample clicks and registrations), opens
each page in ``chromium --headless``, writes PNGs into the directory given, and exits non-zero when a
page logged a console error (a CSP violation, a missing resource, a script error) or did not render its
main heading.

    .venv/bin/python scripts/screenshots.py shots/
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relay_smtp.links import LinkSigner
from relay_smtp.store import kpi, satisfaction, talent_pool
from relay_smtp.store.kpi import ObservedMail
from relay_smtp.store.ledger import IssuedLink, Ledger
from relay_smtp.store.talent_pool import PoolEntry
from relay_smtp.web.app import CompanyPage, WebConfig, create_app
from relay_smtp.web.server import EmbeddedServer, make_server

ADMIN_USER = "screenshots"  # an operator: sees every company
HR_USER = "acme-hr"  # ACME's HR: sees ACME only
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Lines of Chromium's log that mean the page did something wrong.  Our pages run no script, so any
#: console message at all is a CSP violation or a resource that failed to load.
CONSOLE_ERROR = re.compile(r":CONSOLE[:(]|Content Security Policy|net::ERR_")


@dataclass(frozen=True)
class Shot:
    name: str
    path: str
    width: int
    height: int
    heading: str  # text one of the page's <h1> must contain
    user: str | None = None  # the admin user the page is opened as


@dataclass(frozen=True)
class ShotResult:
    shot: Shot
    png: Path
    errors: list[str]


class ShiftedClock:
    """A clock the sample data can move into the past."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) - self.offset


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def sample_data(ledger: Ledger, links: LinkSigner, clock: ShiftedClock) -> dict[str, str]:
    """Sixty days of rejections, clicks and registrations; returns a fresh token per company."""
    rng = random.Random(7)
    for company, per_day in (("acme", 6), ("globex", 2)):
        for days_ago in range(60, -1, -1):
            for n in range(rng.randint(0, per_day)):
                clock.offset = timedelta(days=days_ago, minutes=rng.randint(0, 600))
                recipient = f"candidate-{company}-{days_ago}-{n}@example.jp"
                message_id = f"q{days_ago:03d}{n:04d}"
                token_claims = links.verify(links.issue(company, recipient, message_id))
                ledger.record_rejection(company, message_id, message_id, "injected")
                issued = clock()
                link = IssuedLink(company, token_claims.recipient_hash, message_id, issued)
                ledger.record_links([link])
                _sample_clicks(ledger, rng, company, token_claims.recipient_hash, message_id)
                if rng.random() < 0.3:
                    ledger.register(
                        source="agency",
                        external_id=f"{company}-{days_ago}-{n}",
                        company=company,
                        recipient_hash=token_claims.recipient_hash,
                        message_id=message_id,
                        confirmed=True,
                    )
    clock.offset = timedelta(0)
    if ledger.balance("acme") > 0:
        ledger.redeem("acme", "hire of 2026-02: backend engineer")
    _sample_kpis(ledger, links, clock, rng)
    return {
        "acme": links.issue("acme", "hanako@example.jp", "q9990001"),
        "globex": links.issue("globex", "jane@example.com", "q9990002"),
    }


def _sample_clicks(
    ledger: Ledger, rng: random.Random, company: str, recipient_hash: str, message_id: str
) -> None:
    if rng.random() < 0.4:
        ledger.record_click(
            company,
            recipient_hash,
            message_id,
            user_agent="Proofpoint",
            suspected_bot=True,
            bot_reason="sample",
        )
    if rng.random() < 0.6:
        ledger.record_click(
            company, recipient_hash, message_id, user_agent="Mozilla/5.0", suspected_bot=False
        )


def _sample_kpis(ledger: Ledger, links: LinkSigner, clock: ShiftedClock, rng: random.Random) -> None:
    """Satisfaction answers, rejections some candidates came back after, and a few talent-pool entries."""
    now = clock()
    for n in range(120):
        at = now - timedelta(days=rng.randint(0, 170))
        score = rng.choices((1, 2, 3, 4, 5), weights=(1, 2, 5, 9, 6))[0]
        satisfaction.record_answer(ledger.engine, "acme", f"sample-voter-{n}", score, at)
    mails: list[ObservedMail] = []
    for n in range(180):
        rejected_at = now - timedelta(days=rng.randint(30, 175))
        person = links.recipient_hash(f"pool-{n}@example.jp")
        mails.append(ObservedMail("rejection", "acme", person, f"rej-{n}", (), rejected_at))
        if rng.random() < 0.18:
            later = rejected_at + timedelta(days=rng.randint(15, 29))
            mails.append(ObservedMail("contact", "acme", person, f"inv-{n}", (), later))
            if rng.random() < 0.5:  # had registered through the link of the rejection
                clock.offset = now - rejected_at - timedelta(days=2)
                ledger.register(
                    source="agency",
                    external_id=f"came-back-{n}",
                    company="acme",
                    recipient_hash=person,
                    message_id=f"rej-{n}",
                    confirmed=True,
                )
    clock.offset = timedelta(0)
    kpi.record_mail(ledger.engine, mails, min_days=14, window_days=365)
    names = [
        ("佐藤 美咲", "sales"),
        ("鈴木 大輔", "engineering"),
        ("高橋 彩", "marketing"),
        ("田中 健", "other"),
    ]
    for n, (name, job) in enumerate(names):
        claims = links.verify(links.issue("acme", f"talent-{n}@example.jp", f"t{n:07d}"))
        outcome = ledger.register(
            source="agency",
            external_id=f"talent-{n}",
            company="acme",
            recipient_hash=claims.recipient_hash,
            message_id=f"t{n:07d}",
            confirmed=True,
        )
        joined = now - timedelta(days=3 * n + 1)
        entry = PoolEntry(
            outcome.registration_id, "acme", name, f"talent-{n}@example.jp", job, "2026-01", joined
        )
        talent_pool.join(ledger.engine, entry, confirmed_at=joined)


@contextmanager
def running_app(workdir: Path, password: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The app on a free loopback port; yields its base URL and a token per company."""
    clock = ShiftedClock()
    links = LinkSigner([secrets.token_urlsafe(32)], clock=lambda: clock().timestamp())
    ledger = Ledger.open(f"sqlite:///{workdir / 'screenshots.db'}", upgrade=True, clock=clock)
    tokens = sample_data(ledger, links, clock)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = WebConfig(
        public_url=base,
        companies={
            "acme": CompanyPage("株式会社ACMEテクノロジー", "ja"),
            "globex": CompanyPage("Globex Ltd", "en"),
        },
        partner_name="リレーキャリア株式会社",
        partner_url=f"{base}/healthz",
        partner_license="13-ユ-000000",
        privacy_contact="privacy@career-relay.example",
        admin_users={ADMIN_USER: password, HR_USER: password},
        admin_user_companies={HR_USER: "acme"},
        webhook_secret=secrets.token_urlsafe(16),
    )

    async def no_mail(to: str, subject: str, body: str) -> bool:
        return True

    # Clicks only from now on: the page views of the screenshots themselves are real clicks.
    app = create_app(config, ledger, links, send_mail=no_mail, clock=clock)
    server = make_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=_serve, args=(server,), daemon=True)
    thread.start()
    try:
        _wait_until_started(server)
        yield base, tokens
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        ledger.close()


def _serve(server: EmbeddedServer) -> None:
    asyncio.run(server.serve())


def _wait_until_started(server: EmbeddedServer, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the web app did not start")
        time.sleep(0.05)


def shots(tokens: dict[str, str]) -> list[Shot]:
    return [
        Shot("landing-ja-mobile", f"/r/{tokens['acme']}", 390, 2900, "次のご縁を"),
        Shot("landing-en-desktop", f"/r/{tokens['globex']}", 1280, 2300, "next opportunity"),
        Shot("sent-ja-mobile", f"/r/{tokens['acme']}/sent", 390, 844, "確認メール"),
        Shot("confirm-en-mobile", "/confirm/sample-code?lang=en", 390, 844, "Confirm your registration"),
        Shot("invalid-link-mobile", "/r/not-a-real-token", 390, 1100, "リンクを確認できませんでした"),
        Shot("admin-desktop", "/admin?lang=en", 1280, 900, "companies", user=ADMIN_USER),
        Shot("admin-company-ja-desktop", "/admin?lang=ja", 1280, 3300, "株式会社ACME", user=HR_USER),
        Shot(
            "admin-operator-company-ja-desktop",
            "/admin/companies/acme?lang=ja",
            1280,
            3300,
            "株式会社ACME",
            user=ADMIN_USER,
        ),
        Shot(
            "admin-company-en-desktop",
            "/admin/companies/globex?lang=en",
            1280,
            2600,
            "Globex",
            user=ADMIN_USER,
        ),
    ]


def chromium_args(chromium: str, profile: Path) -> list[str]:
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={profile}",
    ]


def take(chromium: str, base: str, password: str, shot: Shot, out: Path, profile: Path) -> ShotResult:
    url = base + shot.path
    if shot.user:
        url = url.replace("http://", f"http://{shot.user}:{password}@", 1)
    png = out / f"{shot.name}.png"
    args = chromium_args(chromium, profile)
    size = f"--window-size={shot.width},{shot.height}"
    capture = _run([*args, size, f"--screenshot={png}", url])
    dom = _run([*args, size, "--dump-dom", url])
    errors = [line for line in (capture.stderr + dom.stderr).splitlines() if CONSOLE_ERROR.search(line)]
    if capture.returncode != 0 or dom.returncode != 0:
        errors.append(f"chromium exited {capture.returncode}/{dom.returncode}")
    if not png.is_file() or png.stat().st_size < 2000:
        errors.append(f"{png.name} was not written")
    headings = re.findall(r"<h1[^>]*>(.*?)</h1>", dom.stdout, re.DOTALL)
    if not any(shot.heading in h for h in headings):
        errors.append(f"no <h1> of the page contains {shot.heading!r}")
    return ShotResult(shot, png, errors)


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("outdir", type=Path, help="directory for the PNG files")
    parser.add_argument("--chromium", help="the browser to run (default: chromium on PATH)")
    options = parser.parse_args(argv)
    chromium = options.chromium or find_chromium()
    if not chromium:
        print("screenshots: chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    options.outdir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="relay-shots-") as tmp, running_app(Path(tmp), password) as app:
        base, tokens = app
        for shot in shots(tokens):
            result = take(chromium, base, password, shot, options.outdir, Path(tmp) / "profile")
            status = "ok" if not result.errors else "FAILED"
            print(f"{status:6} {result.png}")
            for error in result.errors:
                print(f"       {error}")
            failures += bool(result.errors)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
