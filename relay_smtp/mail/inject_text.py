"""Splice the Career Relay block into one text/plain body, in the part's own charset.

Japanese mail is the reason this module is careful. Python's codecs cannot round-trip every real
message (NEC and IBM extension characters such as ①, ㍉ and 髙 sent as ISO-2022-JP or Shift_JIS), so the
original text is only ever decoded to *look* at it (errors="replace", one line at a time so line
numbers stay true). The output is the original octets with the block's octets inserted at a line
boundary, encoded in the part's charset, and then in its Content-Transfer-Encoding (see transfer.py).

The block goes, in this order of preference: at the placeholder; above the signature or the quoted
history, whichever comes first; at the end.

The charset helpers here (``resolve_charset``, ``ascii_view``, ``splice_insertion`` …) are shared with
inject_html.py.
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass
from itertools import chain

from relay_smtp.mail.history import history_start
from relay_smtp.mail.snippets import has_marker
from relay_smtp.mail.transfer import (
    DecodedBody,
    UnsupportedPart,
    decode_body,
    detect_newline,
    normalize_cte,
    reencode,
    replace_encoded,
)

__all__ = [
    "CannotEncode",
    "LeafSplice",
    "PartCharset",
    "UnsupportedPart",
    "analysis_text",
    "ascii_view",
    "encode_insertion",
    "encode_text",
    "resolve_charset",
    "splice_insertion",
    "splice_text_block",
]

DEFAULT_PLACEHOLDER = "{{career_relay}}"


@dataclass(frozen=True)
class LeafSplice:
    """A leaf body with the block in it, and the header parameters the caller must change."""

    body: bytes  # the new encoded body
    charset: str | None  # new charset parameter if it had to change, else None
    cte: str | None  # new Content-Transfer-Encoding if it had to change, else None
    where: str  # where the block went, for people ("above signature '-- '" …)


class CannotEncode(ValueError):
    """The part's charset has no octets for some characters of the block."""


# --- charsets -----------------------------------------------------------------------------------

# Labels seen in mail that Python's codec registry does not know.
_ALIASES = {
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "x-euc-jp": "euc_jp",
    "windows-874": "cp874",
    "utf-8-sig": "utf-8",
}
_SJIS = frozenset({"shift_jis", "cp932", "shift_jis_2004", "shift_jisx0213"})
_EUCJP = frozenset({"euc_jp", "euc_jis_2004", "euc_jisx0213"})
# Double-byte charsets whose second byte may look like ASCII (0x40-0x7E).
_DBCS = frozenset({"big5", "big5hkscs", "cp950", "gbk", "gb18030", "gb2312", "euc_kr", "cp949", "johab"})
_SJIS_LEAD = rb"[\x81-\x9f\xe0-\xfc]"
_DBCS_LEAD = rb"[\x81-\xfe]"


@dataclass(frozen=True)
class PartCharset:
    """A part's charset: the declared label, the Python codec behind it, and how it behaves."""

    label: str | None
    codec: str
    family: str  # ascii | utf8 | iso2022jp | sjis | eucjp | dbcs | single

    @property
    def analysis_codec(self) -> str:
        # cp932 reads NEC/IBM extensions that plain shift_jis calls errors.
        return "cp932" if self.family == "sjis" else self.codec


ASCII = PartCharset(None, "ascii", "ascii")


def resolve_charset(label: str | None) -> PartCharset:
    """Map a charset parameter to a PartCharset; UnsupportedPart for what we cannot splice into."""
    if label is None or not label.strip():
        return ASCII
    name = label.strip().strip("\"'").lower()
    # "x-" names are private labels of registered charsets more often than not (x-mac-cyrillic).
    for candidate in (name, name.removeprefix("x-")):
        try:
            codec = codecs.lookup(_ALIASES.get(candidate, candidate)).name
        except LookupError:
            continue
        return PartCharset(label, codec, _family(codec, label))
    raise UnsupportedPart(f"unknown charset {label!r}")


def _family(codec: str, label: str) -> str:
    if codec == "ascii":
        return "ascii"
    if codec == "utf-8":
        return "utf8"
    if codec.startswith("iso2022_jp"):
        return "iso2022jp"
    for family, members in (("sjis", _SJIS), ("eucjp", _EUCJP), ("dbcs", _DBCS)):
        if codec in members:
            return family
    # Anything else must be a stateless charset in which ASCII is ASCII (ISO-8859-*, windows-125x,
    # KOI8 …); that rules out UTF-16/32, UTF-7, HZ, ISO-2022-KR and EBCDIC.
    probe = "Line <a href=x>\r\n"
    try:
        same = probe.encode(codec) == probe.encode("ascii")
    except UnicodeError:
        same = False
    if not same or codec.startswith(("utf", "iso2022", "hz")):
        raise UnsupportedPart(f"charset {label!r} is not ASCII-compatible; cannot splice into it")
    return "single"


