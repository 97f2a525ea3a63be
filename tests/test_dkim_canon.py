"""DKIM canonicalisation: relay-smtp's whole-buffer version against dkimpy's, on random input.

A verifier built on dkimpy must hash what the signer hashed, so every difference here, however odd
the input, is a signature that fails somewhere.  Then random messages signed end to end must verify
with dkimpy, RSA and Ed25519.
"""

from __future__ import annotations

from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from dkim.canonicalization import Relaxed, Simple
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay_smtp.mail.dkim import DkimSigner, HeaderField, LoadedKey, header_fields
from relay_smtp.mail.dkim.canon import (
    canonical_body,
    canonical_field,
    message_body,
    relaxed_body,
    relaxed_fields,
    select_fields,
    simple_body,
)
from relay_smtp.mail.dkim.keys import _dns_txt, normalise_domain
from relay_smtp.mail.dkim.sign import _SIMPLE_FROM, _parsed_from_domain

NOW = 1_767_225_600

# Pieces that meet every rule's edge: whitespace before line ends, runs of it, bare CR and LF, empty
# lines (at the end too), VT and FF (which bytes.strip strips), long lines, non-ASCII.
_PIECES = st.sampled_from(
    [
        *(b"a", b"xyz", b" ", b"  ", b"\t", b" \t ", b"\r\n", b"\r\n\r\n", b"\r", b"\n", b"\x0b", b"\x0c"),
        *(b"\xe3\x81\x82", b"=?UTF-8?B?5qCq?=", b"w" * 120, b":", b";"),
    ]
)
_BODIES = st.lists(_PIECES, max_size=40).map(b"".join)


@given(_BODIES)
@settings(max_examples=600)
def test_body_canonicalisation_is_dkimpys(body: bytes) -> None:
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)
    assert simple_body(body) == Simple.canonicalize_body(body)
    assert canonical_body(body, relaxed=True) == relaxed_body(body)


@given(st.lists(_BODIES, min_size=1, max_size=5))
@settings(max_examples=200)
def test_bodies_without_final_crlf(lines: list[bytes]) -> None:
    body = b"\r\n".join(line.replace(b"\r", b"").replace(b"\n", b"") for line in lines)
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)
    assert simple_body(body) == Simple.canonicalize_body(body)


_NAMES = st.sampled_from([b"Subject", b"FROM", b"to", b"X-Odd_Name.1", b"Content-Type"])
_VALUE_LINES = st.lists(
    st.lists(_PIECES.filter(lambda p: b"\n" not in p), max_size=8).map(b"".join), min_size=1
)


@given(_NAMES, _VALUE_LINES)
@settings(max_examples=400)
def test_header_canonicalisation_is_dkimpys(name: bytes, lines: list[bytes]) -> None:
    # Continuation lines start with whitespace, as header_fields hands them over.
    value = b"\r\n".join([lines[0]] + [b" " + line for line in lines[1:]]) + b"\r\n"
    [(dkimpy_name, dkimpy_value)] = Relaxed.canonicalize_headers([(name, value)])
    assert canonical_field(name, value, relaxed=True) == (dkimpy_name, dkimpy_value)
    assert relaxed_fields([HeaderField(name, value, 0, 0)] * 2) == (dkimpy_name + b":" + dkimpy_value) * 2
    assert canonical_field(name, value, relaxed=False) == (name, value)


@given(st.lists(_BODIES, max_size=6).map(b"\n".join))
def test_header_values_with_any_line_ends(value: bytes) -> None:
    [(_, expected)] = Relaxed.canonicalize_headers([(b"Subject", value)])
    assert canonical_field(b"Subject", value, relaxed=True)[1] == expected


_FIELD_LINES = st.lists(
    st.tuples(
        st.sampled_from([b"From", b"To", b"Subject", b"subject", b"Date", b"X-A", b"DKIM-Signature"]),
        st.lists(
            st.sampled_from([b"v", b" w", b"\tx", b"  ", b"=?UTF-8?Q?a?=", b"<a@b.example>"]), max_size=4
        ),
        st.lists(st.sampled_from([b" c", b"\td", b" ", b"\t \t"]), max_size=3),
    ),
    max_size=10,
)


def _message(fields: list[tuple[bytes, list[bytes], list[bytes]]], body: bytes, eol: bytes) -> bytes:
    lines = []
    for name, value, continuations in fields:
        lines.append(name + b":" + b"".join(value))
        lines.extend(continuations)
    return b"".join(line + eol for line in lines) + eol + body


