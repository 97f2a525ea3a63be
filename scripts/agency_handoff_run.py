"""The "done when" run of issue 13: two relays on one PostgreSQL store, the agency down for a while.

Starts a partner agency that is not listening at first (connection refused), then answers 503 to its
first requests, then 200; two real `relay-smtp serve` processes sharing one PostgreSQL schema, both
pushing; and 50 candidates who each open their link, register on the hosted form of one relay and
confirm from the mail (read from that relay's Maildir) on the other.  Then it waits until nothing is
owed and prints what the agency received and what the store says: hand-offs, duplicates, credits,
provision records.

    RELAY_SMTP_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python scripts/agency_handoff_run.py [--candidates 50] [--down-seconds 8]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from agency_fixtures import AgencyServer  # noqa: E402

from relay_smtp.links import LinkSigner  # noqa: E402
from relay_smtp.store.db import create_engine_for, scratch_schema  # noqa: E402
from relay_smtp.store.records import provision_records  # noqa: E402

SECRET = "push-secret-for-the-run"
LINK_SECRET = "link-secret-for-the-run"
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(work: Path, name: str, store: str, agency_port: int) -> tuple[Path, int]:
    web_port = free_port()
    path = work / f"{name}.toml"
    path.write_text(
        f"""
[smtp]
listen = "127.0.0.1:{free_port()}"
[upstream]
url = "maildir:{work / name / "maildir"}"
[web]
listen = "127.0.0.1:{web_port}"
public_url = "http://127.0.0.1:{web_port}"
form_secret = "form-secret-shared-by-both"
link_rate_per_minute = 10000
register_rate_per_minute = 10000
[agency]
name = "テスト人材株式会社"
push_url = "http://127.0.0.1:{agency_port}/career-relay"
push_secret = "{SECRET}"
push_retry_seconds = 1
push_interval_seconds = 0.5
push_timeout_seconds = 2
[store]
url = "{store}"
[links]
secrets = ["{LINK_SECRET}"]
[spool]
directory = "{work / name / "spool"}"
[[companies]]
id = "acme"
name = "株式会社ACME"
locale = "ja"
mode = "enforce"
""",
        encoding="utf-8",
    )
    return path, web_port


def wait_http(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"relay on port {port} did not start")


def register(port: int, token: str, email: str) -> None:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", UA)]
    page = opener.open(f"http://127.0.0.1:{port}/r/{token}").read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf, "no form"
    fields = {
        "csrf": csrf.group(1),
        "name": f"候補 {email.split('@')[0]}",
        "email": email,
        "phone": "090-1234-5678",
        "job_type": "engineering",
        "consent": "yes",
    }
    opener.open(
        f"http://127.0.0.1:{port}/r/{token}/register?lang=ja", urllib.parse.urlencode(fields).encode()
    )


def confirmation_paths(maildir: Path) -> dict[str, str]:
    """The confirm path per recipient address, from the mails in the Maildir."""
    found: dict[str, str] = {}
    for path in (maildir / "new").glob("*"):
        mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = mail.get_body(("plain",))
        code = re.search(r"/confirm/[A-Za-z0-9_-]+", body.get_content() if body else "")
        if code:
            found[str(mail["To"])] = code.group(0)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--down-seconds", type=float, default=8.0, help="agency not listening at first")
    parser.add_argument("--fail-first", type=int, default=15, help="then 503 to this many requests")
    args = parser.parse_args()
    base_url = os.environ.get("RELAY_SMTP_TEST_DATABASE_URL", "")
    if not base_url.startswith("postgresql"):
        raise SystemExit("set RELAY_SMTP_TEST_DATABASE_URL to a PostgreSQL database")

    scratch = ExitStack()
    store_url = scratch.enter_context(scratch_schema(base_url, "handoff_run"))
    agency_port = free_port()
    work = Path(tempfile.mkdtemp(prefix="handoff-run-"))
    relay_bin = str(REPO / ".venv" / "bin" / "relay-smtp")
    relays: list[subprocess.Popen[bytes]] = []
    agency: AgencyServer | None = None
    try:
        configs = [config(work, name, store_url, agency_port) for name in ("relay-a", "relay-b")]
        subprocess.run([relay_bin, "db", "upgrade", "--config", str(configs[0][0])], check=True)
        for path, _ in configs:
            log = (work / f"{path.stem}.log").open("wb")
            relays.append(
                subprocess.Popen(
                    [relay_bin, "serve", "--config", str(path), "--workers", "1"], stdout=log, stderr=log
                )
            )
        for _, port in configs:
            wait_http(port)
        started = time.monotonic()
        links = LinkSigner([LINK_SECRET])
        emails = [f"cand{i:02d}@example.jp" for i in range(args.candidates)]
        for i, address in enumerate(emails):
            register(configs[i % 2][1], links.issue("acme", address, f"q{i:07d}"), address)
        codes: dict[str, str] = {}
        for name in ("relay-a", "relay-b"):
            codes |= confirmation_paths(work / name / "maildir")
        assert len(codes) == len(emails), f"{len(codes)} confirmation mails for {len(emails)} registrations"
        for i, address in enumerate(emails):  # confirmed on the other relay than the one registered on
            port = configs[(i + 1) % 2][1]
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{codes[address]}", data=b"", method="POST"
            )
            urllib.request.urlopen(request).close()
        confirmed_after = time.monotonic() - started

        time.sleep(max(0.0, args.down_seconds - confirmed_after))
        agency = AgencyServer(SECRET, fail_first=args.fail_first, port=agency_port).start()
        up_at = time.monotonic()
        deadline = up_at + 120
        while time.monotonic() < deadline and len(agency.log.accepted) < len(emails):
            time.sleep(0.5)
        time.sleep(3)  # anything sent twice would arrive now
        drained = time.monotonic() - up_at

        status = subprocess.run(
            [relay_bin, "agency", "--config", str(configs[1][0]), "--json"], capture_output=True, check=True
        )
        credits = subprocess.run(
            [relay_bin, "credits", "--config", str(configs[1][0]), "--json"], capture_output=True, check=True
        )
        funnel = json.loads(credits.stdout)[0]
        engine = create_engine_for(store_url)
        with engine.connect() as c:
            records = c.scalar(select(func.count()).select_from(provision_records))
        engine.dispose()
        log = agency.log
        result = {
            "registrations_confirmed": len(emails),
            "agency_down_seconds": round(args.down_seconds, 1),
            "agency_503_answers": log.refused,
            "agency_requests": log.requests,
            "handoffs_accepted_distinct": len(log.accepted),
            "handoffs_received_twice": sum(1 for n in log.accepted.values() if n > 1),
            "concurrent_sends_of_one_event": log.overlapping,
            "bad_signatures": log.bad_signatures,
            "seconds_from_agency_up_to_all_accepted": round(drained - 3, 1),
            "outbox": json.loads(status.stdout),
            "counted": funnel["counted"],
            "credits_earned": funnel["earned"],
            "provision_records": records,
        }
        print(json.dumps(result, ensure_ascii=False, indent=2))
        ok = (
            len(log.accepted) == len(emails)
            and result["handoffs_received_twice"] == 0
            and funnel["earned"] == len(emails) // 10
            and records == len(emails)
        )
        return 0 if ok else 1
    finally:
        for process in relays:
            process.send_signal(signal.SIGTERM)
        for process in relays:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        if agency is not None:
            agency.stop()
        scratch.close()


if __name__ == "__main__":
    sys.exit(main())
