"""relay_smtp.mail.mime: byte offsets into the original message, edits, and which parts we touch.

Messages here are written by hand (inline or under tests/data/mime/).  The corpus tests read
../shared/corpus and are skipped where it is absent.
"""

from __future__ import annotations

import base64
import csv
import email
import email.message
import email.policy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay_smtp.mail.charsets import codec_name
from relay_smtp.mail.choose import Selection, choose_parts
from relay_smtp.mail.mime import MimePart, body_bytes, get_header, header_block, parse_mime
from relay_smtp.mail.mime_edit import (
    Edit,
    apply_edits,
    line_ending,
    set_content_type_param_edit,
    set_header_edit,
)

DATA = Path(__file__).parent / "data" / "mime"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


# --------------------------------------------------------------------------------------------
# helpers


def fixture(name: str, crlf: bool = False) -> bytes:
    raw = (DATA / name).read_bytes()
    return raw.replace(b"\n", b"\r\n") if crlf else raw


def message(text: str, eol: str = "\r\n") -> bytes:
    """A message written with \\n in the test source, sent with ``eol`` line endings."""
    return text.replace("\n", eol).encode("utf-8")


def part_at(root: MimePart, path: str) -> MimePart:
    for part in root.walk():
        if part.path == path:
            return part
    raise KeyError(path)


def shape(root: MimePart) -> list[tuple[str, str]]:
    return [(p.path, p.content_type) for p in root.walk()]


def leaves(root: MimePart) -> list[MimePart]:
    return [p for p in root.walk() if not p.children]


def check_tree(raw: bytes, root: MimePart) -> None:
    """Offsets are monotonic, in bounds, and children lie in order inside their parent's body."""
    assert (root.path, root.start, root.body_end) == ("", 0, len(raw))
    for part in root.walk():
        assert 0 <= part.start <= part.header_end <= part.body_start <= part.body_end <= len(raw)
        previous_end = part.body_start
        for number, child in enumerate(part.children, 1):
            assert child.path == (f"{part.path}.{number}" if part.path else str(number))
            assert previous_end <= child.start
            assert child.body_end <= part.body_end
            assert child.inside_rfc822 >= part.inside_rfc822
            previous_end = child.body_end


def paths(selection: Selection) -> list[str]:
    return [t.path for t in selection.targets]


def reasons(selection: Selection) -> dict[str, str]:
    return dict(selection.skipped)


# --------------------------------------------------------------------------------------------
# offsets of single parts


def test_simple_message_offsets() -> None:
    raw = message("Subject: hi\nContent-Type: text/plain\n\nHello\nworld\n")
    root = parse_mime(raw)
    assert root.header_end == raw.index(b"\r\n\r\n") + 2
    assert root.body_start == root.header_end + 2
    assert body_bytes(raw, root) == b"Hello\r\nworld\r\n"
    assert header_block(raw, root) == b"Subject: hi\r\nContent-Type: text/plain\r\n"
    assert (root.content_type, root.cte, root.charset, root.defects) == ("text/plain", "7bit", None, ())
    assert not root.is_multipart


def test_lf_only_message() -> None:
    raw = message("Subject: hi\n\nHello\n", eol="\n")
    root = parse_mime(raw)
    assert (root.header_end, root.body_start) == (12, 13)
    assert body_bytes(raw, root) == b"Hello\n"
    assert line_ending(raw) == b"\n"


def test_header_only_message_has_empty_body() -> None:
    for raw in (b"Subject: hi\r\nX-A: b\r\n", b"Subject: hi\r\nX-A: b"):
        root = parse_mime(raw)
        assert root.header_end == root.body_start == root.body_end == len(raw)
        assert get_header(raw, root, "x-a") == "b"


def test_blank_line_only_body() -> None:
    raw = b"Subject: hi\r\n\r\n"
    root = parse_mime(raw)
    assert (root.header_end, root.body_start, root.body_end) == (13, 15, 15)


def test_missing_blank_line_starts_body_at_first_non_header_line() -> None:
    raw = message("Subject: hi\nContent-Type: text/plain\nThis line is body text\nmore\n")
    root = parse_mime(raw)
    assert root.header_end == root.body_start == raw.index(b"This")
    assert body_bytes(raw, root) == b"This line is body text\r\nmore\r\n"
    assert root.defects == ("no blank line between headers and body",)


def test_empty_message() -> None:
    root = parse_mime(b"")
    assert (root.start, root.header_end, root.body_start, root.body_end) == (0, 0, 0, 0)
    assert root.content_type == "text/plain"


def test_obsolete_syntax_folding_and_8bit_headers() -> None:
    raw = (
        b"From sender@example.com Mon Apr 13 10:00:00 2026\n"
        b"Subject : folded\n   over\n\tthree lines\n"
        b"X-Latin: caf\xe9\n"
        b"X-Utf8: caf\xc3\xa9\n"
        b"Content-Type: text/plain;\n"
        b'    charset="iso-8859-1"\n'
        b"\n"
        b"body\n"
    )
    root = parse_mime(raw)
    assert root.defects == ()
    assert get_header(raw, root, "SUBJECT") == "folded   over\tthree lines"
    assert get_header(raw, root, "x-latin") == "café"
    assert get_header(raw, root, "x-utf8") == "café"
    assert get_header(raw, root, "x-missing") is None
    assert root.charset == "iso-8859-1"
    assert body_bytes(raw, root) == b"body\n"


def test_header_block_starting_with_continuation_is_noted() -> None:
    raw = b" stray\r\nSubject: x\r\n\r\nbody"
    root = parse_mime(raw)
    assert "header block starts with a continuation line" in root.defects
    assert body_bytes(raw, root) == b"body"


