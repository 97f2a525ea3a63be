"""Where a mail page's own text ends: the first sign-off or quoted-history element, found with lxml.

Why this module exists: the HTML splice puts the block before the sender's signature or the quoted
message below it (Gmail, Outlook, Apple Mail, Thunderbird and Yahoo each mark them their own way).
Finding that element needs a real HTML parser (mail HTML is rarely well formed), but nothing more: lxml
alone parses a 20 KB page in a fraction of a millisecond, where BeautifulSoup on top of it took
several. The parse is only ever looked at; the splice itself works on the original octets and uses
what is returned here (the element's name, its rank among elements of that name, its attributes) to
find the same start tag in them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import lxml.etree

from relay_smtp.mail.history import QUOTE_CLASSES, QUOTE_IDS, SIGNATURE_CLASSES, SIGNATURE_IDS

# Sign-off and quoted-history landmarks, by class and by id.
CLASSES = {**QUOTE_CLASSES, **SIGNATURE_CLASSES}
IDS = {**QUOTE_IDS, **SIGNATURE_IDS}
# Outlook desktop's reply separator: <div style="border:none;border-top:solid #E1E1E1 1.0pt;…">
# (#B5C4DF in older versions).
_OUTLOOK_SEPARATOR = re.compile(r"border-top:solid#(?:e1e1e1|b5c4df)")
_WHITESPACE = re.compile(r"\s+")
# The attributes compared with the original start tag.
COMPARED = ("id", "class", "type", "name", "style")


def _hints() -> tuple[bytes, ...]:
    # The Outlook separator is found by its colours: many templates have some other border-top.
    names = (*CLASSES, *IDS, "e1e1e1", "b5c4df", "blockquote", "_MailAutoSig")
    hints = {name.lower().encode("ascii") for name in names}
    # A page holds "gmail_signature" only if it holds "signature": one search does for both.
    return tuple(sorted(h for h in hints if not any(o != h and o in h for o in hints)))


_HINTS = _hints()


def may_have_landmark(view: bytes) -> bool:
    """Cheap pre-check: without any landmark's name in the page, the parse cannot find one."""
    lowered = view.lower()
    return any(hint in lowered for hint in _HINTS)


@dataclass(frozen=True)
class Landmark:
    """The element the block goes before, as the original's start tags can be matched against it."""

    name: str
    rank: int  # its index among the page's elements of this name, in document order
    attrs: Mapping[str, str] = field(hash=False)  # the COMPARED attributes it has
    where: str  # for people: "before Gmail quote (div.gmail_quote)" ...


def find_landmark(page: str) -> Landmark | None:
    """The first element, in document order, that starts the sign-off or the quoted history.

    libxml2's parse events are read as they come (no tree is built, and the parse stops at the
    landmark): lxml's own tree drops whatever follows ``</html>``, which mail often has (footers
    that list software appends) and which a reader shows.
    """
    finder = _Finder()
    parser = lxml.etree.HTMLParser(target=finder, encoding="utf-8")  # not shared between threads
    try:
        parser.feed(page.encode("utf-8", "surrogatepass"))
        parser.close()
    except _Found:
        pass
    except (lxml.etree.LxmlError, ValueError):  # unparseable: what was found so far stands
        pass
    return finder.found


class _Found(Exception):
    """Raised from a parser callback to stop parsing at the landmark."""


@dataclass
class _Frame:
    """An open element: its name, rank and compared attributes, and whether all its children so
    far are <br> elements or blank text (Apple Mail's quote wrapper)."""

    name: str
    rank: int
    attrs: dict[str, str]
    only_breaks: bool = True


class _Finder:
    """An lxml parser target that watches start tags for the first landmark."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.stack: list[_Frame] = [_Frame("", -1, {})]
        self.found: Landmark | None = None

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        parent = self.stack[-1]
        rank = self.counts.get(tag, 0)
        self.counts[tag] = rank + 1
        frame = _Frame(tag, rank, {key: attrib[key] for key in COMPARED if key in attrib})
        self.found = self._landmark(frame, parent, attrib)
        if self.found is not None:
            raise _Found
        if tag != "br":
            parent.only_breaks = False
        self.stack.append(frame)

    def end(self, tag: str) -> None:
        if len(self.stack) > 1:
            self.stack.pop()

    def data(self, text: str) -> None:
        if text.strip():
            self.stack[-1].only_breaks = False

    def comment(self, text: str) -> None:
        if text.strip():
            self.stack[-1].only_breaks = False

    def pi(self, target: str, data: str | None = None) -> None:
        self.stack[-1].only_breaks = False

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        self.stack[-1].only_breaks = False  # a stray DOCTYPE is not a <br> either

    def close(self) -> None:
        return None

    def _landmark(self, frame: _Frame, parent: _Frame, attrib: Mapping[str, str]) -> Landmark | None:
        for name in attrib.get("class", "").split():
            if name in CLASSES:
                return _at(frame, "before " + CLASSES[name])
        element_id = attrib.get("id", "")
        if element_id in IDS:
            return _at(frame, "before " + IDS[element_id])
        style = _WHITESPACE.sub("", attrib.get("style", "").lower())
        if frame.name == "div" and _OUTLOOK_SEPARATOR.search(style):
            return _at(frame, "before Outlook reply header (border-top:solid #E1E1E1)")
        if frame.name == "blockquote" and attrib.get("type", "").lower() == "cite":
            # Apple Mail wraps the quote as <div><br><blockquote type="cite">: start at that <div>.
            wrapper = parent.name == "div" and parent.only_breaks
            return _at(parent if wrapper else frame, "before quoted history (blockquote type=cite)")
        if frame.name == "a" and attrib.get("name") == "_MailAutoSig":
            block = next((f for f in reversed(self.stack[1:]) if f.name in ("p", "div")), frame)
            return _at(block, "before Outlook signature (a name=_MailAutoSig)")
        return None


def _at(frame: _Frame, where: str) -> Landmark:
    return Landmark(frame.name, frame.rank, MappingProxyType(dict(frame.attrs)), where)