@given(_FIELD_LINES, _BODIES.map(lambda b: b.replace(b"\r", b"")), st.sampled_from([b"\r\n", b"\n"]))
@settings(max_examples=300)
def test_header_scan_and_body_are_dkimpys(
    fields: list[tuple[bytes, list[bytes], list[bytes]]], body: bytes, eol: bytes
) -> None:
    raw = _message(fields, body.replace(b"\n", eol), eol)
    expected_headers, expected_body = dkim.rfc822_parse(raw)
    found, body_start = header_fields(raw)
    assert [(f.name, f.value) for f in found] == [tuple(h) for h in expected_headers]
    assert message_body(raw, body_start) == expected_body
    assert all(raw[f.start : f.end].split(b":", 1)[0] == f.name for f in found)
    names = [n.lower() for n, _, _ in fields] + [b"from", b"missing"]
    expected = dkim.select_headers(expected_headers, names)
    assert [(f.name, f.value) for f in select_fields(found, names)] == [tuple(h) for h in expected]


@pytest.mark.parametrize(
    ("raw", "value", "end"),
    [
        (b"Subject: a\r\r\n b\r\n\r\n", b" a\r\n b\r\n", 17),  # every CR before the LF goes
        (b"Subject: a\r\n b\r\r\n\r\n", b" a\r\n b\r\n", 17),
        (b"Subject: a\r\n b", b" a\r\n b\r\n", 14),  # a last continuation without a line end
        (b"Subject: a\n b\r\n\r\n", b" a\r\n b\r\n", 15),  # LF and CRLF mixed in one field
        (b"Subject: a", b" a\r\n", 10),
    ],
)
def test_header_scan_odd_line_ends(raw: bytes, value: bytes, end: int) -> None:
    [found], _ = header_fields(raw)
    assert (found.name, found.value, found.start, found.end) == (b"Subject", value, 0, end)


_FROM_PIECES = st.sampled_from(
    [
        *(
            " ",
            "\t",
            "Foo",
            "Bar.",
            '"Q, x"',
            "(c)",
            "=?UTF-8?B?5qCq?=",
            "\u3000",
            "\ufffd",
            "'o",
            ",",
            ";",
            ":",
        ),
        *("<hr@acme.example>", "<a.b@Sub.Acme.EXAMPLE>", "<a..b@x.y>", "<a@b.>", "< a@b>", "<a@[192.0.2.1]>"),
        *("hr@acme.example", "x+y@b-c.example", "a@b", "<>", "<", ">", "@", ".", "\x00", "\\"),
    ]
)


@given(st.lists(_FROM_PIECES, max_size=6).map("".join))
@settings(max_examples=1000)
def test_simple_from_values_read_as_the_parser_reads_them(text: str) -> None:
    simple = _SIMPLE_FROM.fullmatch(text)
    if simple is not None:
        assert _parsed_from_domain(text) == (normalise_domain(simple[1] or simple[2]), "")


def test_usual_from_values_take_the_simple_path() -> None:
    for text in (
        "=?UTF-8?B?5qCq?= <hr@acme.example>",
        " Acme Recruiting <hr@acme.example>",
        "hr@acme.example",
    ):
        assert _SIMPLE_FROM.fullmatch(text), text


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def signer_and_records() -> tuple[DkimSigner, dict[bytes, bytes]]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    keys = [
        LoadedKey("acme.example", "r", "rsa-sha256", Path("rsa.key"), rsa_key),
        LoadedKey("acme.example", "e", "ed25519-sha256", Path("ed.key"), ed_key),
    ]
    records = {b"r": _dns_txt(rsa_key).encode(), b"e": _dns_txt(ed_key).encode()}
    return DkimSigner.from_keys(keys), records


@given(
    _FIELD_LINES.map(lambda fs: [f for f in fs if f[0].lower() not in (b"from", b"dkim-signature")]),
    _BODIES,
    st.sampled_from([b"\r\n", b"\n"]),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_messages_verify_with_dkimpy(
    signer_and_records: tuple[DkimSigner, dict[bytes, bytes]],
    fields: list[tuple[bytes, list[bytes], list[bytes]]],
    body: bytes,
    eol: bytes,
) -> None:
    signer, records = signer_and_records
    raw = _message([(b"From", [b" <hr@acme.example>"], []), *fields], body, eol)
    result = signer.sign(raw, now=NOW)
    assert result.selectors == ("r", "e")

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return records[name.split(b".")[0]]

    for idx in (0, 1):
        assert dkim.DKIM(result.message).verify(idx=idx, dnsfunc=dnsfunc), idx