def test_get_header_returns_first_occurrence() -> None:
    raw = b"X-A: one\r\nx-a: two\r\n\r\n"
    assert get_header(raw, parse_mime(raw), "X-A") == "one"


def test_invalid_content_type_reads_as_text_plain() -> None:
    for value in (b"text", b"", b"multipart/mixed boundary=x", b"a/b/c"):
        raw = b"Content-Type: " + value + b"\r\n\r\nbody"
        root = parse_mime(raw)
        assert root.content_type == "text/plain"
        assert any("invalid Content-Type" in d for d in root.defects)


def test_content_type_is_lowercased_and_comments_dropped() -> None:
    raw = b'Content-Type: Text/HTML (web page); CharSet="UTF-8" (yes)\r\n\r\n<p>'
    root = parse_mime(raw)
    assert (root.content_type, root.charset) == ("text/html", "utf-8")
    assert root.params["charset"] == "UTF-8"


def test_unknown_charset_and_encoding_parse_without_defects() -> None:
    raw = b"Content-Type: text/plain; charset=x-klingon\r\nContent-Transfer-Encoding: X-UUENCODE\r\n\r\nb"
    root = parse_mime(raw)
    assert (root.charset, root.cte, root.defects) == ("x-klingon", "x-uuencode", ())


def test_wrong_content_length_is_ignored() -> None:
    raw = fixture("messy_lf.eml")
    root = parse_mime(raw)
    assert get_header(raw, root, "Content-Length") == "3"
    assert body_bytes(raw, part_at(root, "1")) == b"first body"


def test_params_rfc2231_and_rfc2047() -> None:
    raw = message(
        "Content-Type: application/pdf; name*0*=utf-8''%E5%B1%A5%E6%AD%B4; name*1=\".pdf\"\n"
        "Content-Disposition: attachment;\n"
        ' filename="=?UTF-8?B?5bGl5q20?= =?UTF-8?B?5pu4LnBkZg==?="\n'
        "\n"
        "x"
    )
    root = parse_mime(raw)
    assert root.params["name"] == "履歴.pdf"
    assert root.filename == "履歴書.pdf"
    assert root.disposition == "attachment"


def test_filename_falls_back_to_content_type_name() -> None:
    raw = b'Content-Type: image/png; name="logo.png"\r\nContent-Disposition: inline\r\n\r\nx'
    root = parse_mime(raw)
    assert (root.filename, root.disposition) == ("logo.png", "inline")


def test_broken_rfc2231_does_not_raise() -> None:
    raw = b"Content-Type: text/plain; a*=x; a*0=y; a*1*=%ZZ; b*999999*=1; c*=''\r\n\r\n"
    root = parse_mime(raw)
    # The first piece numbered 0 wins; a bad %-escape is kept as it is.
    assert root.params["a"] == "x%ZZ"


# --------------------------------------------------------------------------------------------
# multipart structure


MULTI = """From: a@example.com
Content-Type: multipart/mixed; boundary="b1"

preamble text
--b1
Content-Type: text/plain

first
--b1
Content-Type: text/html

<p>second</p>

--b1--
epilogue
"""


@pytest.mark.parametrize("eol", ["\r\n", "\n"])
def test_multipart_children_and_body_ranges(eol: str) -> None:
    raw = message(MULTI, eol)
    root = parse_mime(raw)
    check_tree(raw, root)
    assert root.is_multipart
    assert shape(root) == [("", "multipart/mixed"), ("1", "text/plain"), ("2", "text/html")]
    first, second = root.children
    # RFC 2046: the line break before a boundary line belongs to the boundary.
    assert body_bytes(raw, first) == b"first"
    assert body_bytes(raw, second) == f"<p>second</p>{eol}".encode()
    assert raw[first.start :].startswith(b"Content-Type: text/plain")
    assert raw[first.body_end :].startswith(f"{eol}--b1{eol}".encode())
    assert body_bytes(raw, root).endswith(b"epilogue" + eol.encode())
    assert root.defects == ()


def test_mixed_line_endings() -> None:
    raw = (
        b"Content-Type: multipart/alternative; boundary=zz\r\n\r\n"
        b"--zz\nContent-Type: text/plain\r\n\nplain\r\n"
        b"--zz\r\nContent-Type: text/html\n\r\nhtml\n--zz--\r\n"
    )
    root = parse_mime(raw)
    check_tree(raw, root)
    assert [body_bytes(raw, c) for c in root.children] == [b"plain", b"html"]


def test_transport_padding_and_unquoted_boundary() -> None:
    raw = message(
        "Content-Type: multipart/mixed; boundary=pad\n\n--pad \t\n\none\n--pad  \n\ntwo\n--pad--  \n"
    )
    root = parse_mime(raw)
    assert [body_bytes(raw, c) for c in root.children] == [b"one", b"two"]
    assert root.defects == ()


def test_folded_boundary_parameter_is_unfolded() -> None:
    raw = message(
        'Content-Type: multipart/mixed; boundary="long\n boundary"\n\n'
        "--long boundary\n\nx\n--long boundary--\n"
    )
    root = parse_mime(raw)
    assert [body_bytes(raw, c) for c in root.children] == [b"x"]


def test_boundary_that_prefixes_another() -> None:
    raw = message(
        "Content-Type: multipart/mixed; boundary=abc\n\n"
        "--abc\nContent-Type: multipart/alternative; boundary=abcdef\n\n"
        "--abcdef\n\ninner one\n--abcdef\n\ninner two\n--abcdef--\n"
        "--abc\n\nouter two\n--abc--\n"
    )
    root = parse_mime(raw)
    check_tree(raw, root)
    assert shape(root) == [
        ("", "multipart/mixed"),
        ("1", "multipart/alternative"),
        ("1.1", "text/plain"),
        ("1.2", "text/plain"),
        ("2", "text/plain"),
    ]
    assert body_bytes(raw, part_at(root, "1.2")) == b"inner two"
    assert body_bytes(raw, part_at(root, "2")) == b"outer two"


