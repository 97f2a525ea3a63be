"""``relay-smtp report``: a company's month as text (ja/en) and CSV, from a real store, as a process."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relay_smtp.store import kpi, satisfaction, talent_pool
from relay_smtp.store.kpi import ObservedMail
from relay_smtp.store.ledger import IssuedLink, Ledger
from relay_smtp.store.talent_pool import PoolEntry
from relay_smtp.web.admin_csv import csv_text

NOV = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)


def seed(url: str) -> None:
    ledger = Ledger.open(url, upgrade=True, clock=lambda: NOV)
    try:
        for i in range(20):
            ledger.record_rejection("acme", f"m{i}", f"q{i}", "injected")
            ledger.record_links([IssuedLink("acme", f"h{i:014d}", f"m{i}", NOV)])
        for i in range(10):
            ledger.record_click("acme", f"h{i:014d}", f"m{i}", user_agent="Mozilla", suspected_bot=False)
            outcome = ledger.register(
                source="agency",
                external_id=f"a{i}",
                company="acme",
                recipient_hash=f"h{i:014d}",
                message_id=f"m{i}",
                confirmed=True,
            )
        ledger.redeem("acme", "hire")
        for score, voter in ((5, "v1"), (4, "v2"), (3, "v3")):
            assert satisfaction.record_answer(ledger.engine, "acme", voter, score, NOV)
        rejected = [ObservedMail("rejection", "acme", f"h{i:014d}", f"r{i}", (), NOV) for i in range(4)]
        invited = ObservedMail("contact", "acme", "h00000000000000", "new", (), NOV + timedelta(days=15))
        assert kpi.record_mail(ledger.engine, [*rejected, invited], min_days=14, window_days=365) == 1
        entry = PoolEntry(
            outcome.registration_id, "acme", "池田", "ikeda@example.jp", "sales", "2026-01", NOV
        )
        talent_pool.join(ledger.engine, entry, confirmed_at=NOV)
    finally:
        ledger.close()


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relay_smtp.cli", "report", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_monthly_report_in_text_and_csv(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'report.db'}"
    seed(url)
    config = tmp_path / "relay.toml"
    config.write_text(
        f'[store]\nurl = "{url}"\n\n[[companies]]\nid = "acme"\nname = "株式会社ACME"\nlocale = "ja"\n',
        encoding="utf-8",
    )
    ja = run(config, "--company", "acme", "--month", "2026-11")
    assert ja.returncode == 0, ja.stderr
    text = ja.stdout
    assert "株式会社ACME (acme)" in text and "2026年11月 (JST)" in text
    assert "不採用通知" in text and "20" in text
    assert "カウント対象" in text and "100.0%" in text
    assert "紹介採用（クレジット利用）" in text
    assert "  獲得クレジット                      1    10.0%\n" in text
    assert "候補者満足度: 平均 4.00 (回答数: 3) 1:0 2:0 3:1 4:1 5:1" in text
    assert "再応募率: 25.0%" in text and "タレントプール: 1" in text
    en = run(config, "--company", "acme", "--month", "2026-11", "--lang", "en")
    assert "Re-application rate: 25.0%" in en.stdout and "Nov 2026 (UTC)" in en.stdout

    csv_run = run(config, "--company", "acme", "--month", "2026-11", "--format", "csv")
    rows = dict(line.split(",", 1) for line in csv_run.stdout.splitlines()[1:])
    assert rows["rejections_seen"] == "20" and rows["links_issued_rate"] == "1.0000"
    assert rows["human_clicks"] == "10" and rows["human_clicks_rate"] == "0.5000"
    assert rows["credits_earned"] == "1" and rows["referral_hires"] == "1"
    assert rows["satisfaction_average"] == "4.00" and rows["satisfaction_score_5"] == "1"
    assert rows["reapplication_rate"] == "0.2500" and rows["reapplied_and_registered"] == "1"
    assert rows["talent_pool_size"] == "1"

    october = run(config, "--company", "acme", "--month", "2026-10", "--format", "csv")
    assert "rejections_seen,0" in october.stdout
    purge = subprocess.run(
        [sys.executable, "-m", "relay_smtp.cli", "db", "purge", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert purge.returncode == 0, purge.stderr
    assert re.search(r"removed \d+ talent pool entries", purge.stdout)
    assert run(config, "--company", "nobody", "--month", "2026-11").returncode == 2
    assert run(config, "--company", "acme", "--month", "11/2026").returncode == 2


def test_csv_defuses_text_that_a_spreadsheet_would_run_and_keeps_numbers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'report.db'}"
    Ledger.open(url, upgrade=True).close()
    config = tmp_path / "relay.toml"
    config.write_text(
        f'[store]\nurl = "{url}"\n\n[[companies]]\nid = "=1+2"\nname = "ACME"\nlocale = "en"\n',
        encoding="utf-8",
    )
    csv_run = run(config, "--company", "=1+2", "--month", "2026-11", "--format", "csv")
    assert csv_run.returncode == 0, csv_run.stderr
    rows = dict(line.split(",", 1) for line in csv_run.stdout.splitlines()[1:])
    assert rows["company"] == "'=1+2" and rows["rejections_seen"] == "0"
    # The one writer every CSV goes through: text is defused whatever it starts with, numbers are not.
    lines = csv_text(["n", "t"], [[-3, "-3"], [2.5, "@SUM(A1)"], [None, "\tx"], [0, "\rx"], [1, "+x"]])
    assert lines.split("\r\n")[1:-1] == ["-3,'-3", "2.5,'@SUM(A1)", ",'\tx", '0,"\'\rx"', "1,'+x"]
