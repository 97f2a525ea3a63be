"""DKIM: signatures that dkimpy verifies, oversigning, the key table, and stripping what our change broke."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import stat
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from relay_smtp.config import DkimKey
from relay_smtp.mail.dkim import (
    DkimKeyError,
    DkimSigner,
    LoadedKey,
    check_key,
    dns_record_name,
    from_domain,
    generate_key,
    header_fields,
    load_key,
    removable_signatures,
    strip_broken_signatures,
    txt_strings,
    verify_with_key,
    write_private_key,
)

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z; dkimpy refuses t= more than 10 hours in the future

MESSAGE = (
    "Return-Path: <recruit@acme.co.jp>\r\n"
    "Received: from hr.acme.co.jp (hr.acme.co.jp [192.0.2.1])\r\n"
    "\tby mx.acme.co.jp; Thu, 1 Jan 2026 09:00:00 +0900\r\n"
    "From: =?UTF-8?B?5qCq5byP5Lya56S+QUNNRSDmjqHnlKjmi4XlvZM=?=\r\n"
    " <recruit@acme.co.jp>\r\n"
    "To: =?UTF-8?B?5bGx55Sw5aSq6YOO?= <taro@example.com>,\r\n"
    "    hanako@example.com\r\n"
    "Cc: hr-archive@acme.co.jp\r\n"
    "Subject: =?UTF-8?B?6YG46ICD57WQ5p6c44Gu44GU6YCj57Wh?=\r\n"
    "  =?UTF-8?B?77yI5qCq5byP5Lya56S+QUNNRe+8iQ==?=\r\n"
    "Date: Thu, 1 Jan 2026 09:00:00 +0900\r\n"
    "Message-ID: <20260101090000.1234@acme.co.jp>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "山田 太郎 様\r\n"
    "\r\n"
    "この度は弊社の求人にご応募いただき、誠にありがとうございました。  \r\n"
    "慎重に選考を重ねました結果、誠に残念ながら今回はご期待に添えない結果となりました。\t\r\n"
    "\r\n"
    "株式会社ACME 採用担当\r\n"
    "\r\n"
    "\r\n"
).encode()


@dataclasses.dataclass(frozen=True)
class Keys:
    rsa: DkimKey
    rsa_txt: str
    ed: DkimKey
    ed_txt: str


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """One RSA-2048 and one Ed25519 key for acme.co.jp, generated once for the module."""
    directory = tmp_path_factory.mktemp("dkim")
    rsa_pem, rsa_txt = generate_key("rsa")
    ed_pem, ed_txt = generate_key("ed25519")
    write_private_key(directory / "rsa.key", rsa_pem)
    write_private_key(directory / "ed.key", ed_pem)
    return Keys(
        DkimKey("acme.co.jp", "relay2026", directory / "rsa.key", "rsa-sha256"),
        rsa_txt,
        DkimKey("acme.co.jp", "relay2026e", directory / "ed.key", "ed25519-sha256"),
        ed_txt,
    )


@pytest.fixture(scope="module")
def loaded(keys: Keys) -> tuple[LoadedKey, LoadedKey]:
    return load_key(keys.rsa), load_key(keys.ed)


def dns(txt: str) -> Callable[..., bytes]:
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return txt.encode()

    return dnsfunc


def verifies(message: bytes, idx: int, txt: str) -> bool:
    """dkimpy's verdict on one signature (DKIM.verify raises where dkim.verify returns False)."""
    try:
        return bool(dkim.DKIM(message).verify(idx=idx, dnsfunc=dns(txt)))
    except dkim.DKIMException:
        return False


def signature_tags(message: bytes) -> list[dict[bytes, bytes]]:
    fields, _ = header_fields(message)
    return [dkim.util.parse_tag_value(f.value) for f in fields if f.name.lower() == b"dkim-signature"]


def h_list(tags: dict[bytes, bytes]) -> list[bytes]:
    return [n.strip() for n in re.split(rb":", tags[b"h"])]


# --------------------------------------------------------------------------- sign and verify


def test_rsa_signature_verifies_with_dkimpy(keys: Keys) -> None:
    result = DkimSigner([keys.rsa]).sign(MESSAGE, now=NOW)
    assert result.signed and result.reason is None
    assert (result.domain, result.selectors) == ("acme.co.jp", ("relay2026",))
    assert dkim.verify(result.message, dnsfunc=dns(keys.rsa_txt))
    assert verify_with_key(result.message, keys.rsa_txt)


