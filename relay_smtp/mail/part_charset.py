"""A text part's charset as the splicer sees it: which codec, how to look at its octets, how to write.

Japanese mail is the reason this module is careful. Python's codecs cannot round-trip every real
message (NEC and IBM extension characters such as ①, ㍉ and 髙 sent as ISO-2022-JP or Shift_JIS), so the
original text is only ever decoded to *look* at it (``analysis_text``, ``ascii_view``), and the block
is encoded character by character the way Japanese mailers write it (``encode_text``). Shared by the
text and the HTML splice.
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass
from itertools import chain

from relay_smtp.mail.charsets import ascii_transparent, codec_name
from relay_smtp.mail.transfer import UnsupportedPart

__all__ = [
    "ASCII",
    "CannotEncode",
    "PartCharset",
    "analysis_page",
    "analysis_text",
    "ascii_view",
    "encode_insertion",
    "encode_text",
    "iso2022_state",
    "may_hold_ascii",
    "resolve_charset",
]


class CannotEncode(ValueError):
    """The part's charset has no octets for some characters of the block."""


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
    codec = codec_name(label)
    if codec is None:
        raise UnsupportedPart(f"unknown charset {label!r}")
    return PartCharset(label, codec, _family(codec, label))


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
    if not ascii_transparent(codec) or codec.startswith(("utf", "iso2022")):
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


def iso2022_state(data: bytes, end: int | None = None) -> bytes:
    """The G0 designation in force after ``data[:end]`` (ASCII when there is none).

    Read backwards from the end: the last designation decides, and it is usually a few bytes back.
    Escape sequences hold no ESC byte, so the backward search finds the same ones a forward scan does.
    """
    end = len(data) if end is None else end
    position = data.rfind(b"\x1b", 0, end)
    while position >= 0:
        match = _ESCAPE.match(data, position, end)
        if match is not None and _designates_g0(match.group()):
            return match.group()
        position = data.rfind(b"\x1b", 0, position)
    return _ESC_ASCII


_SINGLE_BYTE_STATES = (_ESC_ASCII, _ESC_ROMAN)
_NOT_G0_AFTER_DOLLAR = b")*+,-./"


# The four escapes ISO-2022-JP mail almost always limits itself to (after the ESC), and whether they
# switch to JIS X 0208 (masked) or to ASCII/Roman.
_PLAIN_SWITCH = {b"$@": True, b"$B": True, b"(B": False, b"(J": False}


def _iso2022_view(data: bytes) -> bytes:
    if b"\x1b" not in data:
        return data  # all ASCII: nothing to mask
    first, *escaped = data.split(b"\x1b")
    try:
        # Only those four: each piece after an ESC starts with the rest of its escape, which alone
        # sets the mode (any other escape is no key here, and takes the general way below).
        texts = [
            text[2:].translate(_MASK_GRAPHIC) if _PLAIN_SWITCH[text[:2]] else text[2:] for text in escaped
        ]
    except KeyError:
        pass
    else:
        return b"\xff\xff\xff".join([first, *texts])
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


# An ESC that does not start one of the four escapes every ISO-2022-JP codec reads (ASCII, JIS X 0201
# Roman, JIS X 0208-1978 and -1983), and the octets those four are made of.
_OTHER_ESCAPE = re.compile(rb"\x1b(?!\$[@B]|\([BJ])")
_PLAIN_ESCAPE_OCTETS = b"\x1b$(@BJ"


def may_hold_ascii(data: bytes, charset: PartCharset, needle: bytes) -> bool:
    """False only where ``data``, decoded for analysis, cannot contain ``needle`` (printable ASCII):
    a cheap test that spares decoding ISO-2022-JP, whose codec is slow.

    An ISO-2022-JP decoder writes ASCII letters and signs only for the same octets in ASCII or
    Roman mode (Roman differs from ASCII in "\\" and "~" only); JIS X 0208 pairs and bad octets
    become other characters. So where the only escapes are the four plain ones (then the only octets
    read into nothing), a needle in the text is a needle in the octets once those escapes are taken
    out, and still once every octet they are made of is (deleting octets the needle does not hold
    keeps it whole): one C-level pass. Any other ESC, or a needle holding such octets: True.
    """
    if charset.family != "iso2022jp":
        return True
    if any(octet in needle for octet in b"\\~" + _PLAIN_ESCAPE_OCTETS):
        return True
    if _OTHER_ESCAPE.search(data) is not None:
        return True
    return needle in data.translate(None, _PLAIN_ESCAPE_OCTETS)


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


@functools.lru_cache(maxsize=4096)
def _encode_char(char: str, codec: str, family: str) -> tuple[bool, bytes] | None:
    """The octets for one character in a charset (its codec and family, see ``PartCharset``), and
    whether they are JIS X 0208 (ISO-2022-JP 2-byte mode). Cached: every recipient's block has the
    same letters."""
    if family == "iso2022jp":
        if ord(char) < 0x80:
            return False, char.encode("ascii")
        jis = _jis_code(char)
        return (True, jis) if jis else None
    for name in (codec, "cp932") if family == "sjis" else (codec,):
        try:
            return False, char.encode(name)
        except UnicodeEncodeError:
            pass
    if family == "eucjp" and (jis := _jis_code(char)):
        return False, bytes(octet | 0x80 for octet in jis)
    return None


