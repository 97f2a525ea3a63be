"""The minimal receiver in docs/agency.md works: run as written against the relay's own push sender."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from ports import accepting, free_port

from relay_smtp.agency import PushSender, PushTarget
from relay_smtp.store.ledger import Ledger, Profile
from relay_smtp.store.outbox import Outbox, OutboxPolicy
from relay_smtp.store.withdrawal import withdraw_registration

DOC = Path(__file__).resolve().parents[1] / "docs" / "agency.md"


def test_the_documented_receiver_verifies_and_keeps_each_event_once(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert code, "docs/agency.md has a Python receiver"
    port = free_port()
    script = tmp_path / "receiver.py"
    script.write_text(code.group(1).replace('("127.0.0.1", 8080)', f'("127.0.0.1", {port})'), "utf-8")
    receiver = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={"PUSH_SECRET": "doc-secret"},
        stderr=subprocess.DEVNULL,
    )
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'store.db'}", upgrade=True)
    try:
        deadline = time.monotonic() + 20
        while not accepting(port):
            assert time.monotonic() < deadline and receiver.poll() is None, "the receiver did not start"
            time.sleep(0.05)
        ledger.register(
            source="hosted",
            external_id="hosted-doc",
            company="acme",
            recipient_hash="h",
            message_id="m",
            confirmed=False,
            profile=Profile("A B", "ab@example.jp", None, "sales", "2026-01"),
            confirmation_token="c",
        )
        ledger.confirm("c")
        outbox = Outbox(ledger, OutboxPolicy(retry_base=timedelta(0)))
        url = f"http://127.0.0.1:{port}/"
        forger = PushSender(outbox, PushTarget(url, "not-the-secret"), str)
        assert forger.run_once().failed == 1  # 401: the signature does not verify
        push = PushSender(outbox, PushTarget(url, "doc-secret"), str)
        assert push.run_once().sent == 1
        withdraw_registration(ledger, "hosted-doc", recipient="agency")
        assert push.run_once().sent == 1
        with closing(sqlite3.connect(tmp_path / "received.db")) as db:
            rows = db.execute("SELECT registration_id, event, body FROM events ORDER BY rowid").fetchall()
        assert [row[:2] for row in rows] == [("hosted-doc", "registered"), ("hosted-doc", "withdrawn")]
        assert json.loads(rows[0][2])["candidate"]["email"] == "ab@example.jp"
    finally:
        receiver.terminate()
        receiver.wait(10)
        ledger.close()
