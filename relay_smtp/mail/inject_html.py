"""Splice the Career Relay block into one text/html body without re-serialising the page.

A parser's output is never what goes out: a parser re-serialises markup its own way, and
mail HTML (Outlook conditional comments, odd nesting, ISO-2022-JP text) does not survive that
unchanged. So the work is split in two:

1. *Decide* which landmark the block belongs before: the placeholder, the first sign-off or
   quoted-history element (Gmail, Outlook, Apple Mail, Thunderbird …; found by lxml, see
   ``landmarks.py``), ``</body>``.
2. *Locate* that landmark in the original octets. lxml does not give source offsets, so we scan the
   decoded octets for tags ourselves (tags are ASCII; the scan runs on ``ascii_view`` so Shift_JIS
   trail bytes and JIS X 0208 text cannot pose as markup) and pick the n-th start tag of the same
   name, checking that its attributes agree with the element the parser chose.

The block is then inserted at that decoded offset (any offset works for HTML: quoted-printable
splits an encoded line with a soft line break, see transfer.insert_encoded), encoded in the part's
charset with character references for what the charset lacks. HTML never changes charset.
"""

from __future__ import annotations

import bisect
import functools
import html
import re
from collections.abc import Callable

from relay_smtp.mail.inject_text import DEFAULT_PLACEHOLDER
from relay_smtp.mail.landmarks import COMPARED, Landmark, find_landmark, may_have_landmark
from relay_smtp.mail.part_charset import (
    ASCII,
    PartCharset,
    analysis_page,
    ascii_view,
    may_hold_ascii,
    resolve_charset,
)
from relay_smtp.mail.snippets import MARKER_CORE, has_marker
from relay_smtp.mail.splice_slot import LeafSplice, SpliceSlot
from relay_smtp.mail.transfer import UnsupportedPart, decode_body, detect_newline

__all__ = ["prepare_html_splice", "splice_html_block"]


def prepare_html_splice(
    body: bytes, *, cte: str, charset: str | None, placeholder: str = DEFAULT_PLACEHOLDER
) -> SpliceSlot:
    """Where a block goes in the text/html leaf ``body``: ``fill`` it with a rendered HTML block."""
    decoded = decode_body(body, cte)
    data = decoded.data
    part_charset, known = _html_charset(data, charset)
    # Decoding is only for looking (the marker check, the landmark parse); ISO-2022-JP decodes
    # slowly, so it is skipped where neither can find anything.
    page = functools.cache(functools.partial(analysis_page, data, part_charset))
    if may_hold_ascii(data, part_charset, MARKER_CORE.encode("ascii")) and has_marker(page()):
        raise UnsupportedPart("the part already carries the Career Relay block")
    view = ascii_view(data, part_charset)
    start, end, where = _find_target(view, page, _scan_markup(view), placeholder)
    newline = detect_newline(data).decode("ascii")
    # Start the block on a line of its own: the line it splits never grows past its old length.
    lead = "" if start == 0 or data[start - 1 : start] == b"\n" else newline
    return SpliceSlot(
        body,
        cte=cte,
        # Without any declared charset we cannot know how the reader decodes 8-bit octets.
        charset=part_charset if known else ASCII,
        data=data,
        span=(start, end),
        where=where,
        shape=functools.partial(_shape_block, lead=lead, newline=newline),
        html=True,
    )


def _shape_block(block_html: str, *, lead: str, newline: str) -> str:
    return lead + newline.join(block_html.strip("\r\n").splitlines()) + newline


def splice_html_block(
    body: bytes,
    *,
    cte: str,
    charset: str | None,
    block_html: str,
    placeholder: str = DEFAULT_PLACEHOLDER,
) -> LeafSplice:
    """Splice ``block_html`` (rendered, already escaped) into a text/html leaf ``body``."""
    slot = prepare_html_splice(body, cte=cte, charset=charset, placeholder=placeholder)
    return slot.fill(block_html)


_META_CHARSET = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:\-]+)", re.I)


