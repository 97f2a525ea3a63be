"""Splice the Career Relay block into one text/plain body, in the part's own charset.

The original text is only ever decoded to *look* at it (errors="replace", one line at a time so line
numbers stay true; see part_charset.py). The output is the original octets with the block's octets
inserted at a line boundary, encoded in the part's charset, and then in its Content-Transfer-Encoding
(see splice_slot.py and transfer.py).

The block goes, in this order of preference: at the placeholder; above the signature or the quoted
history, whichever comes first; at the end. That is decided once per message
(``prepare_text_splice``); each recipient's block is then only encoded into the slot.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from relay_smtp.mail.history import history_start
from relay_smtp.mail.part_charset import PartCharset, analysis_text, ascii_view, resolve_charset
from relay_smtp.mail.snippets import has_marker
from relay_smtp.mail.splice_slot import LeafSplice, SpliceSlot
from relay_smtp.mail.transfer import UnsupportedPart, decode_body, detect_newline

__all__ = ["DEFAULT_PLACEHOLDER", "prepare_text_splice", "splice_text_block"]

DEFAULT_PLACEHOLDER = "{{career_relay}}"


# --- where the block goes in plain text ------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    start: int  # decoded octets [start, end) are replaced by the block
    end: int
    where: str
    break_before: bool  # the block starts mid-line: end that line first
    blank_before: bool  # a blank line must separate the block from the text above
    blank_after: bool  # …and from the text below


def prepare_text_splice(
    body: bytes,
    *,
    cte: str,
    charset: str | None,
    placeholder: str = DEFAULT_PLACEHOLDER,
    flowed: bool = False,
) -> SpliceSlot:
    """Where a block goes in the text/plain leaf ``body``: ``fill`` it with a rendered text block.

    ``flowed`` is the part's format=flowed parameter (RFC 3676). The block's lines are always fixed
    lines (no trailing space), so they never join a neighbour whatever DelSp says; in flowed text
    they are space-stuffed where RFC 3676 section 4.4 asks for it.
    """
    part_charset = resolve_charset(charset)
    decoded = decode_body(body, cte)
    lines = analysis_text(decoded.data, part_charset)
    if has_marker("\n".join(text for _, _, text in lines)):
        raise UnsupportedPart("the part already carries the Career Relay block")
    target = _find_target(decoded.data, lines, part_charset, placeholder)
    newline = detect_newline(decoded.data).decode("ascii")
    shape = functools.partial(_shape_block, target=target, newline=newline, flowed=flowed)
    span = (target.start, target.end)
    return SpliceSlot(
        body, cte=cte, charset=part_charset, data=decoded.data, span=span, where=target.where, shape=shape
    )


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

    ``delsp`` changes nothing: fixed lines read the same with DelSp=yes and DelSp=no.
    """
    del delsp
    slot = prepare_text_splice(body, cte=cte, charset=charset, placeholder=placeholder, flowed=flowed)
    return slot.fill(block)


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
        stripped = texts[index].lstrip()
        if not stripped or stripped[0] not in _RULE_CHARS:
            continue  # neither "--" nor a rule line: most lines, passed over without a regex
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
