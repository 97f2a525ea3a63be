"""One leaf body made ready for the block: the place it goes, located once, filled once per recipient.

Why this module exists: a rejection to N recipients becomes N copies that differ only in the link.
Everything about a leaf that does not depend on the block's wording (decoding it, deciding where the
block goes, the ISO-2022 mode in force there, where that lies among the encoded lines) is worked out
once, by the text and HTML splicers, into a :class:`SpliceSlot`. ``SpliceSlot.fill`` then costs what
one copy has to cost: shaping and encoding the rendered block, and joining octets.

The rare ways a block does not fit the part as it is (a charset that lacks its characters, a 7bit
part that now needs 8-bit octets or a line over 998 octets) re-encode the whole part; they are
decided per block, as they depend on its characters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from relay_smtp.mail.part_charset import ASCII, CannotEncode, PartCharset, encode_insertion, iso2022_state
from relay_smtp.mail.transfer import EncodedSlot, UnsupportedPart, detect_newline, normalize_cte, reencode

__all__ = ["LeafSplice", "SpliceSlot"]


@dataclass(frozen=True)
class LeafSplice:
    """A leaf body with the block in it, and the header parameters the caller must change."""

    body: bytes  # the new encoded body
    charset: str | None  # new charset parameter if it had to change, else None
    cte: str | None  # new Content-Transfer-Encoding if it had to change, else None
    where: str  # where the block went, for people ("above signature '-- '" …)


class SpliceSlot:
    """Decoded octets ``span`` of a leaf ``body``, to be replaced by a block (equal ends: inserted).

    ``shape`` turns the rendered block into the text that goes there (its own lines, blank lines
    around it). The text is encoded in the part's charset. Text parts that cannot hold it: a us-ascii
    part becomes UTF-8 (ASCII is UTF-8, nothing else changes); any other charset is converted to
    UTF-8 only when it decodes strictly and re-encodes to the very same octets, else UnsupportedPart.
    HTML never changes charset: it uses character references. A 7bit part that now needs 8-bit
    octets (or a line over 998 octets) is re-encoded as quoted-printable, which is lossless.
    """

    __slots__ = ("_encoded", "_state", "body", "charset", "data", "html", "kind", "shape", "span", "where")

    def __init__(
        self,
        body: bytes,
        *,
        cte: str,
        charset: PartCharset,
        data: bytes,
        span: tuple[int, int],
        where: str,
        shape: Callable[[str], str],
        html: bool = False,
    ) -> None:
        self.body, self.kind, self.charset, self.data = body, normalize_cte(cte), charset, data
        self.span, self.where, self.shape, self.html = span, where, shape, html
        self._state = iso2022_state(data, span[0])  # only ISO-2022-JP reads it
        self._encoded: EncodedSlot | None = None  # located on the first fill that needs it

    def fill(self, block: str) -> LeafSplice:
        """The body with ``block`` (rendered) in the slot."""
        kind, charset, data, html = self.kind, self.charset, self.data, self.html
        text = self.shape(block)
        start, end = self.span
        new_charset: str | None = None
        try:
            octets = encode_insertion(text, charset, self._state, charrefs=html)
        except CannotEncode:
            if charset.family != "ascii" or not _is_utf8(data):
                return self._whole_part(_convert_to_utf8(data, charset, self.span, text))
            octets, new_charset = text.encode("utf-8"), "utf-8"
        if html and kind == "7bit" and not octets.isascii():
            octets = encode_insertion(text, ASCII, charrefs=True)
        if _needs_qp(octets, kind):
            return self._whole_part(data[:start] + octets + data[end:], new_charset)
        if self._encoded is None:
            self._encoded = EncodedSlot(self.body, kind, start, end, detect_newline(data))
        return LeafSplice(self._encoded.fill(octets), new_charset, None, self.where)

    def _whole_part(self, data: bytes, charset: str | None = "utf-8") -> LeafSplice:
        """Re-encode the whole decoded ``data`` (lossless: it is the exact new content)."""
        target = "quoted-printable" if _needs_qp(data, self.kind) else self.kind
        cte = None if target == self.kind else target
        return LeafSplice(reencode(self.body, target, data), charset, cte, self.where)


def _needs_qp(octets: bytes, kind: str) -> bool:
    if kind not in ("7bit", "8bit", "binary"):
        return False
    too_long = any(len(line.rstrip(b"\r")) > 998 for line in octets.split(b"\n"))
    return too_long or (kind == "7bit" and not octets.isascii())


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
