"""One received message, parsed once: the bytes, the MIME tree, header fields and decoded bodies.

Why this module exists: the relay looks at a message several times (who sent it, is it a rejection,
which parts hold the text, is our block already there, where does the block go, DKIM). Each of those
used to parse or decode the message again in its own way. A :class:`ParsedMessage` is made once per
message by :meth:`ParsedMessage.parse`; the MIME tree (with byte offsets, see ``mime.py``) is built
eagerly because every path needs it, everything else on demand and cached:

* header fields per part, with their offsets (``fields``), and their values (``header``, ``headers``);
* each leaf's transfer-decoded octets (``decoded``), with C-speed ``binascii`` decoders;
* each leaf's text (``text``), decoded leniently the way a reader would read it.

It never decodes anything nobody asked for: a 2 MB PDF attachment is never base64-decoded to decide
whether a message is a rejection.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from relay_smtp.mail import mime
from relay_smtp.mail.charsets import decode_lenient
from relay_smtp.mail.mime import MimePart, decode_transfer


@dataclass(frozen=True, eq=False)
class ParsedMessage:
    """A message and what has been read of it so far. Immutable from the outside; caches inside."""

    raw: bytes
    root: MimePart
    _fields: dict[str, tuple[mime.HeaderField, ...]] = field(default_factory=dict, repr=False)
    _decoded: dict[str, bytes] = field(default_factory=dict, repr=False)
    _text: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, raw: bytes) -> ParsedMessage:
        """Walk the MIME structure; never raises on any input bytes."""
        return cls(raw, mime.parse_mime(raw))

    # --- headers -------------------------------------------------------------------------------

    def fields(self, part: MimePart | None = None) -> tuple[mime.HeaderField, ...]:
        """The header fields of ``part`` (the top level by default), in order, with offsets."""
        part = part or self.root
        found = self._fields.get(part.path)
        if found is None:
            found = mime.header_fields(self.raw, part)
            self._fields[part.path] = found
        return found

    def header(self, name: str, part: MimePart | None = None) -> str | None:
        """The first field called ``name``, unfolded and stripped (see ``mime.get_header``)."""
        key = name.strip().lower().encode("ascii", "replace")
        for found in self.fields(part):
            if found.name == key:
                return mime.field_text(self.raw, found)
        return None

    def compat_values(self, names: tuple[str, ...]) -> dict[str, str] | None:
        """The first top-level field of each of ``names`` (lower case; "" if absent) as Python's
        compat32 header parser reads it (``Message.get``: the blanks after the colon and the last line
        end cut off, continuation lines kept), or None if the section holds what that parser reads
        otherwise than the walk: 8-bit bytes, a bare CR, an mbox "From " line, blanks before a
        colon, a line that is no field, a first line that is a continuation, or no blank line after
        the section (it is then a slice of the message to that parser's reader, see recontact.py)."""
        raw, root = self.raw, self.root
        end = root.body_start
        if not 0 < root.header_end < end or "header block starts with a continuation line" in root.defects:
            return None
        section = raw[:end]
        if not section.isascii() or section.count(b"\r") != section.count(b"\r\n"):
            return None
        if section.startswith(b"From ") or b"\nFrom " in section:
            return None
        values = dict.fromkeys(names, "")
        wanted = {name.encode("ascii"): name for name in names}
        for found in self.fields():
            if found.start + len(found.name) + 1 != found.value_start:  # "Name :" is no field there
                return None
            name = wanted.pop(found.name, None)  # the first of each, as ``Message.get``
            if name is not None:
                values[name] = raw[found.value_start : found.end].decode("ascii").lstrip(" \t").rstrip("\r\n")
        return values

    def raw_values(self, name: str, part: MimePart | None = None) -> list[bytes]:
        """Every value of the fields called ``name``, as the octets after the colon (folded)."""
        key = name.strip().lower().encode("ascii", "replace")
        return [self.raw[f.value_start : f.end] for f in self.fields(part) if f.name == key]

    # --- bodies --------------------------------------------------------------------------------

    def body(self, part: MimePart) -> bytes:
        return self.raw[part.body_start : part.body_end]

    def decoded(self, part: MimePart) -> bytes:
        """The body with its transfer encoding undone, leniently, as a mail reader would.

        Quoted-printable and base64 are decoded by ``binascii``; a base64 body with junk is decoded
        as far as it goes (like Python's ``email``). Unknown encodings give the body as it is.
        """
        found = self._decoded.get(part.path)
        if found is None:
            found = decode_transfer(self.body(part), part.cte)
            self._decoded[part.path] = found
        return found

    def text(self, part: MimePart) -> str:
        """The decoded body as text, leniently (see ``charsets.decode_lenient``)."""
        found = self._text.get(part.path)
        if found is None:
            found = decode_lenient(self.decoded(part), part.charset)
            self._text[part.path] = found
        return found

    def walk(self) -> Iterator[MimePart]:
        return self.root.walk()