def test_boundary_text_inside_a_line_is_not_a_boundary() -> None:
    raw = message("Content-Type: multipart/mixed; boundary=q\n\n--q\n\nsee --q here\n--qq\n--q--\n")
    root = parse_mime(raw)
    assert [body_bytes(raw, c) for c in root.children] == [b"see --q here\r\n--qq"]


def test_junk_preamble_missing_close_repeated_boundary_and_padding() -> None:
    raw = fixture("messy_lf.eml")
    root = parse_mime(raw)
    check_tree(raw, root)
    assert shape(root) == [
        ("", "multipart/mixed"),
        ("1", "text/plain"),
        ("2", "text/html"),
        ("3", "application/octet-stream"),
    ]
    assert body_bytes(raw, part_at(root, "2")) == b"<p>second</p>\n"
    assert body_bytes(raw, part_at(root, "3")) == b"no close boundary follows\n"
    assert "missing close boundary" in root.defects
    assert "repeated boundary line" in root.defects


def test_multipart_without_boundary_is_a_leaf() -> None:
    raw = b"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nbody\r\n--x--\r\n"
    root = parse_mime(raw)
    assert (root.content_type, root.children, root.is_multipart) == ("multipart/mixed", (), False)
    assert root.defects == ("multipart without a boundary parameter; read as a leaf",)


def test_multipart_whose_boundary_never_appears_is_a_leaf() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=nope\r\n\r\n--other\r\n\r\nbody\r\n"
    root = parse_mime(raw)
    assert root.children == ()
    assert root.defects == ("multipart boundary never found; read as a leaf",)


def test_multipart_with_no_body_at_all() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=x\r\n"
    root = parse_mime(raw)
    assert root.children == () and root.body_start == len(raw)


def test_nested_multipart_reusing_its_parents_boundary() -> None:
    raw = message(
        "Content-Type: multipart/mixed; boundary=same\n\n"
        "--same\nContent-Type: multipart/alternative; boundary=same\n\n"
        "--same\n\nA\n--same--\n"
    )
    root = parse_mime(raw)
    check_tree(raw, root)
    # Outer boundaries win (as in Python's email): the inner multipart holds no boundary line.
    assert [c.content_type for c in root.children] == ["multipart/alternative", "text/plain"]
    assert root.children[0].children == ()


def test_empty_parts_and_parts_without_headers() -> None:
    raw = message("Content-Type: multipart/mixed; boundary=e\n\n--e\n\n--e\nno headers here\n--e--")
    root = parse_mime(raw)
    check_tree(raw, root)
    empty, headless = root.children
    assert empty.body_start == empty.body_end
    assert body_bytes(raw, headless) == b"no headers here"
    assert headless.defects == ("no blank line between headers and body",)


def test_close_boundary_without_line_break_at_end_of_message() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=e\r\n\r\n--e\r\n\r\nx\r\n--e--"
    root = parse_mime(raw)
    assert [body_bytes(raw, c) for c in root.children] == [b"x"]
    assert root.defects == ()


def test_message_rfc822_is_parsed_and_marked() -> None:
    raw = fixture("forwarded.eml", crlf=True)
    root = parse_mime(raw)
    check_tree(raw, root)
    assert shape(root) == [
        ("", "multipart/mixed"),
        ("1", "text/plain"),
        ("2", "message/rfc822"),
        ("2.1", "multipart/alternative"),
        ("2.1.1", "text/plain"),
        ("2.1.2", "text/html"),
    ]
    assert [p.inside_rfc822 for p in root.walk()] == [False, False, False, True, True, True]
    inner = part_at(root, "2.1")
    assert inner.start == part_at(root, "2").body_start
    assert get_header(raw, inner, "Subject") == "Application"
    assert body_bytes(raw, part_at(root, "2.1.1")) == b"Please find my CV attached."


def test_message_rfc822_in_base64_is_a_leaf() -> None:
    inner = base64.b64encode(b"Subject: x\r\n\r\nhi\r\n")
    raw = b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" + inner
    root = parse_mime(raw)
    assert root.children == ()
    assert root.defects == ("message/rfc822 encoded as base64; enclosed message not read",)


def test_digest_parts_default_to_message_rfc822() -> None:
    raw = fixture("digest.eml")
    root = parse_mime(raw)
    check_tree(raw, root)
    assert shape(root) == [
        ("", "multipart/digest"),
        ("1", "message/rfc822"),
        ("1.1", "text/plain"),
        ("2", "message/rfc822"),
        ("2.1", "text/plain"),
    ]
    assert body_bytes(raw, part_at(root, "2.1")) == b"Second message."


def test_deep_nesting_stops_instead_of_recursing_forever() -> None:
    depth = 300
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth)
    )
    raw = opening + b"\r\nleaf\r\n"
    root = parse_mime(raw)
    check_tree(raw, root)
    deepest = leaves(root)
    assert len(deepest) == 1
    assert deepest[0].defects == ("nested too deeply; read as a leaf",)


def test_walk_is_depth_first_self_first() -> None:
    root = parse_mime(fixture("alternative_attachment.eml"))
    assert [p.path for p in root.walk()] == ["", "1", "1.1", "1.2", "2"]


def test_parts_are_frozen_and_hashable() -> None:
    root = parse_mime(fixture("alternative_attachment.eml"))
    with pytest.raises(AttributeError):
        root.path = "x"  # type: ignore[misc]
    assert len({*root.walk()}) == 5


# --------------------------------------------------------------------------------------------
# edits


