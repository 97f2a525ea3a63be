"""Hand-offs to the agency: outbox, signed push with retries, credits on acceptance, records, withdrawal.

The agency is a real HTTP server on loopback (`agency_fixtures.AgencyServer`) that verifies each
signature; the store is real SQLite and, with RELAY_SMTP_TEST_DATABASE_URL, PostgreSQL (the ``url``
fixture of test_store: a fresh file or schema per test).  "Two relays" are two Ledger/Outbox/PushSender
sets with their own connection pools, sending from two threads.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from agency_fixtures import AgencyServer
from sqlalchemy import func, select
from test_store import Clock, url  # noqa: F401  (the store fixture: SQLite and PostgreSQL)

from relay_smtp.agency import PushSender, PushTarget, outbox_policy, push_target
from relay_smtp.cli import main
from relay_smtp.config import ConfigError, load_settings
from relay_smtp.store.handoff_reports import OutboxStats
from relay_smtp.store.ledger import Ledger, Profile, UnknownRegistration
from relay_smtp.store.models import candidate_profiles, registrations
from relay_smtp.store.outbox import Outbox, OutboxPolicy, agency_outbox
from relay_smtp.store.records import provision_records, records_for_email
from relay_smtp.store.withdrawal import withdraw_registration

SECRET = "push-secret-for-tests"
AGENCY = "テスト人材株式会社"


@pytest.fixture
def clock() -> Clock:
    return Clock()


def agency_server(fail_first: int = 0) -> AgencyServer:
    return AgencyServer(SECRET, fail_first=fail_first).start()


@pytest.fixture
def agency() -> Iterator[AgencyServer]:
    server = agency_server(fail_first=3)
    yield server
    server.stop()


def open_relay(store_url: str, clock: Clock | None = None, **policy: object) -> tuple[Ledger, Outbox]:
    kwargs = {} if clock is None else {"clock": clock}
    ledger = Ledger.open(store_url, upgrade=True, registrations_per_credit=10, **kwargs)  # type: ignore[arg-type]
    return ledger, Outbox(ledger, OutboxPolicy(recipient=AGENCY, **policy))  # type: ignore[arg-type]


def sender(outbox: Outbox, server: AgencyServer) -> PushSender:
    return PushSender(outbox, PushTarget(server.url, SECRET, 5.0), lambda c: f"Company {c}")


def confirmed(ledger: Ledger, n: int, *, company: str = "acme", start: int = 0) -> list[str]:
    """n hosted registrations of distinct candidates, confirmed; their public ids."""
    ids = []
    for i in range(start, start + n):
        profile = Profile(f"候補 {i}", f"cand{i}@example.jp", "090-0000-0000", "sales", "2026-01")
        outcome = ledger.register(
            source="hosted",
            external_id=f"hosted-{i:04d}",
            company=company,
            recipient_hash=f"hash-{i}",
            message_id="m1",
            confirmed=False,
            profile=profile,
            confirmation_token=f"code-{i}",
        )
        ledger.confirm(f"code-{i}", locale="ja")
        ids.append(f"hosted-{i:04d}")
        assert not outcome.counted
    return ids


def test_push_retries_across_a_restart_and_credits_only_after_2xx(
    url: str,  # noqa: F811
    clock: Clock,
    agency: AgencyServer,
) -> None:
    ledger, outbox = open_relay(url, clock)
    ids = confirmed(ledger, 10)
    assert ledger.funnel("acme").counted == 0 and ledger.balance("acme") == 0

    first = sender(outbox, agency).run_once(limit=3)  # the agency answers 503 to these three
    assert (first.sent, first.failed) == (0, 3)
    assert ledger.balance("acme") == 0 and sum(agency.log.accepted.values()) == 0
    ledger.close()  # the relay restarts between attempts

    clock.advance(seconds=31)
    ledger, outbox = open_relay(url, clock)
    second = sender(outbox, agency).run_once(limit=50)
    assert (second.sent, second.failed) == (10, 0)
    assert agency.log.bad_signatures == 0
    assert set(agency.log.accepted) == {(i, "registered") for i in ids}
    assert all(n == 1 for n in agency.log.accepted.values())
    assert ledger.funnel("acme").counted == 10 and ledger.balance("acme") == 1

    clock.advance(hours=2)
    assert sender(outbox, agency).run_once().sent == 0  # nothing is owed any more
    body = agency.log.bodies[(ids[0], "registered")]
    assert body["candidate"] == {
        "name": "候補 0",
        "email": "cand0@example.jp",
        "phone": "090-0000-0000",
        "job_type": "sales",
        "locale": "ja",
    }
    assert body["consent"]["version"] == "2026-01" and body["company"] == {
        "id": "acme",
        "name": "Company acme",
    }
    (record,) = records_for_email(ledger.engine, "CAND0@example.jp")
    assert (record.kind, record.recipient, record.channel, record.registration_id) == (
        "provided",
        AGENCY,
        "push",
        ids[0],
    )
    assert record.items == ("name", "email", "phone", "job_type", "locale")
    ledger.close()


def test_growing_waits_then_flagged_then_retried_on_demand(url: str, clock: Clock) -> None:  # noqa: F811
    server = agency_server(fail_first=1000)
    ledger, outbox = open_relay(url, clock, max_age=timedelta(hours=1))
    try:
        confirmed(ledger, 1)
        push = sender(outbox, server)
        waits = []
        for _ in range(8):
            due = ledger.engine.connect().execute(select(agency_outbox.c.next_attempt_at)).scalar_one()
            clock.now = max(clock.now, due)
            push.run_once()
            after = ledger.engine.connect().execute(select(agency_outbox.c.next_attempt_at)).scalar_one()
            waits.append((after - clock.now).total_seconds())
            if outbox.stats().flagged:
                break
        assert waits[:4] == [30, 60, 120, 240]
        assert outbox.stats().flagged == 1 and outbox.stats().pending == 0
        (flag,) = outbox.flagged()
        assert flag.last_error == "HTTP 503" and flag.registration_id == "hosted-0000"
        clock.advance(days=1)
        assert push.run_once().failed == 0  # flagged: no more automatic attempts

        server.fail_first = 0
        assert outbox.retry_flagged() == 1
        assert push.run_once().sent == 1
        assert outbox.stats().delivered == 1 and ledger.funnel("acme").counted == 1
    finally:
        ledger.close()
        server.stop()


def test_two_relays_hand_over_fifty_registrations_once(url: str) -> None:  # noqa: F811
    """The "done when" run: agency down for a while, two relays, 50 registrations."""
    server = agency_server(fail_first=40)
    relays = [open_relay(url, retry_base=timedelta(0)) for _ in range(2)]
    try:
        ids = confirmed(relays[0][0], 25) + confirmed(relays[1][0], 25, start=25)
        senders = [sender(outbox, server) for _, outbox in relays]
        errors: list[BaseException] = []

        def run(push: PushSender) -> None:
            try:
                for _ in range(200):
                    push.run_once(limit=5)
                    if push.outbox.stats().pending == 0:
                        return
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(s,)) for s in senders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        ledger = relays[0][0]
        assert server.log.refused == 40 and server.log.bad_signatures == 0
        assert server.log.overlapping == 0
        assert set(server.log.accepted) == {(i, "registered") for i in ids}
        assert sorted(server.log.accepted.values()) == [1] * 50
        assert relays[0][1].stats().delivered == 50
        assert ledger.funnel("acme").counted == 50 and ledger.balance("acme") == 5
        with ledger.engine.connect() as c:
            records = c.scalar(select(func.count()).select_from(provision_records))
        assert records == 50
    finally:
        for ledger, _ in relays:
            ledger.close()
        server.stop()


def test_withdrawal_deletes_the_profile_and_tells_the_agency(url: str, clock: Clock) -> None:  # noqa: F811
    server = agency_server()
    ledger, outbox = open_relay(url, clock)
    try:
        (rid,) = confirmed(ledger, 1)
        push = sender(outbox, server)
        assert push.run_once().sent == 1
        counted_before = ledger.funnel("acme").counted
        done = withdraw_registration(ledger, rid, recipient=AGENCY)
        assert done is not None and done.notice_queued and not done.already
        with ledger.engine.connect() as c:
            assert c.scalar(select(func.count()).select_from(candidate_profiles)) == 0
        assert push.run_once().sent == 1
        assert server.log.accepted[(rid, "withdrawn")] == 1
        notice = server.log.bodies[(rid, "withdrawn")]
        assert set(notice) == {"event", "registration_id", "company", "withdrawn_at"}  # no personal data
        assert ledger.funnel("acme").counted == counted_before  # counts stay
        kinds = [r.kind for r in records_for_email(ledger.engine, "cand0@example.jp")]
        assert kinds == ["provided", "withdrawn"]
        again = withdraw_registration(ledger, rid, recipient=AGENCY)
        assert again is not None and again.already
        assert withdraw_registration(ledger, "hosted-nope", recipient=AGENCY) is None
    finally:
        ledger.close()
        server.stop()


def test_withdrawal_before_the_hand_off_cancels_it(url: str, clock: Clock) -> None:  # noqa: F811
    server = agency_server()
    ledger, outbox = open_relay(url, clock)
    try:
        (rid,) = confirmed(ledger, 1)
        withdraw_registration(ledger, rid, recipient=AGENCY)
        assert sender(outbox, server).run_once().sent == 1
        assert list(server.log.accepted) == [(rid, "withdrawn")]  # the registration itself never left
        assert ledger.funnel("acme").counted == 0
        with ledger.engine.connect() as c:
            reason = c.scalar(select(registrations.c.not_counted_reason))
        assert reason == "withdrawn"
        assert [r.kind for r in records_for_email(ledger.engine, "cand0@example.jp")] == ["withdrawn"]
    finally:
        ledger.close()
        server.stop()


def test_pull_and_push_hand_over_once(url: str, clock: Clock) -> None:  # noqa: F811
    server = agency_server()
    ledger, outbox = open_relay(url, clock)
    try:
        ids = confirmed(ledger, 5)
        page = outbox.undelivered(after=0, limit=2)
        assert [h.registration_id for h in page] == ids[:2]
        second = outbox.undelivered(after=page[-1].outbox_id, limit=2)
        assert [h.registration_id for h in second] == ids[2:4]
        assert outbox.acknowledge([page[0].outbox_id]) == {page[0].outbox_id: "acknowledged"}
        answers = outbox.acknowledge([page[0].outbox_id, 9999])
        assert answers == {page[0].outbox_id: "already handed over", 9999: "unknown"}
        assert ledger.funnel("acme").counted == 1
        assert sender(outbox, server).run_once().sent == 4  # push takes the rest, not the acknowledged one
        assert ids[0] not in {rid for rid, _ in server.log.accepted}
        assert outbox.acknowledge([second[0].outbox_id]) == {second[0].outbox_id: "already handed over"}
        assert ledger.funnel("acme").counted == 5
        assert outbox.undelivered(after=0, limit=10) == []
    finally:
        ledger.close()
        server.stop()


def test_cli_retries_flagged_hand_offs_and_exports_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = agency_server(fail_first=1)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    config = tmp_path / "relay.toml"
    config.write_text(
        f'[store]\nurl = "{store}"\n[agency]\nname = "{AGENCY}"\npush_url = "{server.url}"\n'
        f'push_secret = "{SECRET}"\npush_max_age_hours = 0.0001\n',
        encoding="utf-8",
    )
    ledger, outbox = open_relay(store, max_age=timedelta(0))
    try:
        (rid,) = confirmed(ledger, 1)
        sender(outbox, server).run_once()  # 503, and past max_age at once: flagged
        assert outbox.stats().flagged == 1
        assert main(["agency", "--config", str(config)]) == 0
        assert "flagged 1" in capsys.readouterr().out
        assert main(["agency", "retry", "--config", str(config)]) == 0
        assert "1 accepted" in capsys.readouterr().out
        assert server.log.accepted[(rid, "registered")] == 1 and outbox.stats().delivered == 1
        assert main(["records", "--config", str(config), "--email", "cand0@example.jp", "--json"]) == 0
        (record,) = json.loads(capsys.readouterr().out)
        assert (record["kind"], record["recipient"], record["person_name"]) == ("provided", AGENCY, "候補 0")
    finally:
        ledger.close()
        server.stop()


def test_withdrawal_before_confirmation_leaves_nothing_to_send(url: str, clock: Clock) -> None:  # noqa: F811
    ledger, outbox = open_relay(url, clock)
    try:
        ledger.register(
            source="hosted",
            external_id="hosted-early",
            company="acme",
            recipient_hash="hash-early",
            message_id="m1",
            confirmed=False,
            profile=Profile("早い 人", "early@example.jp", None, "other", "2026-01"),
            confirmation_token="code-early",
        )
        done = withdraw_registration(ledger, "hosted-early", recipient=AGENCY)
        assert done is not None and not done.notice_queued
        with pytest.raises(UnknownRegistration):
            ledger.confirm("code-early")  # the profile, and with it the confirmation, is gone
        assert outbox.entries() == []
        assert [r.kind for r in records_for_email(ledger.engine, "early@example.jp")] == ["withdrawn"]
    finally:
        ledger.close()


def test_records_outlive_the_profile_for_the_configured_years(url: str, clock: Clock) -> None:  # noqa: F811
    server = agency_server()
    ledger, outbox = open_relay(url, clock, record_years=3)
    try:
        confirmed(ledger, 1)
        sender(outbox, server).run_once()
        clock.advance(days=400)
        assert ledger.purge_personal_data(older_than=timedelta(days=365)) == 1
        (record,) = records_for_email(ledger.engine, "cand0@example.jp")  # the profile is gone, not this
        assert record.person_name == "候補 0"
        clock.advance(days=600)  # 1000 days after the hand-off: less than 3 years
        assert outbox.purge_expired_records() == 0
        clock.advance(days=100)  # 1100 days: past 3 years
        assert outbox.purge_expired_records() == 1
        assert records_for_email(ledger.engine, "cand0@example.jp") == []
    finally:
        ledger.close()
        server.stop()


def test_push_settings_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "relay.toml"
    config.write_text('[agency]\npush_url = "https://agency.example/hook"\npush_max_age_hours = 0\n', "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.problems == [
        "agency.push_max_age_hours: must be positive, not 0",
        "agency.push_url: needs agency.push_secret (the pushes are signed)",
    ]
    config.write_text(
        '[agency]\npush_url = "https://agency.example/hook"\npush_secret = "env:PUSH"\n'
        'pull_token = "env:PULL"\nprovision_record_years = 5\n',
        "utf-8",
    )
    agency = load_settings(config, {"PUSH": "s1", "PULL": "t1"}).agency
    assert (agency.push_secret, agency.pull_token, agency.provision_record_years) == ("s1", "t1", 5)
    target = push_target(agency)
    assert target is not None and target.url == "https://agency.example/hook"
    assert outbox_policy(agency).record_years == 5


def test_a_claimed_hand_off_is_left_alone_until_its_lease_runs_out(url: str, clock: Clock) -> None:  # noqa: F811
    server = agency_server()
    ledger, outbox = open_relay(url, clock, lease=timedelta(minutes=2))
    other_ledger, other_outbox = open_relay(url, clock, lease=timedelta(minutes=2))
    try:
        (rid,) = confirmed(ledger, 1)
        (claimed,) = outbox.claim("relay-that-dies")  # ... and never reports back
        assert claimed.registration_id == rid
        other = sender(other_outbox, server)
        assert other.run_once().sent == 0  # leased to the first relay
        clock.advance(minutes=2, seconds=1)
        assert other.run_once().sent == 1  # the lease ran out: another relay takes over
        assert server.log.accepted[(rid, "registered")] == 1
        assert not outbox.failed(claimed.outbox_id, "relay-that-dies", "late")  # too late to matter
        assert outbox.stats().delivered == 1
    finally:
        ledger.close()
        other_ledger.close()
        server.stop()


def test_a_hand_off_whose_profile_was_purged_is_cancelled(url: str, clock: Clock) -> None:  # noqa: F811
    ledger, outbox = open_relay(url, clock)
    try:
        confirmed(ledger, 2)
        clock.advance(days=400)  # the agency never took them, and the retention ran out
        assert ledger.purge_personal_data(older_than=timedelta(days=365)) == 2
        assert outbox.stats() == OutboxStats(pending=0, delivered=0, flagged=0, cancelled=2)
        assert outbox.undelivered(after=0, limit=10) == []
        assert ledger.funnel("acme").counted == 0
    finally:
        ledger.close()