def encode_text(text: str, charset: PartCharset, *, charrefs: bool = False) -> bytes:
    """Encode ``text`` in ``charset``; ISO-2022-JP output starts and ends in ASCII mode.

    With ``charrefs`` (for HTML) a character the charset lacks becomes ``&#NNNN;``; without,
    CannotEncode names the characters.
    """
    whole = _encode_whole(text, charset)
    if whole is not None:
        return whole
    codec, family = charset.codec, charset.family
    table = {char: _encode_char(char, codec, family) for char in set(text)}  # a block repeats letters
    missing = [char for char, encoded in table.items() if encoded is None]
    if missing and not charrefs:
        name = charset.label or "us-ascii"
        raise CannotEncode(f"{name} cannot hold {''.join(sorted(missing))!r}")
    out = bytearray()
    in_jis = False
    for char in text:
        is_jis, octets = table[char] or (False, b"&#%d;" % ord(char))
        if is_jis != in_jis:
            out += _ESC_JIS if is_jis else _ESC_ASCII
            in_jis = is_jis
        out += octets
    if in_jis:
        out += _ESC_ASCII
    return bytes(out)


# Codecs that write a character alone as they write it within any text: for them the codec's
# encoding of a whole text is what the character loop of ``encode_text`` writes, at C speed. (The JIS
# X 0213 codecs and Big5-HKSCS join some pairs of characters into one code; the loop never does.)
_WHOLE_TEXT_CODECS = frozenset({"ascii", "utf-8", "shift_jis", "cp932", "euc_jp"})
# Characters Python's iso2022_jp codec writes as ``_encode_char`` does (ASCII, or JIS X 0208 between
# ESC $ B and ESC ( B): grows as blocks are encoded.
_ISO2022_SAME: set[str] = {chr(code) for code in range(0x80)}


def _encode_whole(text: str, charset: PartCharset) -> bytes | None:
    """``text`` encoded by the codec in one call, where that gives the loop's octets; else None."""
    if charset.family == "iso2022jp":
        if not _ISO2022_SAME.issuperset(text):
            for char in set(text).difference(_ISO2022_SAME):
                if _iso2022_same(char):
                    _ISO2022_SAME.add(char)
                else:
                    return None
        return text.encode("iso2022_jp")
    if charset.family == "single" or charset.codec in _WHOLE_TEXT_CODECS:
        try:
            return text.encode(charset.codec)
        except UnicodeEncodeError:
            return None
    return None


def _iso2022_same(char: str) -> bool:
    jis = _jis_code(char)
    try:
        return jis is not None and char.encode("iso2022_jp") == _ESC_JIS + jis + _ESC_ASCII
    except UnicodeEncodeError:
        return False


def encode_insertion(
    text: str, charset: PartCharset, state: bytes = _ESC_ASCII, *, charrefs: bool = False
) -> bytes:
    """``encode_text``, made safe to insert where the original text is in ISO-2022 mode ``state``
    (see ``iso2022_state``).

    ISO-2022-JP is stateful: if the original text is not in ASCII mode there (sloppy mailers do
    not always return to ASCII before a line ends), the block switches to ASCII itself and then
    re-establishes the mode that was in force, so the original octets after it still decode.
    """
    octets = encode_text(text, charset, charrefs=charrefs)
    if charset.family != "iso2022jp" or not octets:
        return octets
    return octets if state == _ESC_ASCII else _ESC_ASCII + octets + state


def analysis_text(data: bytes, charset: PartCharset) -> list[tuple[int, int, str]]:
    """Decode ``data`` line by line for looking at it: (start, end, text without line ending).

    errors="replace" and one decoder fed line by line, so ISO-2022-JP state carries across lines
    and a bad octet costs one character, never a line.
    """
    try:
        whole = _analysis_at_once(data, charset)
        if whole is not None:
            return whole
        decoder = codecs.getincrementaldecoder(charset.analysis_codec)(errors="replace")
        lines = []
        for match in re.finditer(rb"[^\n]*\n|[^\n]+\Z", data):
            text = decoder.decode(match.group())
            lines.append((match.start(), match.end(), text.rstrip("\r\n")))
        return lines
    except RuntimeError as exc:
        raise _codec_failed(charset) from exc


def analysis_page(data: bytes, charset: PartCharset) -> str:
    """Decode ``data`` whole for looking at it, errors replaced."""
    try:
        return data.decode(charset.analysis_codec, errors="replace")
    except RuntimeError as exc:
        raise _codec_failed(charset) from exc


def _codec_failed(charset: PartCharset) -> UnsupportedPart:
    # CPython's ISO-2022-JP-2 decoder raises RuntimeError ("internal codec error") on some invalid
    # designations (ESC . J then ESC N) instead of replacing them: such a part is left untouched.
    return UnsupportedPart(f"the {charset.analysis_codec} decoder fails on this part")


def _analysis_at_once(data: bytes, charset: PartCharset) -> list[tuple[int, int, str]] | None:
    """``analysis_text`` for octets that decode without error, in one call: then each line is what
    the line-by-line decoder gives, as no line break octet is ever part of another character in
    these charsets. None where that is not so (errors to replace; single-byte tables, not reasoned
    about)."""
    if charset.family == "single":
        return None
    try:
        text = data.decode(charset.analysis_codec)
    except UnicodeDecodeError:
        return None
    texts = text.split("\n")
    pieces = data.split(b"\n")
    if len(texts) != len(pieces):
        return None
    lines = []
    start = 0
    for piece, line in zip(pieces, texts, strict=True):
        end = start + len(piece) + 1
        lines.append((start, end, line.rstrip("\r\n")))
        start = end
    if not pieces[-1]:
        lines.pop()  # the data ended with a line break: no line after it
    else:
        lines[-1] = (lines[-1][0], len(data), lines[-1][2])
    return lines