def ascii_view(data: bytes, charset: PartCharset) -> bytes:
    """``data`` with every octet that is part of a non-ASCII character replaced by 0xFF.

    Same length, so offsets carry over. An ASCII search in the view ("<div", a placeholder) only
    finds real ASCII text: not the second byte of a Shift_JIS kanji, not JIS X 0208 bytes between
    ISO-2022-JP escapes.
    """
    if charset.family == "iso2022jp":
        return _iso2022_view(data)
    if charset.family in ("sjis", "dbcs"):
        lead = _SJIS_LEAD if charset.family == "sjis" else _DBCS_LEAD
        return re.sub(lead + rb"[^\r\n]", b"\xff\xff", data)
    return data


# ISO-2022 escape sequences (ISO 2022 / RFC 1468, 1554): designations and single shifts.
_ESCAPE = re.compile(rb"\x1b(?:[$()*+,\-./]{1,2}[\x40-\x7e]|[NO])")
_ESC_ASCII = b"\x1b(B"
_ESC_ROMAN = b"\x1b(J"
_ESC_JIS = b"\x1b$B"
_MASK_GRAPHIC = bytes(0xFF if 0x21 <= b <= 0x7E else b for b in range(256))


def _designates_g0(escape: bytes) -> bool:
    # ESC ( F and ESC $ F / ESC $ ( F designate G0; G1-G3 designations do not change what the
    # following bytes mean in ISO-2022-JP.
    return escape[1:2] == b"(" or (escape[1:2] == b"$" and escape[2:3] not in b")*+,-./")


def iso2022_state(data: bytes) -> bytes:
    """The G0 designation in force after ``data`` (ASCII when there is none).

    Read backwards from the end: the last designation decides, and it is usually a few bytes back.
    Escape sequences hold no ESC byte, so the backward search finds the same ones a forward scan does.
    """
    position = data.rfind(b"\x1b")
    while position >= 0:
        match = _ESCAPE.match(data, position)
        if match is not None and _designates_g0(match.group()):
            return match.group()
        position = data.rfind(b"\x1b", 0, position)
    return _ESC_ASCII


_SINGLE_BYTE_STATES = (_ESC_ASCII, _ESC_ROMAN)
_NOT_G0_AFTER_DOLLAR = b")*+,-./"


# The four escapes ISO-2022-JP mail almost always limits itself to: JIS X 0208 on, ASCII/Roman on.
_PLAIN_SWITCH = re.compile(rb"(\x1b\$[@B]|\x1b\([BJ])")


def _iso2022_view(data: bytes) -> bytes:
    if b"\x1b" not in data:
        return data  # all ASCII: nothing to mask
    split = _PLAIN_SWITCH.split(data)
    if len(split) // 2 == data.count(b"\x1b"):
        # Only those four: text and escapes alternate, and each escape alone sets the mode.
        out = [split[0]]
        for index in range(1, len(split), 2):
            text = split[index + 1]
            out.append(b"\xff\xff\xff")
            out.append(text.translate(_MASK_GRAPHIC) if split[index][1] == 0x24 else text)
        return b"".join(out)
    pieces: list[bytes] = []
    position, masked = 0, False
    for match in _ESCAPE.finditer(data):
        start, end = match.span()
        text = data[position:start]
        pieces.append(text.translate(_MASK_GRAPHIC) if masked else text)
        pieces.append(b"\xff" * (end - start))
        escape = match.group()
        # _designates_g0, inlined: this loop runs once per escape, hundreds of times a page.
        if escape[1] == 0x28 or (escape[1] == 0x24 and escape[2] not in _NOT_G0_AFTER_DOLLAR):
            masked = escape not in _SINGLE_BYTE_STATES
        position = end
    rest = data[position:]
    pieces.append(rest.translate(_MASK_GRAPHIC) if masked else rest)
    return b"".join(pieces)


def _sjis_to_jis(lead: int, trail: int) -> bytes:
    """Shift_JIS double-byte code to its JIS X 0208 row/cell bytes (the arithmetic of JIS X 0208
    annex 1, which also maps Microsoft's NEC row 13 and NEC-selected IBM rows 89-92)."""
    lead -= 0x40 if lead >= 0xE0 else 0
    row = (lead - 0x81) * 2 + (1 if trail < 0x9F else 2)
    cell = trail - 0x9F + 1 if trail >= 0x9F else trail - 0x40 + 1 - (1 if trail >= 0x80 else 0)
    return bytes((row + 0x20, cell + 0x20))


