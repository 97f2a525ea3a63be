"""transfer.py: inserting into a leaf body keeps its Content-Transfer-Encoding and its other bytes."""

from __future__ import annotations

import base64
import email.quoprimime
import quopri
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay_smtp.mail.transfer import (
    UnsupportedPart,
    decode_body,
    detect_newline,
    insert_encoded,
    normalize_cte,
    reencode,
    replace_encoded,
)

# --- helpers (test_inject_text and test_inject_html use them too) ----------------------------------

Seq = TypeVar("Seq", str, bytes)


def qp(data: bytes, line_length: int = 76, eol: str = "\r\n") -> bytes:
    """Quoted-printable as the stdlib email package writes it (soft breaks at ``line_length``)."""
    return email.quoprimime.body_encode(data.decode("latin-1"), line_length, eol).encode("ascii")


def b64(data: bytes, line_length: int = 76, eol: bytes = b"\r\n") -> bytes:
    encoded = base64.b64encode(data)
    lines = [encoded[i : i + line_length] for i in range(0, len(encoded), line_length)]
    return b"".join(line + eol for line in lines)


def kept_around(original: Seq, new: Seq) -> Seq:
    """What ``new`` adds to ``original``; fails unless all of ``original`` is still in ``new``,
    unchanged, before and after one insertion point."""
    assert len(new) >= len(original)
    prefix = 0
    while prefix < len(original) and original[prefix] == new[prefix]:
        prefix += 1
    suffix = len(original) - prefix
    assert new[len(new) - suffix :] == original[prefix:], "original bytes changed"
    return new[prefix : len(new) - suffix]


# --- basics ------------------------------------------------------------------------------------


def test_normalize_cte_defaults_to_7bit_and_rejects_unknown() -> None:
    assert normalize_cte(None) == "7bit"
    assert normalize_cte(" Quoted-Printable ") == "quoted-printable"
    assert normalize_cte("BASE64") == "base64"
    with pytest.raises(UnsupportedPart):
        normalize_cte("x-uuencode")


def test_detect_newline() -> None:
    assert detect_newline(b"a\r\nb\n") == b"\r\n"
    assert detect_newline(b"a\nb\r\n") == b"\n"
    assert detect_newline(b"no newline") == b"\r\n"


def test_identity_line_starts_and_insert() -> None:
    body = b"one\r\ntwo\r\nthree"
    decoded = decode_body(body, "8bit")
    assert decoded.data == body
    assert decoded.line_starts == (0, 5, 10, len(body))
    assert insert_encoded(body, "8bit", 5, b"NEW\r\n", b"\r\n") == b"one\r\nNEW\r\ntwo\r\nthree"


def test_identity_replace() -> None:
    body = b"a {{x}} b\n"
    assert replace_encoded(body, "7bit", 2, 7, b"Y", b"\n") == b"a Y b\n"


# --- quoted-printable ----------------------------------------------------------------------------

SOFT_BROKEN = (
    b"Sehr geehrte Frau M=C3=BCller, vielen Dank f=C3=BCr Ihre Bewerbung und Ihr Int=\r\n"
    b"eresse an unserem Unternehmen.\r\n"
    b"\r\n"
    b"Mit freundlichen Gr=C3=BC=C3=9Fen=20\r\n"
    b"Personalabteilung\r\n"
)


def test_qp_decode_joins_soft_breaks_and_lists_hard_line_starts() -> None:
    decoded = decode_body(SOFT_BROKEN, "quoted-printable")
    assert decoded.data == quopri.decodestring(SOFT_BROKEN)
    text = decoded.data.decode("utf-8")
    assert "Interesse" in text
    # The soft break inside "Interesse" is no place to insert; the hard line starts are.
    first_line_end = text.index("\r\n") + 2
    assert decoded.line_starts[:2] == (0, len(text[:first_line_end].encode()))
    assert decoded.line_starts[-1] == len(decoded.data)


