"""Where the sender's own words end and earlier mail begins: quoted history in text and in HTML.

Why this module exists: two parts of the relay need the same answer. The classifier reads only the
sender's own text (a rejection quoted below a reply is not this message's wording), and the splicer
puts the block above the quoted history rather than inside it. One set of rules serves both:

* plain text: a separator (-----Original Message-----, 転送されたメッセージ …), an attribution
  ("On … wrote:", 「…さんは書きました:」, a line ending in a colon followed by '>' lines), a forwarded
  header block (From:/Sent:/件名: …), or the '>' lines that run to the end;
* HTML: the class and id names that mail programs give the quoted part (Gmail, Outlook, Yahoo,
  Thunderbird), beside those of their signatures (``landmarks.py`` looks for both).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# --- HTML ---------------------------------------------------------------------------------------

QUOTE_CLASSES = {
    "gmail_quote": "Gmail quote (div.gmail_quote)",
    "gmail_quote_container": "Gmail quote (div.gmail_quote)",
    "moz-cite-prefix": "Thunderbird quote (div.moz-cite-prefix)",
    "yahoo_quoted": "Yahoo quote (div.yahoo_quoted)",
}
QUOTE_IDS = {
    "appendonsend": "Outlook reply (div#appendonsend)",
    "divRplyFwdMsg": "Outlook reply header (div#divRplyFwdMsg)",
}
SIGNATURE_CLASSES = {
    "gmail_signature": "Gmail signature (div.gmail_signature)",
    "gmail_signature_prefix": "Gmail signature (span.gmail_signature_prefix)",
    "moz-signature": "Thunderbird signature (div.moz-signature)",
}
SIGNATURE_IDS = {"Signature": "Outlook signature (div#Signature)"}

# --- plain text ---------------------------------------------------------------------------------

_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Forwarded message|Forwarded Message|元のメッセージ"
    r"|転送されたメッセージ|転送メッセージ|オリジナルメッセージ)\s*-{2,}\s*$"
    r"|^\s*Begin forwarded message:\s*$",
    re.IGNORECASE,
)
_ON_WROTE = re.compile(r"^\s*On\s.*\bwrote:\s*$")
_WROTE_END = re.compile(r"\bwrote:\s*$")
_JA_WROTE = re.compile(r"書きました\s*[:：]?\s*$")
_HEADER_FROM = re.compile(r"^\s*\*?(?:From|差出人|送信者)\*?\s*[:：]", re.IGNORECASE)
_HEADER_OTHER = re.compile(
    r"^\s*\*?(?:Sent|Date|To|Cc|Subject|送信日時|日時|日付|宛先|件名|CC)\*?\s*[:：]", re.IGNORECASE
)
QUOTED = re.compile(r"^\s*[>＞]")

_LineTest = Callable[[list[str], int], bool]  # (all lines, index) -> does the line qualify


def history_start(texts: list[str]) -> tuple[int, str] | None:
    """The first line of quoted history in ``texts`` (lines without line endings), and what it is.

    One pass from the top: the first line that any rule takes is where the history starts (where
    two rules take the same line, the first name in sort order describes it, as ever); quoted
    lines that run to the end count from their own first line.
    """
    found = None
    for index, text in enumerate(texts):
        if not _may_start_history(text):
            continue
        names = [where for test, where in _LINE_RULES if test(texts, index)]
        if names:
            found = (index, min(names))
            break
    trailing = _trailing_quote(texts)
    if trailing is not None and (found is None or trailing < found):
        found = trailing
    if found is None:
        return None
    index, where = found
    return _include_attribution_head(texts, index), where


def _may_start_history(text: str) -> bool:
    """False for a line no rule can take, strict or loose (most lines): each needs a dash, a colon
    or 書きました. Plain substring tests, so most lines cost no regex at all."""
    return "-" in text or ":" in text or "：" in text or "書きました" in text


def _is_separator(texts: list[str], index: int) -> bool:
    return bool(_SEPARATOR.match(texts[index]))


def _is_on_wrote(texts: list[str], index: int) -> bool:
    return bool(_ON_WROTE.match(texts[index]))


def _is_ja_wrote(texts: list[str], index: int) -> bool:
    return bool(_JA_WROTE.search(texts[index]))


def _is_header_block(texts: list[str], index: int) -> bool:
    if not _HEADER_FROM.match(texts[index]):
        return False
    return sum(bool(_HEADER_OTHER.match(text)) for text in texts[index + 1 : index + 6]) >= 2


def _is_attribution(texts: list[str], index: int) -> bool:
    """Any line ending in a colon that the quoted ('>') text follows: "… wrote:", 「…」より: …"""
    if not texts[index].rstrip().endswith((":", "：")) or QUOTED.match(texts[index]):
        return False
    following = [text for text in texts[index + 1 : index + 4] if text.strip()]
    return bool(following) and bool(QUOTED.match(following[0]))


def _trailing_quote(texts: list[str]) -> tuple[int, str] | None:
    """The quoted ('>') lines that run, with blank lines, to the end of the text."""
    start = None
    for index in range(len(texts) - 1, -1, -1):
        if QUOTED.match(texts[index]):
            start = index
        elif texts[index].strip():
            break
    return (start, "above quoted history ('>' lines)") if start is not None else None


def _include_attribution_head(texts: list[str], index: int) -> int:
    """Step up to lines that belong to the history's first line.

    Gmail wraps a long "On … wrote:" over two lines; Outlook puts a line of underscores above its
    From:/Sent: block.
    """
    if index == 0:
        return index
    above = texts[index - 1]
    if (
        _WROTE_END.search(texts[index])
        and above.lstrip().startswith("On ")
        and not _ON_WROTE.match(texts[index])
    ):
        return index - 1
    if _HEADER_FROM.match(texts[index]) and re.fullmatch(r"\s*[_\-―━─]{8,}\s*", above):
        return index - 1
    return index


_LINE_RULES: tuple[tuple[_LineTest, str], ...] = (
    (_is_separator, "above quoted history (-----Original Message-----)"),
    (_is_on_wrote, "above quoted history (On … wrote:)"),
    (_is_ja_wrote, "above quoted history (…さんは書きました:)"),
    (_is_header_block, "above forwarded header block (From:/差出人:)"),
    (_is_attribution, "above quoted history (attribution and '>' lines)"),
)


def own_text(text: str) -> str:
    """``text`` without its quoted history, for reading: everything from where it starts (by the
    rules above or the looser ones below, whichever finds it first), and '>' lines."""
    lines = text.splitlines()
    starts = [found[0] for found in (history_start(lines), _loose_start(lines)) if found is not None]
    if starts:
        lines = lines[: min(starts)]
    return "\n".join(line for line in lines if not line.lstrip().startswith(">"))


# Looser signs, enough to stop reading (the classifier) but not to place a block by: any line that
# ends in "wrote:", a separator with text after it, a From: line followed by a date within four
# lines, a dated attribution line ("2026年3月2日(月) 10:15 名前 <a@b>:").
_LOOSE_SEPARATOR = re.compile(
    r"-{2,}\s*(?:original message|forwarded message|元のメッセージ|転送されたメッセージ)", re.I
)
_LOOSE_HEADER_NEXT = re.compile(r"\s*(?:sent|date|送信日時|日時|日付):", re.I)
_DATED_ATTRIBUTION = re.compile(r"\d{4}[年/.-]\s?\d{1,2}[月/.-]\s?\d{1,2}")


def _loose_start(lines: list[str]) -> tuple[int, str] | None:
    for i, line in enumerate(lines):
        start = _loose_start_at(lines, i) if _may_start_history(line) else None
        if start is not None:
            return start, "quoted history"
    return None


def _loose_start_at(lines: list[str], i: int) -> int | None:
    line = lines[i].strip()
    low = line.lower()
    if low.endswith(("wrote:", "書きました:", "のメッセージ:")):
        # "On Mon, 2 Mar 2026 ... <addr>" is often wrapped before "wrote:".
        if i and lines[i - 1].strip().lower().startswith("on ") and not low.startswith("on "):
            return i - 1
        return i
    if low.startswith("-") and _LOOSE_SEPARATOR.match(low):
        return i
    if low.startswith(("from:", "差出人:", "送信者:")) and any(
        _LOOSE_HEADER_NEXT.match(next_line) for next_line in lines[i + 1 : i + 5]
    ):
        return i
    # Plain string tests first: no regex over a long line.
    if line.endswith(":") and "@" in line and line[:4].isdigit() and _DATED_ATTRIBUTION.match(line):
        return i
    return None