@functools.cache
def _cp932_jis_table() -> dict[str, bytes]:
    """Character -> JIS code for everything cp932 maps into the 94x94 JIS plane.

    This is how Japanese mailers (the CP50220 convention) send ①, ㍉ or 髙 as ISO-2022-JP/EUC-JP:
    NEC row 13 and the NEC-selected IBM extension rows 89-92. Where cp932 has a character twice,
    the first (standard) code wins.
    """
    table: dict[str, bytes] = {}
    for lead in chain(range(0x81, 0xA0), range(0xE0, 0xF0)):
        for trail in chain(range(0x40, 0x7F), range(0x80, 0xFD)):
            try:
                char = bytes((lead, trail)).decode("cp932")
            except UnicodeDecodeError:
                continue
            table.setdefault(char, _sjis_to_jis(lead, trail))
    return table


@functools.lru_cache(maxsize=8192)
def _jis_code(char: str) -> bytes | None:
    try:
        euc = char.encode("euc_jp")
    except UnicodeEncodeError:
        euc = b""
    if len(euc) == 2 and min(euc) >= 0xA1:
        return bytes(octet & 0x7F for octet in euc)
    return _cp932_jis_table().get(char)


def _encode_char(char: str, charset: PartCharset) -> tuple[bool, bytes] | None:
    """The octets for one character, and whether they are JIS X 0208 (ISO-2022-JP 2-byte mode)."""
    if charset.family == "iso2022jp":
        if ord(char) < 0x80:
            return False, char.encode("ascii")
        jis = _jis_code(char)
        return (True, jis) if jis else None
    for codec in (charset.codec, "cp932") if charset.family == "sjis" else (charset.codec,):
        try:
            return False, char.encode(codec)
        except UnicodeEncodeError:
            pass
    if charset.family == "eucjp" and (jis := _jis_code(char)):
        return False, bytes(octet | 0x80 for octet in jis)
    return None


def encode_text(text: str, charset: PartCharset, *, charrefs: bool = False) -> bytes:
    """Encode ``text`` in ``charset``; ISO-2022-JP output starts and ends in ASCII mode.

    With ``charrefs`` (for HTML) a character the charset lacks becomes ``&#NNNN;``; without,
    CannotEncode names the characters.
    """
    out = bytearray()
    in_jis = False
    missing: list[str] = []
    table = {char: _encode_char(char, charset) for char in set(text)}  # a block repeats its letters
    for char in text:
        encoded = table[char]
        if encoded is None and not charrefs:
            missing.append(char)
            continue
        is_jis, octets = encoded or (False, b"&#%d;" % ord(char))
        if is_jis != in_jis:
            out += _ESC_JIS if is_jis else _ESC_ASCII
            in_jis = is_jis
        out += octets
    if in_jis:
        out += _ESC_ASCII
    if missing:
        name = charset.label or "us-ascii"
        raise CannotEncode(f"{name} cannot hold {''.join(sorted(set(missing)))!r}")
    return bytes(out)


def encode_insertion(text: str, charset: PartCharset, preceding: bytes, *, charrefs: bool = False) -> bytes:
    """``encode_text``, made safe to insert after the original octets ``preceding``.

    ISO-2022-JP is stateful: if the original text is not in ASCII mode there (sloppy mailers do
    not always return to ASCII before a line ends), the block switches to ASCII itself and then
    re-establishes the mode that was in force, so the original octets after it still decode.
    """
    octets = encode_text(text, charset, charrefs=charrefs)
    if charset.family != "iso2022jp" or not octets:
        return octets
    state = iso2022_state(preceding)
    return octets if state == _ESC_ASCII else _ESC_ASCII + octets + state


def analysis_text(data: bytes, charset: PartCharset) -> list[tuple[int, int, str]]:
    """Decode ``data`` line by line for looking at it: (start, end, text without line ending).

    errors="replace" and one decoder fed line by line, so ISO-2022-JP state carries across lines
    and a bad octet costs one character, never a line.
    """
    decoder = codecs.getincrementaldecoder(charset.analysis_codec)(errors="replace")
    lines = []
    for match in re.finditer(rb"[^\n]*\n|[^\n]+\Z", data):
        text = decoder.decode(match.group())
        lines.append((match.start(), match.end(), text.rstrip("\r\n")))
    return lines


# --- splicing octets into the part -------------------------------------------------------------