def test_ed25519_signature_verifies(keys: Keys) -> None:
    result = DkimSigner([keys.ed]).sign(MESSAGE, now=NOW)
    assert result.selectors == ("relay2026e",)
    assert signature_tags(result.message)[0][b"a"] == b"ed25519-sha256"
    assert verify_with_key(result.message, keys.ed_txt)
    assert not verify_with_key(result.message, generate_key("ed25519")[1])


@pytest.mark.skipif(importlib.util.find_spec("nacl") is None, reason="stock dkimpy needs PyNaCl for Ed25519")
def test_ed25519_signature_verifies_with_stock_dkimpy(keys: Keys) -> None:
    result = DkimSigner([keys.ed]).sign(MESSAGE, now=NOW)
    assert dkim.verify(result.message, dnsfunc=dns(keys.ed_txt))


def test_both_keys_for_one_domain_give_two_signatures(keys: Keys) -> None:
    result = DkimSigner([keys.rsa, keys.ed]).sign(MESSAGE, now=NOW)
    assert result.selectors == ("relay2026", "relay2026e")
    tags = signature_tags(result.message)
    assert [t[b"a"] for t in tags] == [b"rsa-sha256", b"ed25519-sha256"]
    assert all(t[b"d"] == b"acme.co.jp" and t[b"c"] == b"relaxed/relaxed" for t in tags)
    assert all(t[b"t"] == str(NOW).encode() for t in tags)
    assert verify_with_key(result.message, keys.rsa_txt)
    assert verify_with_key(result.message, keys.ed_txt)
    assert verifies(result.message, 0, keys.rsa_txt)


def test_only_signature_fields_are_prepended(keys: Keys) -> None:
    result = DkimSigner([keys.rsa, keys.ed]).sign(MESSAGE, now=NOW)
    prefix = result.message[: -len(MESSAGE)]
    assert result.message.endswith(MESSAGE)
    fields, body_start = header_fields(prefix + b"\r\n")
    assert [f.name for f in fields] == [b"DKIM-Signature", b"DKIM-Signature"]
    assert body_start == len(prefix) + 2
    lines = prefix.split(b"\r\n")[:-1]
    assert all(len(line) <= 78 for line in lines)
    assert b"\n" not in prefix.replace(b"\r\n", b"")


def test_lf_only_message_gets_lf_signature(keys: Keys) -> None:
    lf = MESSAGE.replace(b"\r\n", b"\n")
    result = DkimSigner([keys.rsa]).sign(lf, now=NOW)
    assert b"\r" not in result.message
    assert dkim.verify(result.message, dnsfunc=dns(keys.rsa_txt))
    assert dkim.verify(result.message.replace(b"\n", b"\r\n"), dnsfunc=dns(keys.rsa_txt))


def test_oversigning(keys: Keys) -> None:
    tags = signature_tags(DkimSigner([keys.rsa]).sign(MESSAGE, now=NOW).message)[0]
    names = Counter(h_list(tags))
    for name in (b"from", b"subject", b"date", b"to"):
        assert names[name] == 2, name  # one occurrence, listed twice
    for name in (b"cc", b"message-id", b"mime-version", b"content-type", b"content-transfer-encoding"):
        assert names[name] == 1, name
    for absent in (
        b"reply-to",
        b"sender",
        b"list-unsubscribe",
        b"x-career-relay",
        b"received",
        b"return-path",
    ):
        assert absent not in names


def test_marker_header_is_signed(keys: Keys) -> None:
    marked = b"X-Career-Relay: v1; company=acme\r\n" + MESSAGE
    result = DkimSigner([keys.rsa]).sign(marked, now=NOW)
    assert b"x-career-relay" in h_list(signature_tags(result.message)[0])
    assert not dkim.verify(
        result.message.replace(b"company=acme", b"company=evil"), dnsfunc=dns(keys.rsa_txt)
    )


def test_later_hop_additions(keys: Keys) -> None:
    signed = DkimSigner([keys.rsa]).sign(MESSAGE, now=NOW).message
    verify = dns(keys.rsa_txt)
    # Trace fields and unsigned headers may be added or rewritten by later hops...
    assert dkim.verify(b"Received: from relay by mx; Thu, 1 Jan 2026\r\n" + signed, dnsfunc=verify)
    assert dkim.verify(signed.replace(b"Cc: hr-archive", b"X-Spam: no\r\nCc: hr-archive"), dnsfunc=verify)
    # ...but an extra From, Subject, Date or To breaks the signature (oversigning).
    for extra in (b"From: evil@example.net", b"Subject: Win!", b"Date: now", b"To: x@example.net"):
        tampered = signed.replace(b"MIME-Version: 1.0\r\n", extra + b"\r\nMIME-Version: 1.0\r\n")
        assert not dkim.verify(tampered, dnsfunc=verify), extra


