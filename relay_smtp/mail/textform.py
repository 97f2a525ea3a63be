"""Text as the classifier's phrases see it: normalised once, in a Japanese and an English form.

Why this module exists: the phrase tables (``phrase_index``), the reader of a message
(``classify_read``) and the decision (``classify``) must agree on one normalisation: NFKC with
straight quotes, then lower case; Japanese with every space, line break and comma removed, English
with whitespace collapsed and a blank line kept as a sentence end. A phrase is normalised the same
way when it is compiled, so a phrase and a text meet in the same form.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Locale = Literal["ja", "en"]

_QUOTES = (("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"'))
_JA_CHAR_CLASS = r"[\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
JA_CHARS = re.compile(_JA_CHAR_CLASS)
# Runs rather than single characters: counting by deleting runs makes one match per run.
_JA_RUN = re.compile(_JA_CHAR_CLASS + "+")
# Every ASCII octet but the letters: deleting them from the ASCII octets leaves the letters.
_NOT_LATIN = bytes(b for b in range(128) if not chr(b).isalpha())


# The characters that keep Japanese lines from being NFKC already (full-width ASCII, the
# ideographic space, half-width katakana), mapped to their NFKC. Replacing a character by its NFKC
# leaves the line's NFKC unchanged (the same compatibility decomposition), and a line that is then
# normal needs no normalize() call, which costs microseconds per line of kanji.
_COMMON_NFKC = {
    code: unicodedata.normalize("NFKC", chr(code))
    for code in (0x3000, *range(0xFF01, 0xFF5F), *range(0xFF61, 0xFFA0))
}


def _nfkc_line(line: str) -> str:
    if unicodedata.is_normalized("NFKC", line):
        return line
    line = line.translate(_COMMON_NFKC)
    return line if unicodedata.is_normalized("NFKC", line) else unicodedata.normalize("NFKC", line)


def nfkc(text: str) -> str:
    """NFKC (full/half width folded) and curly quotes made straight.

    Normalises only the lines that need it: NFKC of a 20 KB Japanese text costs milliseconds,
    and most lines are already normal. (No NFKC composition crosses a line break.)
    """
    if not unicodedata.is_normalized("NFKC", text):
        text = "\n".join(map(_nfkc_line, text.split("\n")))
    for curly, straight in _QUOTES:
        if curly in text:
            text = text.replace(curly, straight)
    return text


def ja_form(text: str) -> str:
    # Japanese phrases match with every space, line break and comma removed: HR mail is
    # hard-wrapped mid-phrase (今後のご活躍を\nお祈り) and writes 残念ながら、今回は as often as
    # 残念ながら今回は. (NFKC has already turned the full-width comma into ",".)
    return "".join(text.lower().split()).replace("、", "").replace(",", "")


_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")


def en_form(text: str) -> str:
    # Whitespace collapsed, since English mail is wrapped mid-sentence; but a blank line ends a
    # sentence: "No" closing one paragraph must not negate "we'd like to offer you" in the next.
    paragraphs = (" ".join(p.lower().split()) for p in _PARAGRAPH_BREAK.split(text))
    return " . ".join(p for p in paragraphs if p)


def is_japanese(pattern: str) -> bool:
    return bool(JA_CHARS.search(pattern))


def locale_of(subject: str, text: str = "") -> Locale:
    """Japanese when kana and kanji are a real share of the subject and the start of the text."""
    sample = subject + "\n" + text[:4000]
    ja = len(sample) - len(_JA_RUN.sub("", sample))
    # The ASCII letters: what is left of the ASCII octets once everything else is deleted.
    latin = len(sample.encode("ascii", "ignore").translate(None, _NOT_LATIN))
    # One kana/kanji carries about as much as a short English word: a fifth is a real share.
    return "ja" if ja and ja * 5 >= ja + latin else "en"