def splice_insertion(
    body: bytes,
    *,
    cte: str,
    charset: PartCharset,
    decoded: DecodedBody,
    span: tuple[int, int],
    text: str,
    where: str,
    html: bool = False,
) -> LeafSplice:
    """Put ``text`` in place of decoded octets ``span`` (equal ends: an insertion).

    The text is encoded in the part's charset. Text parts that cannot hold it: a us-ascii part
    becomes UTF-8 (ASCII is UTF-8, nothing else changes); any other charset is converted to UTF-8
    only when it decodes strictly and re-encodes to the very same octets, else UnsupportedPart.
    HTML never changes charset: it uses character references. A 7bit part that now needs 8-bit
    octets (or a line over 998 octets) is re-encoded as quoted-printable, which is lossless.
    """
    kind = normalize_cte(cte)
    data = decoded.data
    start, end = span
    new_charset: str | None = None
    try:
        octets = encode_insertion(text, charset, data[:start], charrefs=html)
    except CannotEncode:
        if charset.family != "ascii" or not _is_utf8(data):
            return _whole_part(body, kind, _convert_to_utf8(data, charset, span, text), where)
        octets, new_charset = text.encode("utf-8"), "utf-8"
    if html and kind == "7bit" and not octets.isascii():
        octets = encode_insertion(text, ASCII, b"", charrefs=True)
    if _needs_qp(octets, kind):
        return _whole_part(body, kind, data[:start] + octets + data[end:], where, new_charset)
    newline = detect_newline(data)
    return LeafSplice(replace_encoded(body, kind, start, end, octets, newline), new_charset, None, where)


def _needs_qp(octets: bytes, kind: str) -> bool:
    if kind not in ("7bit", "8bit", "binary"):
        return False
    too_long = any(len(line.rstrip(b"\r")) > 998 for line in octets.split(b"\n"))
    return too_long or (kind == "7bit" and not octets.isascii())


def _whole_part(body: bytes, kind: str, data: bytes, where: str, charset: str | None = "utf-8") -> LeafSplice:
    """Re-encode the whole decoded ``data`` (lossless: it is the exact new content)."""
    target = "quoted-printable" if _needs_qp(data, kind) else kind
    return LeafSplice(reencode(body, target, data), charset, None if target == kind else target, where)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _convert_to_utf8(data: bytes, charset: PartCharset, span: tuple[int, int], text: str) -> bytes:
    name = charset.label or "us-ascii"
    try:
        original = data.decode(charset.codec)
        lossless = original.encode(charset.codec) == data
    except UnicodeError:
        lossless = False
    if not lossless:
        raise UnsupportedPart(
            f"{name} cannot hold the block and the part does not convert to UTF-8 losslessly"
        )
    head, tail = (len(data[:offset].decode(charset.codec)) for offset in span)
    return (original[:head] + text + original[tail:]).encode("utf-8")


# --- where the block goes in plain text ------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    start: int  # decoded octets [start, end) are replaced by the block
    end: int
    where: str
    break_before: bool  # the block starts mid-line: end that line first
    blank_before: bool  # a blank line must separate the block from the text above
    blank_after: bool  # …and from the text below


def splice_text_block(
    body: bytes,
    *,
    cte: str,
    charset: str | None,
    block: str,
    placeholder: str = DEFAULT_PLACEHOLDER,
    flowed: bool = False,
    delsp: bool = False,
) -> LeafSplice:
    """Splice ``block`` (rendered text, any line endings) into a text/plain leaf ``body``.

    ``flowed``/``delsp`` are the part's format=flowed parameters (RFC 3676). The block's lines are
    always fixed lines (no trailing space), so they never join a neighbour whatever DelSp says; in
    flowed text they are space-stuffed where RFC 3676 section 4.4 asks for it.
    """
    del delsp  # fixed lines read the same with DelSp=yes and DelSp=no
    part_charset = resolve_charset(charset)
    decoded = decode_body(body, cte)
    lines = analysis_text(decoded.data, part_charset)
    if has_marker("\n".join(text for _, _, text in lines)):
        raise UnsupportedPart("the part already carries the Career Relay block")
    target = _find_target(decoded.data, lines, part_charset, placeholder)
    newline = detect_newline(decoded.data)
    text = _shape_block(block, target, newline.decode("ascii"), flowed=flowed)
    span = (target.start, target.end)
    return splice_insertion(
        body, cte=cte, charset=part_charset, decoded=decoded, span=span, text=text, where=target.where
    )