def test_qp_insert_keeps_every_original_line() -> None:
    decoded = decode_body(SOFT_BROKEN, "quoted-printable")
    insertion = "Zusätzlicher Absatz mit = Zeichen und Leerzeichen am Ende \r\n".encode()
    for offset in decoded.line_starts:
        new = insert_encoded(SOFT_BROKEN, "quoted-printable", offset, insertion, b"\r\n")
        added = kept_around(SOFT_BROKEN, new)
        assert added == b"Zus=C3=A4tzlicher Absatz mit =3D Zeichen und Leerzeichen am Ende=20\r\n"
        expected = decoded.data[:offset] + insertion + decoded.data[offset:]
        assert decode_body(new, "quoted-printable").data == expected


def test_qp_insertion_lines_stay_within_76() -> None:
    insertion = ("é" * 100 + " end\r\n" + "x" * 200 + "\r\n").encode()
    new = insert_encoded(SOFT_BROKEN, "quoted-printable", 0, insertion, b"\r\n")
    added = kept_around(SOFT_BROKEN, new)
    assert max(len(line) for line in added.split(b"\r\n")) <= 76
    assert decode_body(new, "quoted-printable").data.startswith(insertion)


def test_qp_insert_mid_line_uses_soft_break() -> None:
    body = b'<p>Hello</p><div class=3D"sig">Sig</div>\r\n'
    decoded = decode_body(body, "quoted-printable")
    offset = decoded.data.index(b"<div")
    new = insert_encoded(body, "quoted-printable", offset, b"<hr>", b"\r\n")
    assert new == b'<p>Hello</p>=\r\n<hr>=\r\n<div class=3D"sig">Sig</div>\r\n'
    assert decode_body(new, "quoted-printable").data == b'<p>Hello</p><hr><div class="sig">Sig</div>\r\n'


def test_qp_insert_at_end_without_final_newline() -> None:
    body = b"last line without newline  "
    new = insert_encoded(body, "quoted-printable", len(b"last line without newline"), b"\r\nX", b"\r\n")
    assert decode_body(new, "quoted-printable").data == b"last line without newline\r\nX"


def test_qp_replace_reencodes_only_the_touched_lines() -> None:
    body = qp(b"first line\r\nsee {{career_relay}} here\r\nlast line\r\n")
    data = decode_body(body, "quoted-printable").data
    start = data.index(b"{{")
    end = start + len(b"{{career_relay}}")
    new = replace_encoded(body, "quoted-printable", start, end, "Block ✓".encode(), b"\r\n")
    assert new.startswith(b"first line\r\n")
    assert new.endswith(b"\r\nlast line\r\n")
    assert decode_body(new, "quoted-printable").data == data[:start] + "Block ✓".encode() + data[end:]


# --- base64 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("line_length", [76, 72])
def test_base64_insert_keeps_line_length_and_ending(line_length: int) -> None:
    text = ("これは長い日本語の本文です。" * 20 + "\r\n") * 3
    body = b64(text.encode("utf-8"), line_length)
    decoded = decode_body(body, "base64")
    offset = decoded.line_starts[1]
    insertion = "挿入されたブロック\r\n".encode()
    new = insert_encoded(body, "base64", offset, insertion, b"\r\n")
    lines = new.split(b"\r\n")
    assert lines[-1] == b""  # still ends with a line ending
    assert {len(line) for line in lines[:-2]} == {line_length}
    assert 0 < len(lines[-2]) <= line_length
    assert decode_body(new, "base64").data == decoded.data[:offset] + insertion + decoded.data[offset:]


def test_base64_lf_and_unwrapped_bodies() -> None:
    body = base64.b64encode(b"x" * 300) + b"\n"
    new = insert_encoded(body, "base64", 0, b"y", b"\n")
    assert new.count(b"\n") == 1  # one long line stays one line
    assert decode_body(new, "base64").data == b"y" + b"x" * 300


def test_base64_with_padding_inside_decodes_every_chunk() -> None:
    body = b"QQ==\r\nQg==\r\n"
    assert decode_body(body, "base64").data == b"AB"


def test_base64_garbage_is_unsupported() -> None:
    with pytest.raises(UnsupportedPart):
        decode_body(b"SGVsbG8*IQ==\r\n", "base64")


def test_reencode_in_the_style_of_the_original() -> None:
    original = b64(b"a" * 200, 64, b"\n")
    assert reencode(original, "base64", b"b" * 200) == b64(b"b" * 200, 64, b"\n")
    assert reencode(b"x\r\n", "quoted-printable", "é\r\n".encode()) == b"=C3=A9\r\n"
    assert reencode(b"x", "8bit", b"raw") == b"raw"