def test_apply_edits_any_order_and_overlap() -> None:
    raw = b"0123456789"
    edits = [Edit(8, 9, b"E"), Edit(0, 2, b""), Edit(4, 4, b"+"), Edit(4, 4, b"!")]
    assert apply_edits(raw, edits) == b"23+!4567E9"
    assert apply_edits(raw, []) == raw
    with pytest.raises(ValueError, match="overlapping"):
        apply_edits(raw, [Edit(1, 5, b""), Edit(4, 6, b"")])
    with pytest.raises(ValueError, match="overlapping"):
        apply_edits(raw, [Edit(1, 5, b""), Edit(3, 3, b"x")])
    with pytest.raises(ValueError):
        apply_edits(raw, [Edit(5, 11, b"")])
    with pytest.raises(ValueError):
        Edit(3, 2, b"")


def test_line_ending() -> None:
    assert line_ending(b"A: b\r\n\r\n") == b"\r\n"
    assert line_ending(b"A: b\n\r\n") == b"\n"
    assert line_ending(b"A: b") == b"\r\n"


@pytest.mark.parametrize("eol", ["\r\n", "\n"])
def test_set_header_edit_replaces_the_whole_folded_field(eol: str) -> None:
    raw = message("Subject: old\n  folded\nX-Career-Relay: 1\nX-Career-Relay: 2\n\nbody", eol)
    root = parse_mime(raw)
    out = apply_edits(raw, [set_header_edit(raw, root, "x-career-relay", "done")])
    assert out == message("Subject: old\n  folded\nx-career-relay: done\nX-Career-Relay: 2\n\nbody", eol)
    out = apply_edits(raw, [set_header_edit(raw, root, "Subject", "new")])
    assert out == message("Subject: new\nX-Career-Relay: 1\nX-Career-Relay: 2\n\nbody", eol)


@pytest.mark.parametrize("eol", ["\r\n", "\n"])
def test_set_header_edit_adds_a_missing_field_last(eol: str) -> None:
    raw = message("Subject: s\n\nbody", eol)
    out = apply_edits(raw, [set_header_edit(raw, parse_mime(raw), "X-New", "v")])
    assert out == message("Subject: s\nX-New: v\n\nbody", eol)


def test_set_header_edit_in_a_child_part() -> None:
    raw = message(MULTI)
    root = parse_mime(raw)
    out = apply_edits(raw, [set_header_edit(raw, part_at(root, "2"), "Content-Transfer-Encoding", "8bit")])
    assert b"Content-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<p>second" in out
    assert shape(parse_mime(out)) == shape(root)


def test_set_header_edit_keeps_the_body_a_body() -> None:
    # No blank line after the headers: the new field brings one.
    raw = b"Subject: s\r\nbody text\r\n"
    out = apply_edits(raw, [set_header_edit(raw, parse_mime(raw), "X-New", "v")])
    assert out == b"Subject: s\r\nX-New: v\r\n\r\nbody text\r\n"
    # The last field has no line break at all.
    raw = b"Subject: s"
    out = apply_edits(raw, [set_header_edit(raw, parse_mime(raw), "X-New", "v")])
    assert out == b"Subject: s\r\nX-New: v"


def test_set_header_edit_rejects_bad_input() -> None:
    raw = b"Subject: s\r\n\r\n"
    root = parse_mime(raw)
    with pytest.raises(ValueError):
        set_header_edit(raw, root, "Bad Name", "v")
    with pytest.raises(ValueError):
        set_header_edit(raw, root, "X-A", "v\r\nInjected: yes")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Content-Type: text/plain; charset="iso-8859-1"; format=flowed',
            'Content-Type: text/plain; charset="utf-8"; format=flowed',
        ),
        ("Content-Type: text/plain; charset=us-ascii", "Content-Type: text/plain; charset=utf-8"),
        (
            "Content-Type: text/plain;\n\tCHARSET = us-ascii (Plain text)",
            "Content-Type: text/plain;\n\tCHARSET = utf-8",
        ),
        ("Content-Type: text/plain", "Content-Type: text/plain; charset=utf-8"),
        ("Content-Type: text/plain;", "Content-Type: text/plain; charset=utf-8"),
        (
            "Content-Type: text/plain; charset=us-ascii; charset=iso-8859-1",
            "Content-Type: text/plain; charset=utf-8",
        ),
        (
            "Content-Type: text/plain; charset*=us-ascii''us-ascii; format=flowed",
            "Content-Type: text/plain; format=flowed; charset=utf-8",
        ),
        (
            'Content-Type: text/plain; name="a-rather-long-file-name-for-the-body.txt"',
            'Content-Type: text/plain; name="a-rather-long-file-name-for-the-body.txt";\n\tcharset=utf-8',
        ),
        ("Content-Type: bogus", "Content-Type: text/plain; charset=utf-8"),
    ],
)
def test_set_content_type_param_edit(header: str, expected: str) -> None:
    raw = message(f"Subject: s\n{header}\nX-After: 1\n\nbody")
    root = parse_mime(raw)
    out = apply_edits(raw, [set_content_type_param_edit(raw, root, "charset", "utf-8")])
    assert out == message(f"Subject: s\n{expected}\nX-After: 1\n\nbody")
    assert parse_mime(out).charset == "utf-8"


def test_set_content_type_param_edit_without_content_type_header() -> None:
    raw = message("Subject: s\n\nbody", "\n")
    out = apply_edits(raw, [set_content_type_param_edit(raw, parse_mime(raw), "charset", "utf-8")])
    assert out == b"Subject: s\nContent-Type: text/plain; charset=utf-8\n\nbody"


def test_set_content_type_param_edit_keeps_eight_bit_bytes() -> None:
    raw = b'Content-Type: text/plain; name="caf\xe9.txt"; charset=latin1\r\n\r\nx'
    out = apply_edits(raw, [set_content_type_param_edit(raw, parse_mime(raw), "charset", "utf-8")])
    assert out == b'Content-Type: text/plain; name="caf\xe9.txt"; charset=utf-8\r\n\r\nx'


