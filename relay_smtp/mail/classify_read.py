"""Reading a message for the classifier: header values and the sender's own visible text.

Why this module exists: the classifier looks at the sender and the markers first and reads bodies
only when a step needs them, from a ``ParsedMessage`` the pipeline parsed once. Only the leaves the
sender wrote are read (attachments and attached messages are someone else's words), text/plain in
preference to HTML, and only the leaves the verdict uses are decoded: the HTML alternative of a
plain text body is decoded only to look for the placeholder, and only when its octets may hold it.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import lxml.etree
import lxml.html

from relay_smtp.mail.charsets import ascii_transparent, decode_lenient
from relay_smtp.mail.history import QUOTE_CLASSES, QUOTE_IDS, own_text
from relay_smtp.mail.message import ParsedMessage
from relay_smtp.mail.mime import MimePart, decode_encoded_words
from relay_smtp.mail.textform import nfkc


def _header_text(value: str) -> str:
    """A header value as text: raw 8-bit bytes and RFC 2047 words decoded, folding undone."""
    value = re.sub(r"\r?\n(?=[ \t])", "", value)
    if not value.isascii():
        # Raw 8-bit header bytes are kept as surrogate escapes.
        value = decode_lenient(value.encode("ascii", "surrogateescape"), None)
    if "=?" not in value:
        return value
    return decode_encoded_words(value, decode_lenient)


def header_values(message: ParsedMessage, name: str) -> list[str]:
    """Every value of the top-level fields called ``name``, decoded (leading blanks and the final
    line break removed, as Python's email parser reads them)."""
    return [
        _header_text(value.decode("ascii", "surrogateescape").lstrip(" \t").rstrip("\r\n"))
        for value in message.raw_values(name)
    ]


def _is_attachment(message: ParsedMessage, part: MimePart) -> bool:
    disposition = (message.header("Content-Disposition", part) or "").lower()
    return disposition.startswith("attachment") or part.filename is not None or "name" in part.params


def text_leaves(message: ParsedMessage, part: MimePart | None = None) -> Iterator[MimePart]:
    """text/plain and text/html leaves that belong to this message: attachments and attached
    messages (message/rfc822) are someone else's words."""
    part = part or message.root
    if part.content_type.startswith("message/"):
        return
    if part.children:
        for child in part.children:
            yield from text_leaves(message, child)
        return
    if part.content_type in ("text/plain", "text/html") and not _is_attachment(message, part):
        yield part


def may_hold_placeholder(message: ParsedMessage, placeholder: str) -> bool:
    """Without decoding any charset: can a text leaf hold the placeholder?

    Where ASCII is written as ASCII (every charset Japanese and Western mail uses), the placeholder
    in the text means its octets in the transfer-decoded body; only UTF-16/32, UTF-7 and the like
    need the full decode.
    """
    if not placeholder:
        return False
    if not placeholder.isascii():
        return True
    needle = placeholder.encode("ascii")
    for part in text_leaves(message):
        if needle in message.decoded(part):
            return True
        charset = (part.charset or "").strip().strip('"')
        try:
            codec = codecs.lookup(charset).name if charset else "ascii"
        except LookupError:
            continue  # read with the fallbacks, which are all ASCII-transparent
        if not ascii_transparent(codec):
            return True
    return False


_BLOCK_TAGS = ("p", "div", "br", "tr", "li", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr")
_HIDDEN_TAGS = ("style", "script", "head", "title", "noscript", "template", "blockquote")
_QUOTE_CLASSES = frozenset(QUOTE_CLASSES)
_QUOTE_IDS = frozenset(QUOTE_IDS)


def html_text(markup: str) -> str:
    """The visible text of an HTML body, without quoted history, one line per block.

    lxml is used directly rather than through BeautifulSoup: it is the same parser, and a 35 KB
    HTML-only message takes 0.9 ms instead of 26 ms; the classifier runs on every message.
    """
    parser = lxml.html.HTMLParser(encoding="utf-8")  # parsers are not shared between threads
    try:
        doc = lxml.html.document_fromstring(markup.encode("utf-8", "replace"), parser=parser)
    except (lxml.etree.LxmlError, ValueError):  # empty or unparseable: no visible text
        return ""
    for element in list(doc.iter(*_HIDDEN_TAGS)):  # <blockquote> is quoted history
        element.drop_tree()
    for element in list(doc.iter(lxml.etree.Element)):
        classes = set((element.get("class") or "").split())
        if classes & _QUOTE_CLASSES:
            element.drop_tree()
        elif element.get("id") in _QUOTE_IDS:
            # Outlook puts the quoted message after this marker, as its siblings.
            for sibling in list(element.itersiblings()):
                sibling.drop_tree()
            element.drop_tree()
    for element in doc.iter(*_BLOCK_TAGS):  # a block ends a paragraph, <br> only a line
        element.tail = ("\n" if element.tag == "br" else "\n\n") + (element.tail or "")
    return str(doc.text_content())


@dataclass
class Content:
    """The subject and the sender's own visible text, normalised (NFKC, straight quotes)."""

    subject: str
    text: str
    message: ParsedMessage = field(repr=False)
    placeholder: str = field(repr=False)

    @property
    def has_placeholder(self) -> bool:
        """Whether a text leaf holds the placeholder: decodes every text leaf, so the classifier
        asks only when ``may_hold_placeholder`` says the octets may hold it."""
        if not self.placeholder:
            return False
        return any(self.placeholder in self.message.text(part) for part in text_leaves(self.message))


MAX_TEXT = 200_000  # characters of own text weighed; rejection wording comes early

# A draft passed between colleagues inside the mail, between marker lines (---下書き--- ...
# ---ここまで---, "--- draft ---" ... "--- end ---"): someone's text under review, not the sender's
# word to the reader, so it is left out like quoted history. It runs to the next marker line (or
# to the end of the text when none closes it).
_DRAFT_BLOCK = re.compile(
    r"^[ \t]*[-=_─━~]{2,}[ \t]*(?:下書き|文案|案文|原稿|ドラフト|送信文|draft|proposed (?:text|wording))"
    r"[^\n]{0,20}?[-=_─━~]{2,}[ \t]*\n.*?(?:^[ \t]*[-=_─━~]{3,}(?:[^\n]{0,20}[-=_─━~]{2,})?[ \t]*$|\Z)",
    re.MULTILINE | re.DOTALL | re.IGNORECASE,
)


# The words one of which every draft marker line holds, in every case IGNORECASE lets them match
# ("ſ" for "s" too): a text without any cannot hold a draft block. Every alternative starts with a
# literal, so the search skips in C to the places that could start one; the block's own search
# tries its line pattern at every line start, and most mail has a "--" somewhere.
_DRAFT_WORD = re.compile(
    r"下書き|文案|案文|原稿|ドラフト|送信文"
    r"|D[Rr][Aa][Ff][Tt]|d[Rr][Aa][Ff][Tt]|P[Rr][Oo][Pp][Oo][Ssſ][Ee][Dd]|p[Rr][Oo][Pp][Oo][Ssſ][Ee][Dd]"
)


def _without_drafts(text: str) -> str:
    if not ("--" in text or "==" in text or "─" in text) or _DRAFT_WORD.search(text) is None:
        return text
    return _DRAFT_BLOCK.sub("", text)


def read(message: ParsedMessage, placeholder: str, subject: str | None = None) -> Content:
    """The normalised subject (unless already known) and own text; only the leaves that make
    the text are decoded."""
    if subject is None:
        subject = nfkc(" ".join(header_values(message, "Subject")))
    leaves = list(text_leaves(message))
    # text/plain is what the sender wrote; HTML is used only when there is no plain part.
    plain = [message.text(part) for part in leaves if part.content_type == "text/plain"]
    texts = plain or [html_text(message.text(part)) for part in leaves]
    own = "\n".join(_without_drafts(own_text(nfkc(t[: 2 * MAX_TEXT]))) for t in texts)
    return Content(subject, own[:MAX_TEXT], message, placeholder)
