"""Which leaf parts of a message receive the block, which do not and why, or why none may.

Why this module exists: a reader sees some leaves of a MIME tree as the message text (the last
alternative it understands, the root of a multipart/related, the first body of a multipart/mixed)
and the rest as attachments, resources or enclosed mail. Only the text the reader sees may get the
block, and some whole messages must be left alone (signed, encrypted, invitations); the reasons are
worded for a mail admin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from relay_smtp.mail.charsets import codec_name
from relay_smtp.mail.mime import (
    ENCLOSED_MESSAGE_TYPES,
    TEXT_BODY_TYPES,
    WORKABLE_CTES,
    MimePart,
    body_bytes,
    decode_transfer,
    get_header,
)

__all__ = ["Selection", "choose_parts"]


@dataclass(frozen=True)
class Selection:
    """Which leaves receive the block, which do not and why, or why the message is left alone."""

    targets: tuple[MimePart, ...]
    skipped: tuple[tuple[str, str], ...]
    refusal: str | None


_REFUSED_TYPES = {
    "multipart/signed": "signed mail ({where}): changing it would break the signature",
    "multipart/encrypted": "encrypted mail ({where}): its text cannot be edited",
    "application/pkcs7-mime": "S/MIME mail ({where}): changing it would break it",
    "application/x-pkcs7-mime": "S/MIME mail ({where}): changing it would break it",
    "application/pkcs7-signature": "S/MIME signature ({where}): changing the mail would break it",
    "application/x-pkcs7-signature": "S/MIME signature ({where}): changing the mail would break it",
    "application/pgp-signature": "PGP signature ({where}): changing the mail would break it",
    "application/pgp-encrypted": "PGP encrypted mail ({where}): its text cannot be edited",
    "text/calendar": "calendar invitation ({where}): editing an invitation is risky",
    "application/ics": "calendar invitation ({where}): editing an invitation is risky",
    "message/partial": "fragment of a split message ({where}): it must be joined first",
}
_INLINE_PGP_MARKERS = (b"-----BEGIN PGP SIGNED MESSAGE-----", b"-----BEGIN PGP MESSAGE-----")
_PGP_BEGIN = b"-----BEGIN PGP "  # what both markers start with: one search for the usual body
_WIDE_CODECS = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})


def choose_parts(raw: bytes, root: MimePart, decoded: Callable[[MimePart], bytes] | None = None) -> Selection:
    """The leaf text parts a reader sees as the message text, or why nothing may be touched.

    ``decoded`` gives a part's transfer-decoded body (``ParsedMessage.decoded``, which keeps what it
    decodes for the guards that read the same bodies next); by default it is decoded here.

    Whole-message refusals (safest choice, documented): any signed or encrypted structure,
    calendar invitation or message/partial outside an enclosed message, even as an attachment;
    an inline PGP block in a chosen text body.  A calendar invite is refused as a whole because its
    text/plain and text/html alternatives mirror the invitation's description.
    """
    reasons: dict[str, str] = {}
    candidates = _body_targets(raw, root, reasons)
    usable = [t for t in candidates if _usable(t, reasons)]
    read = decoded or (lambda part: decode_transfer(body_bytes(raw, part), part.cte))
    refusal = _structural_refusal(root) or _inline_pgp_refusal(read, usable)
    if refusal is None and not usable:
        refusal = _no_target_refusal(candidates, reasons)
    if refusal is not None:
        for part in usable:
            reasons[part.path] = "whole message left alone"
        usable = []
    chosen = {t.path for t in usable}
    skipped = tuple(
        (leaf.path, reasons.get(leaf.path) or _leaf_reason(leaf, enclosure))
        for leaf, enclosure in _leaves(root, None)
        if leaf.path not in chosen
    )
    return Selection(tuple(usable), skipped, refusal)


def _where(part: MimePart) -> str:
    where = f"part {part.path}" if part.path else "the top level"
    return f"{part.content_type} at {where}"


def _structural_refusal(root: MimePart) -> str | None:
    for part in root.walk():
        template = _REFUSED_TYPES.get(part.content_type)
        if template is not None and not part.inside_rfc822:
            return template.format(where=_where(part))
    return None


def _is_attachment(part: MimePart) -> bool:
    return part.disposition == "attachment" or part.filename is not None


def _is_text_body(part: MimePart) -> bool:
    return not part.children and part.content_type in TEXT_BODY_TYPES and not _is_attachment(part)


def _body_targets(raw: bytes, part: MimePart, reasons: dict[str, str]) -> list[MimePart]:
    """The text leaves that make up ``part`` as a reader sees it (before usability checks)."""
    if not part.is_multipart:
        return [part] if _is_text_body(part) else []
    subtype = part.content_type.partition("/")[2]
    if subtype == "alternative":
        return _alternative_targets(raw, part, reasons)
    if subtype == "related":
        root = _related_root(raw, part)
        for child in part.children:
            if child is not root and not child.children:
                reasons[child.path] = f"resource of the multipart/related body ({child.content_type})"
        return _body_targets(raw, root, reasons)
    if subtype == "digest":
        return []
    return _mixed_targets(raw, part, reasons)


def _alternative_targets(raw: bytes, part: MimePart, reasons: dict[str, str]) -> list[MimePart]:
    """Readers show the last alternative they understand: take the last plain and the last html."""
    chosen: dict[str, list[MimePart]] = {"text/plain": [], "text/html": []}
    for child in part.children:
        if _is_attachment(child):
            continue
        found = _body_targets(raw, child, reasons)
        for kind, earlier in chosen.items():
            later = [t for t in found if t.content_type == kind]
            if later:
                for old in earlier:
                    reasons[old.path] = f"earlier {kind} alternative; readers show the last one"
                chosen[kind] = later
    return [*chosen["text/plain"], *chosen["text/html"]]


def _related_root(raw: bytes, part: MimePart) -> MimePart:
    """RFC 2387: the part named by ``start``, else the first part.

    Leniency: when the first part is not of the root type the ``type`` parameter announces, the
    first part of that type is the root (seen in MHTML written by some tools).
    """
    start = part.params.get("start", "").strip().strip("<>").strip()
    if start:
        for child in part.children:
            content_id = get_header(raw, child, "Content-ID")
            if content_id is not None and content_id.strip().strip("<>").strip() == start:
                return child
    root_type = part.params.get("type", "").strip().lower()
    first = part.children[0]
    if root_type and first.content_type != root_type:
        return next((c for c in part.children if c.content_type == root_type), first)
    return first


def _mixed_targets(raw: bytes, part: MimePart, reasons: dict[str, str]) -> list[MimePart]:
    """The main body is the first text part or sub-multipart, looked for before any attachment."""
    for child in part.children:
        if _is_attachment(child):
            return []
        if _is_text_body(child) or (child.is_multipart and not child.inside_rfc822):
            return _body_targets(raw, child, reasons)
    return []


def _usable(part: MimePart, reasons: dict[str, str]) -> bool:
    reason = _unusable_reason(part)
    if reason is not None:
        reasons[part.path] = reason
    return reason is None


def _unusable_reason(part: MimePart) -> str | None:
    if part.body_start == part.header_end:
        # Text inserted at the body's start would be read as a header (or glued to one).
        return "no blank line after the headers"
    if part.cte not in WORKABLE_CTES:
        return f"unsupported Content-Transfer-Encoding {part.cte}"
    charset = part.charset
    if charset is None:
        return None
    codec = codec_name(charset)
    if codec is None:
        return f"unknown charset {charset}"
    if codec in _WIDE_CODECS:
        return f"charset {charset} is not line oriented"
    return None


def _inline_pgp_refusal(decoded: Callable[[MimePart], bytes], targets: Sequence[MimePart]) -> str | None:
    for part in targets:
        body = decoded(part)
        if _PGP_BEGIN in body and any(marker in body for marker in _INLINE_PGP_MARKERS):
            return f"inline PGP block ({_where(part)}): changing it would break the signature"
    return None


def _no_target_refusal(candidates: Sequence[MimePart], reasons: Mapping[str, str]) -> str:
    problems = [f"{'part ' + p.path if p.path else 'top level'}: {reasons[p.path]}" for p in candidates]
    if problems:
        return "no usable text body to hold the block (" + "; ".join(problems) + ")"
    return "no text body to hold the block"


def _leaves(part: MimePart, enclosure: str | None) -> Iterator[tuple[MimePart, str | None]]:
    """Leaf parts with the type of the enclosed-message part they sit in, if any."""
    if not part.children:
        yield part, enclosure
        return
    if part.content_type in ENCLOSED_MESSAGE_TYPES and enclosure is None:
        enclosure = part.content_type
    for child in part.children:
        yield from _leaves(child, enclosure)


def _leaf_reason(part: MimePart, enclosure: str | None) -> str:
    if enclosure is not None or part.inside_rfc822:
        return f"inside {enclosure or 'message/rfc822'}"
    if _is_attachment(part):
        return f"attachment ({part.filename})" if part.filename else "attachment"
    if part.content_type.startswith("multipart/"):
        return f"{part.content_type} without usable boundaries"
    if part.content_type not in TEXT_BODY_TYPES:
        return f"{part.content_type} is not edited"
    return "text outside the main body"