# --- properties ----------------------------------------------------------------------------------


def outside_line_break(data: bytes, offset: int) -> int:
    """Between the CR and LF of a hard line break is no position to insert at: step before it."""
    return offset - 1 if data[offset - 1 : offset + 1] == b"\r\n" else offset


newlines = st.sampled_from(["\r\n", "\n"])
payloads = st.binary(max_size=400) | st.text(max_size=300).map(lambda text: text.encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(
    data=payloads,
    line_length=st.integers(min_value=4, max_value=120),
    eol=newlines,
    insertion=st.binary(max_size=200),
    choice=st.integers(min_value=0),
)
def test_property_qp_insert_at_line_start(
    data: bytes, line_length: int, eol: str, insertion: bytes, choice: int
) -> None:
    body = qp(data, line_length, eol)
    decoded = decode_body(body, "quoted-printable")
    offset = decoded.line_starts[choice % len(decoded.line_starts)]
    new = insert_encoded(body, "quoted-printable", offset, insertion, eol.encode())
    assert decode_body(new, "quoted-printable").data == (
        decoded.data[:offset] + insertion + decoded.data[offset:]
    )
    added = kept_around(body, new)  # every original encoded line is still there
    assert all(len(line) <= 76 for line in added.split(eol.encode()))


@settings(max_examples=200, deadline=None)
@given(
    data=payloads,
    line_length=st.integers(min_value=4, max_value=120),
    eol=newlines,
    insertion=st.binary(max_size=100),
    choice=st.integers(min_value=0),
)
def test_property_qp_insert_anywhere(
    data: bytes, line_length: int, eol: str, insertion: bytes, choice: int
) -> None:
    body = qp(data, line_length, eol)
    decoded = decode_body(body, "quoted-printable")
    offset = outside_line_break(decoded.data, choice % (len(decoded.data) + 1))
    new = insert_encoded(body, "quoted-printable", offset, insertion, eol.encode())
    assert decode_body(new, "quoted-printable").data == (
        decoded.data[:offset] + insertion + decoded.data[offset:]
    )


@settings(max_examples=200, deadline=None)
@given(
    data=payloads,
    eol=newlines,
    replacement=st.binary(max_size=100),
    first=st.integers(min_value=0),
    second=st.integers(min_value=0),
)
def test_property_qp_replace(data: bytes, eol: str, replacement: bytes, first: int, second: int) -> None:
    body = qp(data, 76, eol)
    decoded = decode_body(body, "quoted-printable").data
    start, end = sorted((first % (len(decoded) + 1), second % (len(decoded) + 1)))
    if start == end:
        start = end = outside_line_break(decoded, start)
    new = replace_encoded(body, "quoted-printable", start, end, replacement, eol.encode())
    assert decode_body(new, "quoted-printable").data == decoded[:start] + replacement + decoded[end:]


@settings(max_examples=200, deadline=None)
@given(
    data=payloads,
    quanta=st.integers(min_value=1, max_value=40),
    eol=st.sampled_from([b"\r\n", b"\n"]),
    insertion=st.binary(max_size=200),
    choice=st.integers(min_value=0),
)
def test_property_base64_insert(data: bytes, quanta: int, eol: bytes, insertion: bytes, choice: int) -> None:
    body = b64(data, 4 * quanta, eol)
    decoded = decode_body(body, "base64")
    assert decoded.data == data
    offset = decoded.line_starts[choice % len(decoded.line_starts)]
    new = insert_encoded(body, "base64", offset, insertion, eol)
    assert decode_body(new, "base64").data == data[:offset] + insertion + data[offset:]
    if body.count(eol) > 1:  # one line does not tell its wrapping width
        assert all(len(line) == 4 * quanta for line in new.split(eol)[:-2])


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=400).map(lambda raw: raw.replace(b"\r", b"")))
def test_property_qp_decoding_agrees_with_stdlib(data: bytes) -> None:
    body = qp(data, 76, "\n")
    assert decode_body(body, "quoted-printable").data == quopri.decodestring(body)