def _shape_block(block: str, target: _Target, newline: str, *, flowed: bool) -> str:
    core = [line.rstrip() for line in block.strip("\r\n").splitlines()]
    if flowed:
        # RFC 3676 4.4: a line starting with space, ">" or "From " is space-stuffed.
        core = [" " + line if line.startswith((" ", ">", "From ")) else line for line in core]
    lines = [""] * target.blank_before + core + [""] * target.blank_after
    return newline * target.break_before + "".join(line + newline for line in lines)


def _is_blank(lines: list[tuple[int, int, str]], index: int) -> bool:
    """True for a blank line, and for no line at all (the start or end of the body)."""
    return not 0 <= index < len(lines) or not lines[index][2].strip()


def _find_target(
    data: bytes, lines: list[tuple[int, int, str]], charset: PartCharset, placeholder: str
) -> _Target:
    found = _placeholder_target(data, lines, charset, placeholder)
    if found:
        return found
    landmark = _landmark([text for _, _, text in lines])
    if landmark:
        index, where = landmark
        start = lines[index][0]
        return _Target(start, start, where, False, not _is_blank(lines, index - 1), True)
    missing_newline = bool(data) and not data.endswith(b"\n")
    last = len(lines) - 1
    return _Target(len(data), len(data), "at end", missing_newline, not _is_blank(lines, last), False)


def _placeholder_target(
    data: bytes, lines: list[tuple[int, int, str]], charset: PartCharset, placeholder: str
) -> _Target | None:
    needle = placeholder.encode("ascii")
    # The view only masks octets (to 0xFF), so it holds the placeholder only where the data does:
    # without it in the data there is nothing to find, and no view to build.
    position = ascii_view(data, charset).find(needle) if needle in data else -1
    if position < 0:
        return None
    index = next(i for i, (_, end, _) in enumerate(lines) if end > position)
    line_start, line_end, _ = lines[index]
    end = position + len(placeholder)
    content_end = line_start + len(data[line_start:line_end].rstrip(b"\r\n"))
    # Whitespace around the placeholder goes with it; text around it stays on its own line.
    before_text = bool(data[line_start:position].strip())
    after_text = bool(data[end:content_end].strip())
    return _Target(
        start=position if before_text else line_start,
        end=end if after_text else line_end,
        where="at placeholder",
        break_before=before_text,
        blank_before=before_text or not _is_blank(lines, index - 1),
        blank_after=after_text or not _is_blank(lines, index + 1),
    )


# Signature: RFC 3676 4.3 "-- ", and the "--" that many clients send without its space.
_SIG_DASHES = re.compile(r"^--\s*$")
# A decorative rule line: Japanese signatures are usually framed by one.
_RULE_CHARS = frozenset("-=*_~#+・―—━─═＝＊〜～■□◆◇●○★☆")
_SIG_CUE = re.compile(
    r"株式会社|有限会社|合同会社|[(（]株[)）]|〒|電話|\bInc\b|\bLtd\b|\bCorp|\bLLC\b|\bK\.K\."
    r"|\b(?:TEL|FAX|E-?mail|URL)\b|https?://|[\w.+-]+@[\w-]+\.[\w.-]+|\d{2,4}-\d{2,4}-\d{3,4}",
    re.IGNORECASE,
)
_SIG_MAX_LINES = 15  # a framed signature sits among the last lines before the end or the history


def _landmark(texts: list[str]) -> tuple[int, str] | None:
    """The first line of the signature or of the quoted history, whichever comes first."""
    history = history_start(texts)
    limit = history[0] if history else len(texts)
    signature = _signature_start(texts, limit)
    found = [item for item in (signature, history) if item]
    return min(found) if found else None


def _signature_start(texts: list[str], limit: int) -> tuple[int, str] | None:
    for index in range(limit):
        if _SIG_DASHES.match(texts[index]):
            return index, "above signature '-- '"
        if _is_framed_signature(texts, index, limit):
            return index, "above signature (rule line)"
    return None


def _is_rule(text: str) -> bool:
    stripped = text.strip()
    return len(stripped) >= 4 and set(stripped) <= _RULE_CHARS


def _is_framed_signature(texts: list[str], index: int, limit: int) -> bool:
    """A rule line directly followed by a company signature, near the end (conservative)."""
    if not _is_rule(texts[index]) or index + 1 >= limit or not texts[index + 1].strip():
        return False
    after = [text for text in texts[index + 1 : limit] if text.strip()]
    if len(after) > _SIG_MAX_LINES:
        return False
    block = []
    for text in texts[index + 1 : limit]:
        if not text.strip() or _is_rule(text):
            break
        block.append(text)
    return any(_SIG_CUE.search(text) for text in block)
