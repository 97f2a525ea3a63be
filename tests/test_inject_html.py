"""inject_html.py: the block lands before the right element, and the page is never re-serialised."""

from __future__ import annotations

import random
from pathlib import Path
from typing import TypeVar

import pytest
from test_inject_text import corpus_leaves, corpus_problem, from_iso2022jp_ms, to_iso2022jp_ms
from test_transfer import b64, kept_around, qp

from relay_smtp.mail.inject_html import splice_html_block
from relay_smtp.mail.part_charset import ascii_view, may_hold_ascii, resolve_charset
from relay_smtp.mail.snippets import HTML_MARKER, RenderedBlock, SnippetRenderer
from relay_smtp.mail.splice_slot import LeafSplice
from relay_smtp.mail.transfer import UnsupportedPart, decode_body

DATA = Path(__file__).parent / "data" / "inject"
RENDERER = SnippetRenderer()
LINK = "https://relay.example/r/eyJjIjoiYWNtZSJ9.sig?a=1&b=2"


def block(locale: str = "en", company: str = "Example Corp") -> RenderedBlock:
    return RENDERER.render(locale=locale, company_name=company, link=LINK)


def page(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8").replace("\n", "\r\n")


def splice_page(
    name: str, rendered: RenderedBlock | None = None, *, charset: str | None = "utf-8"
) -> tuple[str, str, LeafSplice]:
    original = page(name)
    result = splice_html_block(
        original.encode("utf-8"), cte="8bit", charset=charset, block_html=(rendered or block()).html
    )
    return original, result.body.decode("utf-8"), result


Seq = TypeVar("Seq", str, bytes)


def assert_spliced(original: Seq, new: Seq, inserted: Seq, newline: Seq) -> None:
    """``new`` is ``original`` with the one ``inserted`` block added: at a line start as it is,
    mid-line after a line break of its own."""
    before, after = new.split(inserted)  # exactly one block
    if before + after != original:
        assert before.endswith(newline) and before[: -len(newline)] + after == original


def html_block(rendered: RenderedBlock) -> str:
    return rendered.html.replace("\n", "\r\n")


def element_after_block(new: str) -> str:
    after = new[new.index(HTML_MARKER) :]
    return after[after.index("</div>") + len("</div>") :].lstrip("\r\n")


@pytest.mark.parametrize(
    ("name", "where", "next_markup"),
    [
        (
            "gmail_reply.html",
            "before Gmail signature (span.gmail_signature_prefix)",
            '<span class="gmail_signature_prefix">',
        ),
        (
            "outlook_web_reply.html",
            "before Outlook reply (div#appendonsend)",
            '<div id="appendonsend">',
        ),
        (
            "outlook_desktop_reply.html",
            "before Outlook reply header (border-top:solid #E1E1E1)",
            "<div style='border:none;border-top:solid #E1E1E1 1.0pt;",
        ),
        (
            "apple_reply.html",
            "before quoted history (blockquote type=cite)",
            '<div><br><blockquote type="cite">',
        ),
        (
            "thunderbird_reply.html",
            "before Thunderbird signature (div.moz-signature)",
            '<div class="moz-signature">',
        ),
        ("ja_meta_sjis.html", "before </body>", "</body>"),
        ("fragment_no_body.html", "at end", ""),
    ],
)
def test_block_goes_before_the_sign_off_or_quoted_history(name: str, where: str, next_markup: str) -> None:
    original, new, result = splice_page(name)
    assert result.where == where
    assert element_after_block(new).startswith(next_markup)
    assert_spliced(original, new, html_block(block()), "\r\n")
    assert (result.charset, result.cte) == (None, None)


def test_gmail_quote_when_there_is_no_signature() -> None:
    original = page("gmail_reply.html")
    signature_start = original.index("<div><span class")
    signature_end = original.index("</div></div></div><br>") + len("</div></div>")
    without_signature = original[:signature_start] + original[signature_end:]
    result = splice_html_block(
        without_signature.encode(), cte="8bit", charset="utf-8", block_html=block().html
    )
    assert result.where == "before Gmail quote (div.gmail_quote)"
    assert element_after_block(result.body.decode()).startswith('<div class="gmail_quote')


def test_placeholder_in_text_is_replaced_not_in_title_or_comment() -> None:
    _, new, result = splice_page("placeholder.html")
    assert result.where == "at placeholder"
    assert "<title>{{career_relay}} in the title" in new
    assert "<!-- {{career_relay}} in a comment" in new
    assert new.count("{{career_relay}}") == 2
    assert "<p>\r\n" + HTML_MARKER in new
    assert "</div>\r\n</p>" in new


def test_company_name_is_escaped() -> None:
    _, new, _ = splice_page("thunderbird_reply.html", block(company="A&B <Co>"))
    assert "A&amp;B &lt;Co&gt; has partnered" in new
    assert "<Co>" not in new
    assert 'href="https://relay.example/r/eyJjIjoiYWNtZSJ9.sig?a=1&amp;b=2"' in new


def test_shift_jis_page_from_meta_charset_keeps_its_octets() -> None:
    original = page("ja_meta_sjis.html")
    body = original.encode("cp932")  # ① ② and ソ (83 5C) / ポ (83 7C) with ASCII-looking trail bytes
    rendered = block("ja", company="株式会社①")
    result = splice_html_block(body, cte="8bit", charset=None, block_html=rendered.html)
    assert (result.charset, result.where) == (None, "before </body>")
    inserted = html_block(rendered).encode("cp932")  # no &#…; cp932 holds everything in it
    assert_spliced(body, result.body, inserted, b"\r\n")
    assert "株式会社①は「Career Relay」".encode("cp932") in result.body


def test_us_ascii_page_gets_character_references() -> None:
    original, new, result = splice_page("outlook_desktop_reply.html", block("ja"), charset=None)
    assert result.charset is None and new.isascii()
    assert "&#12394;&#12362;" in kept_around(original, new)  # なお


def test_utf8_page_in_7bit_uses_character_references_instead_of_changing_cte() -> None:
    body = page("thunderbird_reply.html").encode("ascii")
    result = splice_html_block(body, cte="7bit", charset="utf-8", block_html=block("ja").html)
    assert (result.charset, result.cte) == (None, None)
    assert result.body.isascii()


@pytest.mark.parametrize("cte", ["quoted-printable", "base64"])
def test_encoded_pages(cte: str) -> None:
    original = page("gmail_reply.html")
    raw = original.encode("utf-8")
    body = qp(raw) if cte == "quoted-printable" else b64(raw, 72)
    rendered = block("ja")
    result = splice_html_block(body, cte=cte, charset="utf-8", block_html=rendered.html)
    new = decode_body(result.body, cte).data.decode("utf-8")
    inserted = kept_around(original, new)
    assert inserted.strip("\r\n") == rendered.html.strip("\n").replace("\n", "\r\n")
    if cte == "quoted-printable":
        assert all(len(line) <= 76 for line in result.body.split(b"\r\n"))
    else:
        assert {len(line) for line in result.body.split(b"\r\n")[:-2]} == {72}


def test_iso2022jp_page_with_nec_characters() -> None:
    # Between ESC $ B and ESC ( B, the JIS bytes 3C 64 69 76 read "<div" in ASCII: not a tag.
    text = '<html><body><p>選考結果①㍉髙</p>\r\n<p>{}</p>\r\n<div class="gmail_quote">q</div></body></html>'
    body = to_iso2022jp_ms(text.replace("{}", "")).replace(b"<p></p>", b"<p>\x1b$B<div\x1b(B</p>")
    view = ascii_view(body, resolve_charset("iso-2022-jp"))
    assert view.count(b"<div") == 1
    rendered = block("ja", company="株式会社髙")
    result = splice_html_block(body, cte="7bit", charset="iso-2022-jp", block_html=rendered.html)
    assert result.where == "before Gmail quote (div.gmail_quote)"
    kept_around(body, result.body)
    assert result.body.isascii()
    assert "株式会社髙は" in from_iso2022jp_ms(result.body)
    assert from_iso2022jp_ms(result.body).endswith('</div>\r\n<div class="gmail_quote">q</div></body></html>')


def test_page_that_already_has_the_block_is_refused() -> None:
    once = splice_html_block(b"<p>Hi</p>", cte="8bit", charset="utf-8", block_html=block().html)
    assert HTML_MARKER.encode() in once.body
    with pytest.raises(UnsupportedPart, match="already"):
        splice_html_block(once.body, cte="8bit", charset="utf-8", block_html=block().html)


@pytest.mark.parametrize(
    "page",
    [
        # Escapes inside the marker decode to nothing: the reader (and the check) see one marker.
        b"<html><body><p>\x1b$B$3\x1b(B</p><!-- career-re\x1b(Blay:v1 --></body></html>",
        # ESC $ A is no ISO-2022-JP designation: the codec reads on in ASCII what the view masks.
        b"<html><body><p>\x1b$A<!-- career-relay:v1 --></p></body></html>",
        # Roman and JIS X 0208-1978 escapes too.
        b"<html><body><p>\x1b$@$3\x1b(J<!-- career-\x1b(Brelay:v1 --></p></body></html>",
    ],
)
def test_marker_the_decoded_iso2022_page_shows_is_found(page: bytes) -> None:
    with pytest.raises(UnsupportedPart, match="already"):
        splice_html_block(page, cte="7bit", charset="iso-2022-jp", block_html=block().html)


@pytest.mark.parametrize(
    "label", ["iso-2022-jp", "iso-2022-jp-1", "iso-2022-jp-2", "iso-2022-jp-3", "iso-2022-jp-2004"]
)
def test_iso2022_page_is_left_undecoded_only_where_its_text_cannot_hold_the_marker(label: str) -> None:
    # The marker cut anywhere, with escapes, JIS X 0208 pairs and stray octets between its pieces.
    needle = b"career-relay:v"
    between = [
        b"",
        b"",
        b"\x1b$B",
        b"\x1b(B",
        b"\x1b(J",
        b"\x1b$@",
        b"\x1b$(D",
        b"\x1bN",
        b"\x1b",
        b"$B",
        b"!!",
        b"\x80",
    ]
    charset = resolve_charset(label)
    chosen = random.Random(label)
    skipped = 0
    for _ in range(3000):
        cuts = sorted(chosen.sample(range(1, len(needle)), chosen.randrange(4)))
        pieces = [needle[a:b] for a, b in zip([0, *cuts], [*cuts, len(needle)], strict=True)]
        data = b"".join(piece + chosen.choice(between) + chosen.choice(between) for piece in pieces)
        if not may_hold_ascii(data, charset, needle):
            skipped += 1
            assert needle.decode() not in data.decode(charset.analysis_codec, errors="replace"), data
    assert skipped > 100


def test_markup_in_scripts_and_comments_is_not_counted() -> None:
    html = (
        "<html><body><script>var s = '<div class=\"gmail_quote\">';</script>"
        '<!-- <div class="gmail_quote"> -->'
        '<p>Sorry.</p><div class="gmail_quote">quoted</div></body></html>'
    )
    result = splice_html_block(html.encode(), cte="8bit", charset="utf-8", block_html=block().html)
    new = result.body.decode()
    assert new.index(HTML_MARKER) > new.index("<p>Sorry.</p>")
    assert element_after_block(new).startswith('<div class="gmail_quote">quoted')


@pytest.mark.corpus
def test_corpus_html_parts_keep_their_octets() -> None:
    rendered = block("ja", company="株式会社髙田①")
    problems = []
    for name, part, body in corpus_leaves("text/html"):
        cte = str(part.get("Content-Transfer-Encoding", "7bit"))
        try:
            result = splice_html_block(
                body, cte=cte, charset=part.get_content_charset(), block_html=rendered.html
            )
        except UnsupportedPart:
            continue
        problem = corpus_problem(body, cte, result)
        if problem:
            problems.append(f"{name}: {problem}")
        assert result.charset is None  # HTML never changes charset
    assert problems == []


def test_a_page_the_iso2022jp2_decoder_fails_on_is_left_untouched() -> None:
    """CPython's ISO-2022-JP-2 decoder raises RuntimeError on some invalid designations instead of
    replacing them; the part is refused like any part that cannot be changed safely (the rest of the
    message is still spliced), not a failure of the whole message."""
    broken = b"<html><body><p>\x1b.J\x1bNab</p></body></html>"
    with pytest.raises(RuntimeError):
        broken.decode("iso2022_jp_2", "replace")  # the codec's own fault, as of this Python
    with pytest.raises(UnsupportedPart, match="decoder fails"):
        splice_html_block(broken, cte="7bit", charset="iso-2022-jp-2", block_html=block().html)
