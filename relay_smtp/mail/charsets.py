"""MIME charset labels to Python codecs, and the lenient decoding used to *read* mail.

Why this module exists: every part of the mail layer needs to turn a charset label from a header into
a codec, and the answers must agree (a part that ``choose_parts`` finds usable must be one the splicer
can encode into; the text the classifier reads must be the text the reader sees). So there is one
alias table and one lookup here.

Two ways of decoding live here, for two purposes:

* :func:`codec_name` / :func:`decode_replace`: the declared charset, strictly looked up, with
  ``errors="replace"``; for header parameters and encoded words;
* :func:`decode_lenient`: for the classifier, which must read what a person reads even when the mail
  lies about its charset: the declared charset's family (vendor supersets first), then the usual
  suspects of Japanese mail.
"""

from __future__ import annotations

import codecs
import functools

# Labels seen in real mail that Python's codec registry does not know by that name (or knows as a
# narrower codec than the mailers that write them mean).
ALIASES = {
    "windows-31j": "cp932",
    "x-sjis": "cp932",
    "cseucpkdfmtjapanese": "euc_jp",
    "x-euc-jp": "euc_jp",
    "iso-8859-8-i": "iso8859_8",
    "iso-8859-8-e": "iso8859_8",
    "iso-8859-6-i": "iso8859_6",
    "iso-8859-6-e": "iso8859_6",
    "windows-874": "cp874",
    "utf-8-sig": "utf-8",
}


@functools.lru_cache(maxsize=256)
def codec_name(charset: str) -> str | None:
    """Python's codec name for a MIME charset label, or None when Python cannot decode it."""
    name = charset.strip().strip("\"'").lower()
    # "x-" names are private labels of registered charsets more often than not (x-mac-cyrillic).
    for candidate in (name, name[2:] if name.startswith("x-") else ""):
        try:
            info = codecs.lookup(ALIASES.get(candidate, candidate))
            b"a".decode(info.name, "replace")  # rejects bytes-to-bytes codecs such as "base64"
        except (LookupError, ValueError):
            continue
        return info.name
    return None


def decode_replace(data: bytes, charset: str | None) -> str:
    """The declared charset with replacement characters; UTF-8, else Latin-1, when it is unknown."""
    codec = codec_name(charset) if charset else None
    if codec is not None:
        try:
            return data.decode(codec, "replace")
        except (LookupError, ValueError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# Codecs to try per declared charset. Mail often lies about its charset, and Japanese mail uses
# vendor extensions (NEC/IBM characters in "Shift_JIS" and "ISO-2022-JP"), so each family tries
# its supersets before the generic fallbacks.
_ISO2022 = ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_3", "iso2022_jp_2")
_SJIS = ("cp932", "shift_jis", "shift_jis_2004")
_EUC = ("euc_jp", "euc_jis_2004", "euc_jisx0213")
_FAMILIES = {
    "iso-2022-jp": _ISO2022,
    "iso-2022-jp-2": _ISO2022,
    "iso-2022-jp-ms": _ISO2022,
    "shift_jis": _SJIS,
    "shift-jis": _SJIS,
    "sjis": _SJIS,
    "x-sjis": _SJIS,
    "ms_kanji": _SJIS,
    "windows-31j": _SJIS,
    "cp932": _SJIS,
    "euc-jp": _EUC,
    "x-euc-jp": _EUC,
}
_FALLBACKS = ("utf-8", "cp932", "euc_jp")


def decode_lenient(data: bytes, charset: str | None) -> str:
    """Decode to read: the declared charset (and its family), then the usual suspects."""
    declared = (charset or "").strip().strip('"').lower()
    candidates = list(_FAMILIES.get(declared, (declared,) if declared else ()))
    if b"\x1b$" in data or b"\x1b(" in data:
        # 7-bit ISO-2022-JP also "decodes" as UTF-8, escapes and all: never fall back to that.
        # NEC/IBM extension characters (①, ㍉) fail every codec; then decode with replacement.
        candidates = [c for c in candidates if c.startswith("iso2022")] + list(_ISO2022)
    else:
        candidates += _FALLBACKS
    first_known = None
    for codec in candidates:
        try:
            return data.decode(codec)
        except LookupError:
            continue
        except UnicodeDecodeError:
            first_known = first_known or codec
    return data.decode(first_known or "utf-8", errors="replace")


def ascii_transparent(codec: str) -> bool:
    """True when every ASCII character is written as its own octet (so an ASCII string in the text
    is that string's octets in the data): false for UTF-16/32, UTF-7, HZ and EBCDIC."""
    probe = "{Line <a href=x>}\r\n"
    try:
        return probe.encode(codec) == probe.encode("ascii") and not codec.startswith(("utf_7", "utf-7", "hz"))
    except (UnicodeError, LookupError):
        return False