def _html_charset(data: bytes, label: str | None) -> tuple[PartCharset, bool]:
    """The part's charset parameter, else the page's <meta> charset, else UTF-8 for analysis only.

    The second value says whether the charset is actually known (declared somewhere).
    """
    if label and label.strip():
        return resolve_charset(label), True
    meta = _META_CHARSET.search(data)
    if meta:
        try:
            return resolve_charset(meta.group(1).decode("ascii")), True
        except UnsupportedPart:
            pass
    return resolve_charset("utf-8"), False


# --- scanning the original markup --------------------------------------------------------------


class _Tag:
    """A start or end tag in the original markup. A plain slotted class, not a dataclass: a page
    has hundreds of tags, and their attributes are parsed only for the few compared with a
    landmark."""

    __slots__ = ("_attrs", "closing", "end", "name", "raw_attrs", "start")

    def __init__(self, start: int, end: int, name: str, closing: bool, raw_attrs: bytes) -> None:
        self.start, self.end, self.name, self.closing = start, end, name, closing
        self.raw_attrs = raw_attrs
        self._attrs: dict[str, str] | None = None

    @property
    def attrs(self) -> dict[str, str]:
        if self._attrs is None:
            self._attrs = _attributes(self.raw_attrs)
        return self._attrs


class _Markup:
    """The page's tokens (tags, comments, declarations) and raw-text stretches, in order.

    Tags and spans are made from the matches only when asked for: the usual placement (before
    ``</body>``) needs neither, and a page has hundreds of tags.
    """

    def __init__(self, matches: list[re.Match[bytes]], raw_spans: list[tuple[int, int]]) -> None:
        self.matches = matches
        self.raw_spans = raw_spans
        self._tags: list[_Tag] | None = None
        self._spans: list[tuple[int, int]] | None = None

    @property
    def tags(self) -> list[_Tag]:
        if self._tags is None:
            self._tags = [
                _Tag(m.start(), m.end(), _tag_name(name.lower()), bool(slash), attributes or b"")
                for m in self.matches
                for slash, name, attributes in (m.groups(),)
                if name
            ]
        return self._tags

    @property
    def spans(self) -> list[tuple[int, int]]:
        """Every range that is not text: tags, comments, script/style content …"""
        if self._spans is None:
            self._spans = sorted([m.span() for m in self.matches] + self.raw_spans)
        return self._spans

    def last_closing(self, name: bytes) -> int | None:
        """Where the last end tag called ``name`` starts."""
        for match in reversed(self.matches):
            slash, tag, _ = match.groups()
            if slash and tag and tag.lower() == name:
                return match.start()
        return None


# Written as "unrolled loops" (a run of plain characters, then a quoted string or "-" and another
# run) rather than one alternative per character: the same matches, at a fraction of the cost. The
# attributes' loop is possessive: it reads a tag in one way only, so giving characters back could not
# end it at a ">" either (the name, before it, may still give some back, as it always could).
_TOKEN = re.compile(
    rb"<!--[^-]*(?:-(?!->)[^-]*)*(?:-->|\Z)"  # comment (Outlook's <!--[if mso]> blocks included)
    rb"|<[!?][^>]*(?:>|\Z)"  # doctype, <![if …]>, processing instruction
    rb"|<(/?)([A-Za-z][^\s/>]*)([^'\">]*+(?:(?:\"[^\"]*+\"|'[^']*+')[^'\">]*+)*+)(?:>|\Z)",  # a tag
    re.S,
)
_ATTRIBUTE = re.compile(rb"([^\s\"'>/=]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")
# Their content is not markup (script/style for libxml2 too; title/textarea are RCDATA in HTML5):
# a placeholder there is not text of the page, and "<div" there is not a tag.
_RAW_TEXT = (b"script", b"style", b"title", b"textarea")


# A raw-text element's start tag, where _TOKEN would read one (its name ends there).
_RAW_OPEN = re.compile(rb"<(?:" + b"|".join(_RAW_TEXT) + rb")(?=[\s/>]|\Z)", re.I)