def test_changed_body_fails_verification(keys: Keys) -> None:
    signed = DkimSigner([keys.rsa]).sign(MESSAGE, now=NOW).message
    assert dkim.verify(signed, dnsfunc=dns(keys.rsa_txt))
    changed = signed.replace("誠にありがとう".encode(), "本当にありがとう".encode())
    assert not dkim.verify(changed, dnsfunc=dns(keys.rsa_txt))
    # Relaxed canonicalisation: whitespace changes at line ends and trailing empty lines are fine.
    relaxed = signed.replace("ました。  \r\n".encode(), "ました。\r\n".encode()) + b"\r\n\r\n"
    assert dkim.verify(relaxed, dnsfunc=dns(keys.rsa_txt))


def test_empty_body_and_headers_only(keys: Keys) -> None:
    head = MESSAGE.split(b"\r\n\r\n", 1)[0]
    for message in (head + b"\r\n\r\n", head + b"\r\n"):
        result = DkimSigner([keys.rsa]).sign(message, now=NOW)
        assert result.signed
        assert dkim.verify(result.message, dnsfunc=dns(keys.rsa_txt))


# --------------------------------------------------------------------------- choosing keys


def test_no_key_for_domain_leaves_message_unchanged(keys: Keys) -> None:
    message = MESSAGE.replace(b"recruit@acme.co.jp>", b"recruit@example.org>")
    result = DkimSigner([keys.rsa]).sign(message, now=NOW)
    assert result.message is message
    assert not result.signed
    assert result.reason == "no key for domain example.org"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ((b"From: ", b"X-From: "), "no From header"),
        ((b"From: ", b"From: a@acme.co.jp\r\nFrom: "), "several From headers"),
        (
            (b"\n <recruit@acme.co.jp>", b"\n <recruit@acme.co.jp>, x@example.org"),
            "From names several domains",
        ),
        ((b"\n <recruit@acme.co.jp>", b"\n undisclosed"), "From has no parsable address"),
    ],
)
def test_from_problems(keys: Keys, change: tuple[bytes, bytes], reason: str) -> None:
    message = MESSAGE.replace(*change, 1)
    result = DkimSigner([keys.rsa]).sign(message, now=NOW)
    assert (result.message, result.reason, result.signed) == (message, reason, False)


def test_from_domain_is_case_insensitive(keys: Keys) -> None:
    message = MESSAGE.replace(b"recruit@acme.co.jp>", b"Recruit@ACME.Co.JP>")
    result = DkimSigner([keys.rsa]).sign(message, now=NOW)
    assert result.domain == "acme.co.jp"
    assert dkim.verify(result.message, dnsfunc=dns(keys.rsa_txt))


def test_parent_domain_fallback(keys: Keys) -> None:
    message = MESSAGE.replace(b"recruit@acme.co.jp>", b"recruit@hr.acme.co.jp>")
    assert DkimSigner([keys.rsa]).sign(message).reason == "no key for domain hr.acme.co.jp"
    signer = DkimSigner([keys.rsa, keys.ed], parent_domains=True)
    assert [k.selector for k in signer.keys_for("hr.acme.co.jp")] == ["relay2026", "relay2026e"]
    assert [k.selector for k in signer.keys_for("a.b.hr.acme.co.jp")] == ["relay2026", "relay2026e"]
    assert signer.keys_for("co.jp") == ()
    assert signer.keys_for("notacme.co.jp") == ()
    result = signer.sign(message, now=NOW)
    assert (result.domain, result.signed) == ("acme.co.jp", True)
    assert signature_tags(result.message)[0][b"d"] == b"acme.co.jp"
    assert dkim.verify(result.message, dnsfunc=dns(keys.rsa_txt))


def test_parent_walk_never_reaches_a_tld(loaded: tuple[LoadedKey, LoadedKey]) -> None:
    tld_key = dataclasses.replace(loaded[0], domain="jp")
    signer = DkimSigner.from_keys([tld_key], parent_domains=True)
    assert signer.keys_for("acme.jp") == ()
    assert signer.keys_for("jp") == (tld_key,)