def test_set_content_type_param_edit_quotes_when_needed_and_rejects_bad_values() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n"
    root = parse_mime(raw)
    out = apply_edits(raw, [set_content_type_param_edit(raw, root, "boundary", "a b/c")])
    assert out == b'Content-Type: multipart/mixed; boundary="a b/c"\r\n\r\n'
    with pytest.raises(ValueError):
        set_content_type_param_edit(raw, root, "charset", "ü")
    with pytest.raises(ValueError):
        set_content_type_param_edit(raw, root, "bad name", "x")


def test_codec_name() -> None:
    assert codec_name("ISO-2022-JP") == "iso2022_jp"
    assert codec_name("windows-31j") == "cp932"
    # One alias table for reading and splicing (charsets.py): x-sjis is what Windows mailers write
    # for cp932, which the splicer always used; reading it as plain shift_jis lost NEC/IBM characters.
    assert codec_name("x-sjis") == "cp932"
    assert codec_name('"utf-8"') == "utf-8"
    assert codec_name("x-unknown") is None
    assert codec_name("base64") is None


# --------------------------------------------------------------------------------------------
# choose_parts


def test_top_level_text_plain_and_html_are_targets() -> None:
    for ctype in ("text/plain", "text/html"):
        raw = message(f"Content-Type: {ctype}; charset=utf-8\n\nhello\n")
        selection = choose_parts(raw, parse_mime(raw))
        assert (paths(selection), selection.skipped, selection.refusal) == ([""], (), None)


def test_alternative_with_attachment() -> None:
    raw = fixture("alternative_attachment.eml", crlf=True)
    selection = choose_parts(raw, parse_mime(raw))
    assert paths(selection) == ["1.1", "1.2"]
    assert selection.skipped == (("2", "attachment (guide.pdf)"),)
    assert selection.refusal is None


def test_alternative_takes_the_last_plain_and_html() -> None:
    raw = message(
        "Content-Type: multipart/alternative; boundary=a\n\n"
        "--a\nContent-Type: text/plain\n\nold\n"
        "--a\nContent-Type: text/enriched\n\nrich\n"
        "--a\nContent-Type: text/plain\n\nnew\n"
        "--a\nContent-Type: text/html\n\n<p>new</p>\n--a--\n"
    )
    selection = choose_parts(raw, parse_mime(raw))
    assert paths(selection) == ["3", "4"]
    assert reasons(selection) == {
        "1": "earlier text/plain alternative; readers show the last one",
        "2": "text/enriched is not edited",
    }


def test_related_root_found_by_start_parameter() -> None:
    raw = fixture("related_html.eml", crlf=True)
    selection = choose_parts(raw, parse_mime(raw))
    assert paths(selection) == ["1", "2.2"]
    assert reasons(selection) == {"2.1": "resource of the multipart/related body (image/png)"}


def test_related_root_defaults_to_first_part() -> None:
    raw = message(
        "Content-Type: multipart/related; boundary=r\n\n"
        "--r\nContent-Type: text/html\n\n<img src=cid:x>\n"
        "--r\nContent-Type: image/gif\nContent-ID: <x>\n\nGIF\n--r--\n"
    )
    selection = choose_parts(raw, parse_mime(raw))
    assert paths(selection) == ["1"]


def test_mixed_takes_the_first_body_only() -> None:
    raw = message(
        "Content-Type: multipart/mixed; boundary=m\n\n"
        "--m\nContent-Type: text/plain\n\nbody\n"
        "--m\nContent-Type: image/png\nContent-Disposition: inline\n\nPNG\n"
        "--m\nContent-Type: text/plain\n\nfooter added by a list\n"
        "--m\nContent-Type: text/plain; name=notes.txt\n\nfile\n--m--\n"
    )
    selection = choose_parts(raw, parse_mime(raw))
    assert paths(selection) == ["1"]
    assert reasons(selection) == {
        "2": "image/png is not edited",
        "3": "text outside the main body",
        "4": "attachment (notes.txt)",
    }


def test_mixed_with_an_attachment_first_has_no_body() -> None:
    raw = message(
        "Content-Type: multipart/mixed; boundary=m\n\n"
        "--m\nContent-Type: application/pdf\nContent-Disposition: attachment\n\n%PDF\n"
        "--m\nContent-Type: text/plain\n\nafter\n--m--\n"
    )
    selection = choose_parts(raw, parse_mime(raw))
    assert selection.targets == ()
    assert selection.refusal == "no text body to hold the block"
    assert reasons(selection) == {"1": "attachment", "2": "text outside the main body"}


def test_text_part_with_a_filename_is_an_attachment() -> None:
    raw = b'Content-Type: text/plain; name="cv.txt"\r\n\r\nmy cv'
    selection = choose_parts(raw, parse_mime(raw))
    assert selection.skipped == (("", "attachment (cv.txt)"),)
    assert selection.refusal == "no text body to hold the block"


def test_forwarded_message_is_never_touched() -> None:
    raw = fixture("forwarded.eml")
    selection = choose_parts(raw, parse_mime(raw))
    assert paths(selection) == ["1"]
    assert reasons(selection) == {
        "2.1.1": "inside message/rfc822",
        "2.1.2": "inside message/rfc822",
    }


def test_digest_has_no_body() -> None:
    raw = fixture("digest.eml")
    selection = choose_parts(raw, parse_mime(raw))
    assert selection.refusal == "no text body to hold the block"
    assert set(reasons(selection).values()) == {"inside message/rfc822"}


