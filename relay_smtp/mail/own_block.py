"""Recognise a Career Relay block we spliced before: after a loop, an extra hop, or in a quoted reply.

Why this module exists: a message must never get a second block, yet the block carries no visible
machine tag (candidates read it).  What identifies our block instead:

- the header ``X-Career-Relay: injected`` that every message we change carries (loops, extra hops);
- our own link: a ``/r/<token>`` whose token our link key verifies.  It survives quoting in text and
  HTML replies, where headers are gone and webmail drops HTML comments.  An expired token is still
  ours (its signature verified); a token some other key signed is not;
- the invisible HTML comment ``<!-- career-relay:vN -->`` that opens every HTML block, and the
  visible ``[career-relay:vN]`` line that blocks of earlier relay versions ended with.

Bodies are read as ``ParsedMessage.decoded`` gives them, transfer encoding undone (and cached for
the classifier and us alike); the markers and tokens are ASCII, and every charset mail uses,
ISO-2022-JP included, keeps ASCII as ASCII, so no charset is decoded here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from relay_smtp.links import ExpiredToken, LinkError, LinkSigner
from relay_smtp.mail.message import ParsedMessage
from relay_smtp.mail.mime import MimePart
from relay_smtp.mail.snippets import MARKER_CORE, MARKER_PATTERN

MARKER_HEADER = "X-Career-Relay"
_HEADER_NAME = MARKER_HEADER.lower().encode("ascii")

#: token -> whether our link key signed it.
OwnLinkCheck = Callable[[str], bool]

# Any version of the HTML comment, and the visible line of earlier versions (one pattern with the
# splicers' check, read here in transfer-decoded octets).
_MARKERS = re.compile(MARKER_PATTERN.encode("ascii"))
_MARKER_CORE = MARKER_CORE.encode("ascii")
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


def holds_own_block(data: bytes, own_link: OwnLinkCheck | None) -> bool:
    """Our marker, or one of our links, in transfer-decoded body octets."""
    if _MARKER_CORE in data and _MARKERS.search(data):
        return True
    if own_link is None or b"/r/" not in data:
        return False
    return any(own_link(m.group(1).decode("ascii")) for m in _LINK_TOKEN.finditer(data))


def carries_own_block(
    message: ParsedMessage, targets: Sequence[MimePart], own_link: OwnLinkCheck | None
) -> bool:
    """Our header on the message, or our block in one of the parts that would get the block."""
    root = message.root
    # Without the header's name anywhere in the header block, no field is called that.
    named = _HEADER_NAME in message.raw[root.start : root.header_end].lower()
    if named and (message.header(MARKER_HEADER) or "").strip().lower() == "injected":
        return True
    return any(holds_own_block(message.decoded(p), own_link) for p in targets)