def _scan_markup(view: bytes) -> _Markup:
    """Every tag, comment and raw-text stretch of the page, in order.

    One pass of ``_TOKEN`` with as little Python per token as can be (a page has hundreds): only a
    raw-text element (script, style …) makes the scan restart, past its content, as "<div" in a
    script is not a tag. Its start tags are found ahead by ``_RAW_OPEN``; a candidate inside a
    comment or an attribute value starts no token, so it is passed over.
    """
    matches: list[re.Match[bytes]] = []
    raw_spans: list[tuple[int, int]] = []
    position: int | None = 0
    while position is not None:
        candidates = (candidate.start() for candidate in _RAW_OPEN.finditer(view, position))
        next_raw = next(candidates, None)
        start_at, position = position, None
        tokens = _TOKEN.finditer(view, start_at)
        for match in tokens:
            matches.append(match)
            if next_raw is None:
                matches.extend(tokens)  # no raw-text element ahead: the rest needs no looking at
                break
            start = match.start()
            while next_raw is not None and next_raw < start:
                next_raw = next(candidates, None)
            if start == next_raw and not match.group(1):
                name = match.group(2).lower()
                close = re.compile(rb"</" + re.escape(name) + rb"\b", re.I).search(view, match.end())
                content_end = close.start() if close else len(view)
                raw_spans.append((match.end(), content_end))
                position = content_end
                break
    return _Markup(matches, raw_spans)


@functools.lru_cache(maxsize=512)
def _tag_name(lowered: bytes) -> str:
    return lowered.decode("ascii", "replace")


def _attributes(raw: bytes) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(raw):
        value = match.group(2) or b""
        if value[:1] in (b'"', b"'"):
            value = value[1:-1]
        name = match.group(1).decode("latin-1").lower()
        attributes.setdefault(name, html.unescape(value.decode("latin-1")))
    return attributes


def _in_markup(markup: _Markup, position: int) -> bool:
    # Spans are in document order and do not overlap: only the last one starting at or before
    # ``position`` can hold it.
    index = bisect.bisect_right([start for start, _ in markup.spans], position) - 1
    return index >= 0 and position < markup.spans[index][1]


# --- deciding where the block goes ---------------------------------------------------------------


def _find_target(
    view: bytes, page: Callable[[], str], markup: _Markup, placeholder: str
) -> tuple[int, int, str]:
    position = _placeholder_position(view, markup, placeholder)
    if position is not None:
        return position, position + len(placeholder), "at placeholder"
    landmark = find_landmark(page()) if may_have_landmark(view) else None
    if landmark is not None:
        offset = _element_offset(landmark, markup)
        if offset is not None:
            return offset, offset, landmark.where
    for name in ("body", "html"):
        at = markup.last_closing(name.encode("ascii"))
        if at is not None:
            return at, at, f"before </{name}>"
    return len(view), len(view), "at end"


def _placeholder_position(view: bytes, markup: _Markup, placeholder: str) -> int | None:
    """The first placeholder in text (not in a tag, comment or script); None if there is none."""
    needle = placeholder.encode("ascii")
    position = view.find(needle)
    while position >= 0:
        if not _in_markup(markup, position):
            return position
        position = view.find(needle, position + 1)
    return None


def _element_offset(landmark: Landmark, markup: _Markup) -> int | None:
    """Where the landmark's start tag is in the original: the n-th start tag of its name, if the
    attributes agree, else the agreeing start tag nearest to that rank."""
    raw = [tag for tag in markup.tags if tag.name == landmark.name and not tag.closing]
    agreeing = [rank for rank, tag in enumerate(raw) if _same_attributes(tag, landmark)]
    if not agreeing:
        return None
    return raw[min(agreeing, key=lambda rank: abs(rank - landmark.rank))].start


def _same_attributes(tag: _Tag, landmark: Landmark) -> bool:
    return all(
        _comparable(tag.attrs.get(name, "")) == _comparable(landmark.attrs.get(name, "")) for name in COMPARED
    )


def _comparable(value: str) -> str:
    # The raw side only knows ASCII for sure (the view masks multibyte characters), so compare that.
    return "".join(char for char in value if char.isascii() and not char.isspace())