def test_calendar_invitation_is_refused_as_a_whole() -> None:
    raw = fixture("calendar_invite.eml")
    selection = choose_parts(raw, parse_mime(raw))
    assert selection.targets == ()
    assert selection.refusal == (
        "calendar invitation (text/calendar at part 1.3): editing an invitation is risky"
    )
    assert reasons(selection) == {
        "1.1": "whole message left alone",
        "1.2": "whole message left alone",
        "1.3": "text/calendar is not edited",
        "2": "attachment (invite.ics)",
    }


def test_signed_mail_is_refused() -> None:
    raw = fixture("signed_smime.eml", crlf=True)
    selection = choose_parts(raw, parse_mime(raw))
    assert selection.targets == ()
    assert selection.refusal is not None
    assert selection.refusal.startswith("signed mail (multipart/signed at the top level)")


@pytest.mark.parametrize(
    "ctype",
    ["multipart/encrypted; boundary=x", "application/pkcs7-mime", "application/x-pkcs7-mime"],
)
def test_encrypted_and_smime_mail_is_refused(ctype: str) -> None:
    raw = message(f"Content-Type: {ctype}\n\nMIAGCSqGSIb3DQEHA\n")
    assert choose_parts(raw, parse_mime(raw)).refusal is not None


def test_signed_body_inside_mixed_is_refused() -> None:
    raw = message(
        "Content-Type: multipart/mixed; boundary=o\n\n"
        "--o\nContent-Type: multipart/signed; boundary=s\n\n"
        "--s\nContent-Type: text/plain\n\nsigned text\n"
        "--s\nContent-Type: application/pgp-signature\n\nSIG\n--s--\n"
        "--o\nContent-Type: text/plain\n\nlist footer\n--o--\n"
    )
    selection = choose_parts(raw, parse_mime(raw))
    assert selection.refusal is not None
    assert "multipart/signed at part 1" in selection.refusal


def test_signed_message_inside_rfc822_does_not_block_the_outer_body() -> None:
    raw = message(
        "Content-Type: multipart/mixed; boundary=o\n\n"
        "--o\nContent-Type: text/plain\n\nsee attached\n"
        "--o\nContent-Type: message/rfc822\n\n"
        "Content-Type: multipart/signed; boundary=s\n\n--s\n\ntext\n--s\n"
        "Content-Type: application/pgp-signature\n\nSIG\n--s--\n"
        "--o--\n"
    )
    selection = choose_parts(raw, parse_mime(raw))
    assert (paths(selection), selection.refusal) == (["1"], None)


@pytest.mark.parametrize(
    "body",
    [
        b"-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nno\r\n",
        b"-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA\r\n-----END PGP MESSAGE-----\r\n",
    ],
)
def test_inline_pgp_is_refused(body: bytes) -> None:
    for cte, encoded in (("7bit", body), ("base64", base64.encodebytes(body))):
        raw = f"Content-Type: text/plain\r\nContent-Transfer-Encoding: {cte}\r\n\r\n".encode() + encoded
        selection = choose_parts(raw, parse_mime(raw))
        assert selection.refusal is not None and "inline PGP block" in selection.refusal
        assert selection.skipped == (("", "whole message left alone"),)


def test_message_partial_is_refused() -> None:
    raw = b'Content-Type: message/partial; id="x@y"; number=1; total=2\r\n\r\nSubject: a\r\n\r\nb'
    selection = choose_parts(raw, parse_mime(raw))
    assert selection.refusal is not None
    assert selection.refusal.startswith("fragment of a split message")


def test_unsupported_transfer_encoding_is_skipped() -> None:
    raw = message(
        "Content-Type: multipart/alternative; boundary=a\n\n"
        "--a\nContent-Type: text/plain\n\nplain\n"
        "--a\nContent-Type: text/html\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644\n--a--\n"
    )
    selection = choose_parts(raw, parse_mime(raw))
    assert paths(selection) == ["1"]
    assert reasons(selection) == {"2": "unsupported Content-Transfer-Encoding x-uuencode"}


def test_only_unusable_text_gives_a_specific_refusal() -> None:
    raw = b"Content-Type: text/plain; charset=x-klingon\r\n\r\nnuqneH\r\n"
    selection = choose_parts(raw, parse_mime(raw))
    assert selection.skipped == (("", "unknown charset x-klingon"),)
    assert selection.refusal == (
        "no usable text body to hold the block (top level: unknown charset x-klingon)"
    )


def test_wide_charsets_and_missing_separator_are_skipped() -> None:
    raw = b"Content-Type: text/plain; charset=utf-16\r\n\r\n\xff\xfeh\x00"
    assert choose_parts(raw, parse_mime(raw)).skipped == (("", "charset utf-16 is not line oriented"),)
    raw = b"Content-Type: text/plain"
    assert choose_parts(raw, parse_mime(raw)).skipped == (("", "no blank line after the headers"),)


def test_report_body_is_its_first_part() -> None:
    raw = message(
        "Content-Type: multipart/report; report-type=delivery-status; boundary=r\n\n"
        "--r\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
        "--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n"
        "--r\nContent-Type: text/rfc822-headers\n\nSubject: x\n--r--\n"
    )
    selection = choose_parts(raw, parse_mime(raw))
    assert paths(selection) == ["1"]
    assert reasons(selection) == {
        "2": "message/delivery-status is not edited",
        "3": "text/rfc822-headers is not edited",
    }


def test_japanese_iso_2022_jp_message_is_a_target() -> None:
    raw = fixture("ja_iso2022jp.eml", crlf=True)
    root = parse_mime(raw)
    selection = choose_parts(raw, root)
    assert paths(selection) == [""]
    assert root.charset == "iso-2022-jp"
    assert body_bytes(raw, root).decode("iso-2022-jp").startswith("山田 花子 様")