def test_internationalised_domain_signs_with_a_label(keys: Keys) -> None:
    key = dataclasses.replace(keys.rsa, domain="採用.example")
    message = MESSAGE.replace(b"recruit@acme.co.jp>", "recruit@採用.example>".encode())
    result = DkimSigner([key]).sign(message, now=NOW)
    assert result.domain == "xn--czu130b.example"
    assert signature_tags(result.message)[0][b"d"] == b"xn--czu130b.example"
    assert dkim.verify(result.message, dnsfunc=dns(keys.rsa_txt))
    a_label = MESSAGE.replace(b"recruit@acme.co.jp>", b"recruit@XN--CZU130B.example>")
    assert DkimSigner([key]).sign(a_label, now=NOW).signed


@pytest.mark.parametrize("selector", ["", "sel ector", "sel;d=evil", "セレクタ", "a..b"])
def test_bad_selector_is_refused(keys: Keys, selector: str) -> None:
    assert "selector" in (check_key(dataclasses.replace(keys.rsa, selector=selector)) or "")


def test_selector_twice_is_refused(keys: Keys) -> None:
    with pytest.raises(DkimKeyError, match="configured twice"):
        DkimSigner([keys.rsa, keys.rsa])


# --------------------------------------------------------------------------- key files


def test_short_rsa_key_is_rejected(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = weak.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "weak.key"
    path.write_bytes(pem)
    key = DkimKey("acme.co.jp", "old", path, "rsa-sha256")
    with pytest.raises(DkimKeyError) as excinfo:
        DkimSigner([key])
    assert str(path) in str(excinfo.value)
    assert "1024 bits" in str(excinfo.value)
    assert excinfo.value.key == key
    assert check_key(key) == str(excinfo.value)
    with pytest.raises(ValueError):
        generate_key("rsa", bits=1024)


def test_check_key_problems(tmp_path: Path, keys: Keys) -> None:
    assert check_key(keys.rsa) is None
    assert check_key(keys.ed) is None
    missing = DkimKey("acme.co.jp", "s", tmp_path / "missing.key")
    assert "cannot read" in (check_key(missing) or "")
    swapped = dataclasses.replace(keys.rsa, algorithm="ed25519-sha256")
    assert "holds an RSA key" in (check_key(swapped) or "")
    swapped = dataclasses.replace(keys.ed, algorithm="rsa-sha256")
    assert "holds an Ed25519 key" in (check_key(swapped) or "")
    junk = tmp_path / "junk.key"
    junk.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    assert "not a readable PEM" in (check_key(DkimKey("acme.co.jp", "s", junk)) or "")
    junk.write_bytes(b"hello world")
    assert "neither PEM nor" in (check_key(DkimKey("acme.co.jp", "s", junk, "ed25519-sha256")) or "")


def test_encrypted_pem_is_explained(tmp_path: Path) -> None:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    path = tmp_path / "enc.key"
    path.write_bytes(pem)
    assert "encrypted" in (check_key(DkimKey("acme.co.jp", "s", path, "ed25519-sha256")) or "")


def test_dkimpy_raw_ed25519_seed_is_accepted(tmp_path: Path) -> None:
    import base64

    private = ed25519.Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    path = tmp_path / "dknewkey.key"
    path.write_bytes(base64.b64encode(seed))  # what `dknewkey --ktype ed25519` writes, no newline
    key = DkimKey("acme.co.jp", "nacl", path, "ed25519-sha256")
    loaded = load_key(key)
    txt = f"v=DKIM1; k=ed25519; p={base64.b64encode(public).decode()}"
    assert loaded.dns_txt() == txt
    result = DkimSigner([key]).sign(MESSAGE, now=NOW)
    assert verify_with_key(result.message, txt)
    path.write_bytes(base64.b64encode(seed + public) + b"\n")  # libsodium's 64-byte form
    assert check_key(key) is None
    path.write_bytes(base64.b64encode(seed + bytes(32)))
    assert "does not match" in (check_key(key) or "")


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_keygen_output_verifies(tmp_path: Path, algorithm: str) -> None:
    pem, txt = generate_key("rsa" if algorithm == "rsa" else "ed25519")
    assert txt.startswith(f"v=DKIM1; k={algorithm}; p=")
    if algorithm == "ed25519":
        assert len(txt.rpartition("p=")[2]) == 44  # 32 raw bytes, RFC 8463
    else:
        assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
        assert all(len(s) <= 255 for s in txt_strings(txt)) and "".join(txt_strings(txt)) == txt
    path = tmp_path / "keys" / "acme.co.jp.relay.key"
    write_private_key(path, pem)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    with pytest.raises(FileExistsError):
        write_private_key(path, pem)
    write_private_key(path, pem, overwrite=True)
    key = DkimKey("acme.co.jp", "relay", path, "rsa-sha256" if algorithm == "rsa" else "ed25519-sha256")
    assert load_key(key).dns_txt() == txt
    result = DkimSigner([key]).sign(MESSAGE, now=NOW)
    assert verify_with_key(result.message, txt)
    if algorithm == "rsa":
        assert dkim.verify(result.message, dnsfunc=dns(txt))
    assert dns_record_name("relay", "acme.co.jp") == "relay._domainkey.acme.co.jp"
    assert load_key(key).record_name == "relay._domainkey.acme.co.jp"


# --------------------------------------------------------------------------- stripping broken signatures


def splice(message: bytes) -> bytes:
    """What the relay does to a rejection: a block inserted before the sign-off, and its marker."""
    block = "\r\n【Career Relay】https://relay.example.co.jp/r/abc\r\n".encode()
    sign_off = "株式会社ACME 採用担当".encode()
    return b"X-Career-Relay: v1\r\n" + message.replace(sign_off, block + sign_off)


def dkimpy_sign(message: bytes, key: DkimKey, **kwargs: object) -> bytes:
    header: bytes = dkim.sign(
        message, key.selector.encode(), key.domain.encode(), key.key_file.read_bytes(), **kwargs
    )
    return header + message


def test_strip_removes_broken_and_keeps_intact(keys: Keys) -> None:
    # An upstream signature over the whole body, and one with l= (body length) on top of it.
    whole = dkimpy_sign(MESSAGE, keys.rsa, canonicalize=(b"relaxed", b"relaxed"))
    original = dkimpy_sign(whole, keys.rsa, canonicalize=(b"relaxed", b"relaxed"), length=True)
    assert b"l" in signature_tags(original)[0] and b"l" not in signature_tags(original)[1]
    # A block appended at the end of the body: beyond l=, so only the signature without l= breaks.
    changed = original + "\r\n【Career Relay】https://relay.example.co.jp/r/abc\r\n".encode()
    assert verifies(changed, 0, keys.rsa_txt)
    assert not verifies(changed, 1, keys.rsa_txt)

    ranges = removable_signatures(changed, original)
    fields, _ = header_fields(changed)
    signatures = [f for f in fields if f.name == b"DKIM-Signature"]
    assert ranges == [(signatures[1].start, signatures[1].end)]

    stripped = strip_broken_signatures(original, changed)
    assert stripped == changed[: ranges[0][0]] + changed[ranges[0][1] :]
    assert len(signature_tags(stripped)) == 1
    assert dkim.verify(stripped, dnsfunc=dns(keys.rsa_txt))
    assert removable_signatures(changed) == ranges  # the body hash alone tells the same here


def test_strip_keeps_everything_when_nothing_broke(keys: Keys) -> None:
    original = dkimpy_sign(MESSAGE, keys.rsa, canonicalize=(b"relaxed", b"relaxed"), length=True)
    changed = original + "\r\n【Career Relay】\r\n".encode()
    assert dkim.verify(changed, dnsfunc=dns(keys.rsa_txt))
    assert removable_signatures(changed, original) == []
    assert strip_broken_signatures(original, changed) == changed


def test_strip_removes_signature_broken_by_a_header_change(keys: Keys) -> None:
    # This signature names X-Career-Relay while it is absent ("null-signs" it): our marker breaks it.
    null_signed = dkimpy_sign(MESSAGE, keys.rsa, include_headers=[b"from", b"subject", b"x-career-relay"])
    original = dkimpy_sign(null_signed, keys.rsa, include_headers=[b"from"])
    changed = b"X-Career-Relay: v1\r\n" + original
    assert verifies(changed, 0, keys.rsa_txt)
    assert not verifies(changed, 1, keys.rsa_txt)
    fields, _ = header_fields(changed)
    signatures = [f for f in fields if f.name == b"DKIM-Signature"]
    assert removable_signatures(changed, original) == [(signatures[1].start, signatures[1].end)]
    stripped = strip_broken_signatures(original, changed)
    assert len(signature_tags(stripped)) == 1
    assert dkim.verify(stripped, dnsfunc=dns(keys.rsa_txt))
    assert removable_signatures(changed) == []  # without the original, only body hashes are checked


def test_strip_keeps_signatures_that_were_already_broken(keys: Keys) -> None:
    signed = dkimpy_sign(MESSAGE, keys.rsa, canonicalize=(b"relaxed", b"relaxed"))
    already_broken = signed.replace("山田".encode(), "田中".encode())
    changed = splice(already_broken)
    assert removable_signatures(changed, already_broken) == []
    assert removable_signatures(changed) != []  # by body hash alone it is broken


def test_strip_ignores_unreadable_signatures() -> None:
    garbage = b"DKIM-Signature: this is not a tag list\r\nDKIM-Signature: v=1; a=rsa-sha256; bh=!!\r\n"
    original = garbage + MESSAGE
    assert removable_signatures(splice(original), original) == []


def test_sign_after_strip_is_the_relay_path(keys: Keys) -> None:
    original = dkimpy_sign(MESSAGE, keys.rsa, canonicalize=(b"relaxed", b"simple"))
    changed = strip_broken_signatures(original, splice(original))
    assert len(signature_tags(changed)) == 0
    result = DkimSigner([keys.rsa, keys.ed]).sign(changed, now=NOW)
    assert dkim.verify(result.message, dnsfunc=dns(keys.rsa_txt))
    assert verify_with_key(result.message, keys.ed_txt)
    assert b"x-career-relay" in h_list(signature_tags(result.message)[0])


# --------------------------------------------------------------------------- header reading


def test_header_fields_offsets_and_values() -> None:
    fields, body_start = header_fields(MESSAGE)
    assert MESSAGE[body_start:].startswith("山田".encode())
    for f in fields:
        raw = MESSAGE[f.start : f.end]
        assert raw.startswith(f.name + b":")
        assert raw.endswith(b"\r\n")
    assert [[f.name, f.value] for f in fields] == dkim.rfc822_parse(MESSAGE)[0]


def test_header_without_separator_ends_at_first_non_field_line() -> None:
    message = b"From: a@acme.co.jp\r\nSubject: hi\r\nHello there, no blank line.\r\nBye\r\n"
    fields, body_start = header_fields(message)
    assert [f.name for f in fields] == [b"From", b"Subject"]
    assert message[body_start:] == b"Hello there, no blank line.\r\nBye\r\n"
    assert from_domain(fields) == ("acme.co.jp", "")


# --------------------------------------------------------------------------- the corpus


@pytest.mark.corpus
def test_corpus_signatures_verify(
    corpus: list[Path], loaded: tuple[LoadedKey, LoadedKey], keys: Keys
) -> None:
    """Every corpus message with a usable From is signed (RSA and Ed25519) and verifies with dkimpy.

    Line endings become CRLF as on the wire.  Skipped, with a counted reason: no usable From, and
    headers dkimpy itself cannot parse (a line that is neither a field nor a continuation).
    """
    skipped: Counter[str] = Counter()
    failures: list[str] = []
    signed = 0
    for path in corpus:
        message = re.sub(rb"\r?\n", b"\r\n", path.read_bytes())
        if message.startswith(b"From "):  # mbox separator, never on the SMTP wire
            message = message.split(b"\r\n", 1)[1]
        domain, why = from_domain(header_fields(message)[0])
        if domain is None:
            skipped[why] += 1
            continue
        try:
            dkim.rfc822_parse(message)
        except (dkim.MessageFormatError, IndexError):
            skipped["dkimpy cannot parse the header"] += 1
            continue
        signer = DkimSigner.from_keys(dataclasses.replace(k, domain=domain) for k in loaded)
        result = signer.sign(message, now=NOW)
        if not result.signed or not result.message.endswith(message):
            failures.append(f"{path}: not signed ({result.reason})")
            continue
        signed += 1
        if not verifies(result.message, 0, keys.rsa_txt):
            failures.append(f"{path}: RSA signature does not verify")
        if not verify_with_key(result.message, keys.ed_txt):
            failures.append(f"{path}: Ed25519 signature does not verify")
    print(f"corpus: {signed} signed, skipped {dict(skipped)}")
    assert not failures, "\n".join(failures)
    assert signed > len(corpus) // 2
