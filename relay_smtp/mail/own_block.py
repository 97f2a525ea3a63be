"""Recognise a Career Relay block we spliced before: after a loop, an extra hop, or in a quoted reply.

Why this module exists: a message must never get a second block, yet the block carries no visible
machine tag (candidates read it).  What identifies our block instead:

- the header ``X-Career-Relay: injected`` that every message we change carries (loops, extra hops);
- our own link: a ``/r/<token>`` whose token our link key verifies.  It survives quoting in text and
  HTML replies, where headers are gone and webmail drops HTML comments.  An expired token is still
  ours (its signature verified); a token some other key signed is not;
- the invisible HTML comment ``<!-- career-relay:vN -->`` that opens every HTML block, and the
  visible ``[career-relay:vN]`` line that blocks of earlier relay versions ended with.

Bodies are undone from their transfer encoding only (the markers and tokens are ASCII, and every
charset mail uses, ISO-2022-JP included, keeps ASCII as ASCII), so no charset is decoded here.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Sequence

from relay_smtp.links import ExpiredToken, LinkError, LinkSigner
from relay_smtp.mail.mime import MimePart, body_bytes, get_header

MARKER_HEADER = "X-Career-Relay"

#: token -> whether our link key signed it.
OwnLinkCheck = Callable[[str], bool]

# Any version of the HTML comment, and the visible line of earlier versions.
_MARKERS = re.compile(rb"<!--\s*career-relay:v\d+\s*-->|\[career-relay:v\d+\]")
# The path of a referral link and its token: base64url payload, ".", base64url signature.
_LINK_TOKEN = re.compile(rb"/r/([A-Za-z0-9_-]{8,200}\.[A-Za-z0-9_-]{16,64})")


def own_link_check(signer: LinkSigner) -> OwnLinkCheck:
    """Whether a token is one of ours: signed with our key, current or expired."""

    def check(token: str) -> bool:
        try:
            signer.verify(token)
        except ExpiredToken:
            return True
        except LinkError:
            return False
        return True

    return check


def transfer_decoded(body: bytes, cte: str) -> bytes:
    """The octets of a body without its transfer encoding; garbage in base64 is skipped, not fatal."""
    kind = cte.strip().lower()
    if kind == "quoted-printable":
        return binascii.a2b_qp(body)
    if kind == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:
            return b""
    return body


def holds_own_block(data: bytes, own_link: OwnLinkCheck | None) -> bool:
    """Our marker, or one of our links, in transfer-decoded body octets."""
    if _MARKERS.search(data):
        return True
    if own_link is None or b"/r/" not in data:
        return False
    return any(own_link(m.group(1).decode("ascii")) for m in _LINK_TOKEN.finditer(data))


def carries_own_block(
    raw: bytes, root: MimePart, targets: Sequence[MimePart], own_link: OwnLinkCheck | None
) -> bool:
    """Our header on the message, or our block in one of the parts that would get the block."""
    if (get_header(raw, root, MARKER_HEADER) or "").strip().lower() == "injected":
        return True
    return any(holds_own_block(transfer_decoded(body_bytes(raw, p), p.cte), own_link) for p in targets)