def test_leaf_multipart_is_skipped_with_a_reason() -> None:
    raw = b"Content-Type: multipart/mixed\r\n\r\ntext"
    selection = choose_parts(raw, parse_mime(raw))
    assert selection.skipped == (("", "multipart/mixed without usable boundaries"),)


# --------------------------------------------------------------------------------------------
# performance: the relay parses every message


def _big_message(attachment_size: int) -> bytes:
    text = "Thank you for your interest in the position.\r\n" * 200
    html = "<p>Thank you for your interest in the position.</p>\r\n" * 180
    head = (
        'Subject: x\r\nContent-Type: multipart/mixed; boundary="o"\r\n\r\n'
        '--o\r\nContent-Type: multipart/alternative; boundary="a"\r\n\r\n'
        f"--a\r\nContent-Type: text/plain\r\n\r\n{text}\r\n"
        f"--a\r\nContent-Type: text/html\r\n\r\n{html}\r\n--a--\r\n"
    ).encode()
    pdf = base64.encodebytes(os.urandom(attachment_size)).replace(b"\n", b"\r\n")
    attachment = (
        b"\r\n--o\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        b"filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + pdf
    )
    return head + attachment + b"\r\n--o--\r\n"


def test_large_messages_parse_whole() -> None:
    """Speed is measured in bench/ (bench/profile_stages.py); here only that size changes nothing."""
    small, large = _big_message(2_000), _big_message(1_500_000)
    assert 18_000 < len(small) < 25_000 and len(large) > 2_000_000
    for raw in (small, large):
        root = parse_mime(raw)
        assert [p.content_type for p in leaves(root)] == ["text/plain", "text/html", "application/pdf"]
        assert [p.path for p in choose_parts(raw, root).targets] == ["1.1", "1.2"]


# --------------------------------------------------------------------------------------------
# generated trees (hypothesis)


@dataclass(frozen=True)
class Leaf:
    content_type: str
    lines: tuple[bytes, ...]
    trailing_eol: bool
    eol: bytes


@dataclass(frozen=True)
class Multi:
    subtype: str
    children: tuple[Leaf | Multi, ...]
    preamble: tuple[bytes, ...] | None
    epilogue: tuple[bytes, ...] | None
    padding: bytes
    eol: bytes


Node = Leaf | Multi

# No "-" (so no line can look like a boundary), no line breaks.
_line = st.binary(max_size=30).map(lambda b: b.translate(None, b"\r\n-"))
_lines = st.lists(_line, max_size=4).map(tuple)
_eol = st.sampled_from([b"\r\n", b"\n"])
_leaf = st.builds(Leaf, st.sampled_from(["text/plain", "text/html"]), _lines, st.booleans(), _eol)
_tree = st.recursive(
    _leaf,
    lambda children: st.builds(
        Multi,
        st.sampled_from(["mixed", "alternative", "related"]),
        st.lists(children, min_size=1, max_size=4).map(tuple),
        st.none() | _lines,
        st.none() | _lines,
        st.sampled_from([b"", b" ", b"\t "]),
        _eol,
    ),
    max_leaves=10,
)


def leaf_body(leaf: Leaf) -> bytes:
    return leaf.eol.join(leaf.lines) + (leaf.eol if leaf.trailing_eol and leaf.lines else b"")


def serialise(node: Node, counter: Iterator[int]) -> bytes:
    eol = node.eol
    if isinstance(node, Leaf):
        return b"Content-Type: " + node.content_type.encode() + eol + eol + leaf_body(node)
    boundary = b"=_b%d_" % next(counter)
    out = [b'Content-Type: multipart/%s; boundary="%s"' % (node.subtype.encode(), boundary), eol, eol]
    if node.preamble is not None:
        out += [eol.join(node.preamble), eol]
    for child in node.children:
        out += [b"--", boundary, node.padding, eol, serialise(child, counter), eol]
    out += [b"--", boundary, b"--", node.padding]
    if node.epilogue is not None:
        out += [eol, eol.join(node.epilogue)]
    return b"".join(out)


def counter() -> Iterator[int]:
    number = 0
    while True:
        number += 1
        yield number


def assert_same_tree(raw: bytes, node: Node, part: MimePart) -> None:
    if isinstance(node, Leaf):
        assert (part.content_type, part.children) == (node.content_type, ())
        assert body_bytes(raw, part) == leaf_body(node)
        return
    assert part.content_type == f"multipart/{node.subtype}"
    assert len(part.children) == len(node.children)
    for child_node, child in zip(node.children, part.children, strict=True):
        assert_same_tree(raw, child_node, child)


@settings(max_examples=300, deadline=None, database=None)
@given(_tree, st.binary(max_size=20).map(lambda b: b.translate(None, b"\r\n-")))
def test_generated_trees_round_trip(tree: Node, replacement: bytes) -> None:
    raw = b"From: a@example.com\r\nMIME-Version: 1.0\r\n" + serialise(tree, counter())
    root = parse_mime(raw)
    check_tree(raw, root)
    assert_same_tree(raw, tree, root)
    # Replacing every leaf body leaves the structure intact and the new bodies where they were put.
    edits = [Edit(p.body_start, p.body_end, replacement) for p in leaves(root)]
    edited = apply_edits(raw, edits)
    reparsed = parse_mime(edited)
    assert shape(reparsed) == shape(root)
    assert all(body_bytes(edited, p) == replacement for p in leaves(reparsed))


