"""Referral tokens: round trip, no personal data, short URLs, and a distinct error for each bad token."""

from __future__ import annotations

import base64
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay_smtp.config import LinkSettings
from relay_smtp.links import (
    BadSignature,
    ExpiredToken,
    LinkClaims,
    LinkError,
    LinkSigner,
    MalformedToken,
    link,
)

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400
SECRET = "s3cret-0123456789abcdef0123456789abcdef"
OLD_SECRET = "old-0123456789abcdef0123456789abcdef0123"
ADDRESS = "Taro.Yamada@example.co.jp"
QUEUE_ID = "4F2A9C01BE"  # the relay's queue ids are 10 hex digits


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signer(*secrets: str, clock: Clock | None = None, max_age_days: int = 180) -> LinkSigner:
    return LinkSigner(secrets or (SECRET,), max_age_days, clock=clock or Clock())


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_round_trip() -> None:
    s = signer()
    claims = s.verify(s.issue("acme", ADDRESS, QUEUE_ID))
    assert claims == LinkClaims("acme", s.recipient_hash(ADDRESS), QUEUE_ID, NOW)


# 16 characters are at most 64 octets of UTF-8: within the limits of company and message id.
@given(st.text(min_size=1, max_size=16), st.emails(), st.text(min_size=1, max_size=16))
def test_the_claims_given_at_issue_are_what_the_token_says(company: str, address: str, mid: str) -> None:
    """Links travel as data: the issuer's claims must be exactly what verifying the token gives."""
    s = signer()
    token, claims = s.issue_with_claims(company, address, mid)
    assert s.verify(token) == claims


def test_recipient_hash_ignores_case_and_surrounding_space() -> None:
    s = signer()
    assert s.recipient_hash(ADDRESS) == s.recipient_hash(" taro.yamada@EXAMPLE.co.jp ")
    assert s.recipient_hash(ADDRESS) != s.recipient_hash("hanako@example.co.jp")
    assert len(s.recipient_hash(ADDRESS)) == 16


def test_no_personal_data_in_token() -> None:
    s = signer()
    token = s.issue("acme", ADDRESS, QUEUE_ID)
    payload, signature = token.split(".")
    views = [token.lower(), b64decode(payload).decode("latin-1").lower(), b64decode(signature).hex()]
    for needle in (ADDRESS.lower(), "taro.yamada", "taro", "yamada", "example.co.jp"):
        for view in views:
            assert needle not in view


def test_url_is_short() -> None:
    token = signer().issue("acme", ADDRESS, QUEUE_ID)
    url = link("https://relay.example.co.jp", token)
    assert url.startswith("https://relay.example.co.jp/r/")
    assert len(url) < 120
    # The documented budget: a 22-byte company id still fits.
    long_company = signer().issue("acme-holdings-japan-22", ADDRESS, QUEUE_ID)
    assert len(link("https://relay.example.co.jp", long_company)) < 120


def test_url_safe_characters() -> None:
    token = signer().issue("株式会社/../?#&", ADDRESS, QUEUE_ID)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_link_joins_without_double_slash() -> None:
    assert link("https://r.example/", "abc") == "https://r.example/r/abc"
    assert link("https://r.example", "abc") == "https://r.example/r/abc"


def test_forged_token_changed_character() -> None:
    s = signer()
    token = s.issue("acme", ADDRESS, QUEUE_ID)
    for i in range(len(token)):
        if token[i] == ".":
            continue
        replacement = "A" if token[i] != "A" else "B"
        forged = token[:i] + replacement + token[i + 1 :]
        with pytest.raises(BadSignature):
            s.verify(forged)


def test_forged_company_with_reused_signature() -> None:
    s = signer()
    token = s.issue("acme", ADDRESS, QUEUE_ID)
    other = s.issue("evil", ADDRESS, QUEUE_ID)
    with pytest.raises(BadSignature):
        s.verify(other.split(".")[0] + "." + token.split(".")[1])


def test_truncated_token() -> None:
    s = signer()
    token = s.issue("acme", ADDRESS, QUEUE_ID)
    for cut in (1, 5, len(token.split(".")[1]), len(token.split(".")[1]) + 1, len(token) - 3):
        with pytest.raises(MalformedToken):
            s.verify(token[:-cut])


def test_signed_with_another_secret() -> None:
    token = signer("another-secret-entirely-0123456789").issue("acme", ADDRESS, QUEUE_ID)
    with pytest.raises(BadSignature):
        signer().verify(token)


def test_expired() -> None:
    clock = Clock()
    s = signer(clock=clock, max_age_days=180)
    token = s.issue("acme", ADDRESS, QUEUE_ID)
    clock.now = NOW + 180 * DAY
    assert s.verify(token).issued_at == NOW  # the last second of validity
    clock.now = NOW + 180 * DAY + 1
    with pytest.raises(ExpiredToken):
        s.verify(token)


def test_future_dated() -> None:
    clock = Clock(NOW + DAY)
    token = signer(clock=clock).issue("acme", ADDRESS, QUEUE_ID)
    with pytest.raises(MalformedToken, match="future"):
        signer().verify(token)


def test_small_clock_skew_is_tolerated() -> None:
    token = signer(clock=Clock(NOW + 60)).issue("acme", ADDRESS, QUEUE_ID)
    assert signer().verify(token).issued_at == NOW + 60


@pytest.mark.parametrize(
    "garbage",
    ["", ".", "abc", "abc.", ".abc", "a.b.c", "!!!!.????", "acme.co.jp", "x" * 5000, "é.é", "a b.cd"],
)
def test_garbage(garbage: str) -> None:
    with pytest.raises(MalformedToken):
        signer().verify(garbage)


def test_errors_are_link_errors() -> None:
    for error in (MalformedToken, BadSignature, ExpiredToken):
        assert issubclass(error, LinkError)
    assert len({MalformedToken, BadSignature, ExpiredToken}) == 3
    assert not issubclass(BadSignature, MalformedToken)
    assert not issubclass(ExpiredToken, BadSignature)


def test_rotation() -> None:
    old = signer(OLD_SECRET)
    old_token = old.issue("acme", ADDRESS, QUEUE_ID)
    rotated = signer("new-secret-0123456789abcdef0123456789ab", OLD_SECRET)
    assert rotated.verify(old_token).company == "acme"
    new_token = rotated.issue("acme", ADDRESS, QUEUE_ID)
    # The first secret signs: a signer that knows only the new secret accepts the new token...
    assert signer("new-secret-0123456789abcdef0123456789ab").verify(new_token).company == "acme"
    # ...and one that knows only the old secret does not.
    with pytest.raises(BadSignature):
        old.verify(new_token)
    # The recipient hash survives the rotation (the ledger deduplicates on it).
    assert rotated.recipient_hash(ADDRESS) == old.recipient_hash(ADDRESS)
    assert rotated.verify(new_token).recipient_hash == old.verify(old_token).recipient_hash


def test_hash_secret_overrides_the_last_secret() -> None:
    a = LinkSigner([SECRET], 180, hash_secret="pinned")
    b = LinkSigner(["other-secret-0123456789abcdef012345"], 180, hash_secret="pinned")
    assert a.recipient_hash(ADDRESS) == b.recipient_hash(ADDRESS)
    assert a.recipient_hash(ADDRESS) != signer().recipient_hash(ADDRESS)


def test_salt_separates_from_other_itsdangerous_uses() -> None:
    import itsdangerous

    foreign = itsdangerous.Signer(SECRET).sign("payload").decode()
    with pytest.raises(LinkError):
        signer().verify(foreign)


def test_no_secrets_is_refused_and_development_warns(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError):
        LinkSigner([], 180)
    with caplog.at_level(logging.WARNING, logger="relay_smtp.links"):
        dev = LinkSigner.from_settings(LinkSettings())
    assert "development" in caplog.text
    assert dev.verify(dev.issue("acme", ADDRESS, QUEUE_ID)).company == "acme"
    other_dev = LinkSigner.development()
    with pytest.raises(BadSignature):
        other_dev.verify(dev.issue("acme", ADDRESS, QUEUE_ID))


def test_from_settings_uses_configured_secrets() -> None:
    configured = LinkSigner.from_settings(LinkSettings(secrets=(SECRET,), max_age_days=30), clock=Clock())
    assert signer().verify(configured.issue("acme", ADDRESS, QUEUE_ID)).company == "acme"
    assert configured.max_age_seconds == 30 * DAY


@pytest.mark.parametrize("company", ["", "x" * 65])
def test_company_id_bounds(company: str) -> None:
    with pytest.raises(ValueError):
        signer().issue(company, ADDRESS, QUEUE_ID)


def test_short_message_id() -> None:
    s = signer()
    mid = s.short_message_id("<20260101.abc@acme.co.jp>")
    assert len(mid) == 8
    assert mid == s.short_message_id(" <20260101.abc@acme.co.jp> ")
    assert mid != s.short_message_id("<20260101.abd@acme.co.jp>")
    assert s.verify(s.issue("acme", ADDRESS, mid)).message_id == mid


def test_nothing_in_a_token_can_be_checked_against_a_guessed_address_without_the_secret() -> None:
    """With no Message-ID the relay uses "company:recipient"; the field must be keyed, not a hash."""
    import hashlib

    s = signer()
    guess = f"acme:{ADDRESS}"
    mid = s.short_message_id(guess)
    unkeyed = base64.urlsafe_b64encode(hashlib.sha256(guess.encode()).digest()[:6]).rstrip(b"=").decode()
    assert mid != unkeyed
    other = LinkSigner(["another-secret-0123456789abcdef"])
    assert other.short_message_id(guess) != mid  # a different key, a different field
    # And the same under secret rotation (prepending a new signing secret), like the recipient hash.
    rotated = LinkSigner(["a-new-secret-0123456789abcdef", SECRET])
    assert rotated.short_message_id(guess) == mid


@pytest.mark.parametrize(
    "company",
    ["acme", "株式会社ACME", "a.b-c_d", "a/b?c#d&e=f", "../..", "with space", "tab\there", "😀", "\x00"],
)
def test_unusual_company_ids(company: str) -> None:
    s = signer()
    assert s.verify(s.issue(company, ADDRESS, QUEUE_ID)).company == company


def _fits(limit: int) -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=limit).filter(lambda t: 0 < len(t.encode("utf-8")) <= limit)


@settings(max_examples=200, deadline=None)
@given(company=_fits(64), address=st.emails(), message_id=_fits(64), offset=st.integers(0, 180 * DAY))
def test_round_trip_property(company: str, address: str, message_id: str, offset: int) -> None:
    issuer = signer()
    token = issuer.issue(company, address, message_id)
    claims = signer(clock=Clock(NOW + offset)).verify(token)
    assert claims == LinkClaims(company, issuer.recipient_hash(address), message_id, NOW)
    # The payload is exactly: issued_at, the keyed hash, the message id and the company; no address.
    payload = b64decode(token.split(".")[0])
    assert payload[4:16] == b64decode(claims.recipient_hash)
    assert payload[17:] == message_id.encode() + company.encode()