# Pieces of header and boundary syntax, glued together at random.
_HEADER_PIECES = st.sampled_from(
    [
        *["Content-Type: ", "multipart/mixed", "multipart/alternative", "message/rfc822", "text/plain"],
        *["; ", ";", "boundary=", 'boundary="', "b", '"', "\\", "charset*=", "name*0*=", "name*1="],
        *["utf-8''%E3%81%82", "%", "'", "=?utf-8?B?", "=?x?Q?a_b", "?=", "(", ")", " ", "\t"],
        *["\r\n", "\n", "\r\n ", "\r\n\r\n", "--b", "--b--", "\r\n--b\r\n", "From ", ":", "\x00"],
        *["Content-Transfer-Encoding: base64", "Content-Disposition: attachment; filename=", "\xff", "é"],
    ]
)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_HEADER_PIECES, max_size=60).map("".join), st.binary(max_size=200))
def test_never_raises_on_hostile_input(pieces: str, noise: bytes) -> None:
    for raw in (pieces.encode("utf-8", "surrogateescape"), noise, pieces.encode() + noise):
        root = parse_mime(raw)
        check_tree(raw, root)
        selection = choose_parts(raw, root)
        for target in selection.targets:
            assert not target.children
        for part in root.walk():
            get_header(raw, part, "content-type")
            set_header_edit(raw, part, "X-Test", "1")
            set_content_type_param_edit(raw, part, "charset", "utf-8")


@settings(max_examples=200, deadline=None, database=None)
@given(_tree, st.data())
def test_damaged_trees_never_raise(tree: Node, data: st.DataObject) -> None:
    raw = serialise(tree, counter())
    cut = data.draw(st.integers(0, len(raw)))
    size = data.draw(st.integers(0, 40))
    damaged = raw[:cut] + data.draw(st.binary(max_size=8)) + raw[cut + size :]
    root = parse_mime(damaged)
    check_tree(damaged, root)
    choose_parts(damaged, root)


# --------------------------------------------------------------------------------------------
# the real-world corpus


@dataclass(frozen=True)
class CorpusMessage:
    name: str
    category: str
    raw: bytes


@pytest.fixture(scope="module")
def corpus_messages() -> list[CorpusMessage]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        pytest.skip("../shared/corpus is absent")
    with manifest.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [CorpusMessage(r["file"], r["category"], (CORPUS / r["file"]).read_bytes()) for r in rows]


def _corpus_problems(item: CorpusMessage) -> Iterator[str]:
    raw = item.raw
    root = parse_mime(raw)
    check_tree(raw, root)
    identity = [Edit(p.body_start, p.body_end, body_bytes(raw, p)) for p in leaves(root)]
    if apply_edits(raw, identity) != raw:
        yield "identity edits changed the message"
    selection = choose_parts(raw, root)
    if selection.refusal is not None and selection.targets:
        yield "refused but has targets"
    for target in selection.targets:
        if target.children or target.content_type not in ("text/plain", "text/html"):
            yield f"target {target.path} is not a text leaf"
        edited = apply_edits(raw, [Edit(target.body_start, target.body_end, b"X")])
        changed = edited[: target.body_start] + edited[target.body_start + 1 :]
        if changed != raw[: target.body_start] + raw[target.body_end :]:
            yield f"editing {target.path} changed bytes outside its body"
        if shape(parse_mime(edited)) != shape(root):
            yield f"editing {target.path} changed the structure"
        yield from _header_edit_problems(raw, root, target)
    chosen = {t.path for t in selection.targets}
    if {p for p, _ in selection.skipped} | chosen != {p.path for p in leaves(root)}:
        yield "skipped + targets do not cover every leaf"


def _header_edit_problems(raw: bytes, root: MimePart, target: MimePart) -> Iterator[str]:
    """What a splice does to a target's headers keeps the tree and lands in that part."""
    edits = [
        set_content_type_param_edit(raw, target, "charset", "utf-8"),
        set_header_edit(raw, target, "Content-Transfer-Encoding", "8bit"),
    ]
    if any(not target.start <= e.start <= e.end <= target.body_start for e in edits):
        yield f"header edits for {target.path} fall outside its header block"
    edited = apply_edits(raw, edits)
    reparsed = parse_mime(edited)
    if shape(reparsed) != shape(root):
        yield f"header edits for {target.path} changed the structure"
    again = part_at(reparsed, target.path)
    if (again.charset, again.cte) != ("utf-8", "8bit"):
        yield f"header edits for {target.path} did not take"


@pytest.mark.corpus
def test_corpus_invariants(corpus_messages: list[CorpusMessage]) -> None:
    problems = [f"{item.name}: {problem}" for item in corpus_messages for problem in _corpus_problems(item)]
    assert problems == []


# message/* types we read as an enclosed message; Python's email also descends into
# delivery-status and other message/* types, and ignores a base64 CTE on message/rfc822.
_ENCLOSED = {"message/rfc822", "message/global", "message/news"}


def _email_leaf_count(msg: email.message.Message) -> int:
    ctype = msg.get_content_type()
    if ctype.startswith("message/"):
        cte = str(msg.get("content-transfer-encoding", "7bit")).strip().lower()
        if ctype not in _ENCLOSED or cte not in ("7bit", "8bit", "binary"):
            return 1
    if msg.is_multipart():
        count = 0
        for sub in msg.get_payload():
            assert isinstance(sub, email.message.Message)
            count += _email_leaf_count(sub)
        return count
    return 1


@pytest.mark.corpus
def test_corpus_leaf_count_matches_python_email(corpus_messages: list[CorpusMessage]) -> None:
    """Well-formed messages split into the same leaves as Python's email (policy.default).

    The default policy unfolds a boundary folded inside its quotes, as RFC 5322 says and as we do
    (compat32 would not).  Malformed messages may differ: e.g. we accept an unquoted boundary
    containing "=", which policy.default rejects.
    """
    mismatches = []
    for item in corpus_messages:
        if "malformed" in item.category.split(","):
            continue
        ours = len(leaves(parse_mime(item.raw)))
        theirs = _email_leaf_count(email.message_from_bytes(item.raw, policy=email.policy.default))
        if ours != theirs:
            mismatches.append((item.name, ours, theirs))
    assert mismatches == []
