"""MAIL and RCPT addresses: the relay's quick reading of the plain form equals aiosmtpd's parser.

The relay reads ``<dot-atom@domain>`` (and what follows it) with one expression and leaves every other
form to aiosmtpd; for any argument both must give the same address and the same parameters.
"""

from __future__ import annotations

import string

from aiosmtpd.smtp import SMTP
from hypothesis import example, given, settings
from hypothesis import strategies as st

from relay_smtp.smtp.server import _PLAIN_ADDRESS, RelaySMTP

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
atoms = st.text(alphabet=ATEXT, min_size=1, max_size=6)
local_parts = st.lists(atoms, min_size=1, max_size=3).map(".".join)
labels = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=6)
domains = st.lists(labels, min_size=1, max_size=3).map(".".join)
# What may follow: parameters, spacing of every kind, comments, stray brackets.
rests = st.text(alphabet='SIZE=8BITMIME XY \t\x0c\xa0\u3000()<>@.,;:"', max_size=8)


def server(local_part_limit: int = 0) -> RelaySMTP:
    protocol = RelaySMTP.__new__(RelaySMTP)  # only the address reading is exercised
    protocol.local_part_limit = local_part_limit
    return protocol


@settings(max_examples=1000)
@given(
    prefix=st.sampled_from(["", " ", "<", "\t"]),
    local=local_parts,
    domain=domains,
    rest=rests,
    limit=st.sampled_from([0, 3, 64]),
)
@example(prefix="", local="hr", domain="acme.example", rest=" SIZE=2048 BODY=8BITMIME", limit=0)
@example(prefix="", local="hr", domain="acme.example", rest=" (comment) SIZE=1", limit=0)
@example(prefix="", local="hr", domain="acme.example", rest="  SIZE=1", limit=0)
def test_plain_addresses_read_as_aiosmtpd_reads_them(
    prefix: str, local: str, domain: str, rest: str, limit: int
) -> None:
    arg = f"{prefix}<{local}@{domain}>{rest}"
    protocol = server(limit)
    assert protocol._getaddr(arg) == SMTP._getaddr(protocol, arg)


def test_the_plain_form_takes_the_quick_path() -> None:
    assert _PLAIN_ADDRESS.match("<recruit@acme.example> SIZE=20480 BODY=8BITMIME")
    assert _PLAIN_ADDRESS.match("<cand@example.org>")
    assert not _PLAIN_ADDRESS.match('<"quoted local"@example.org>')
    assert not _PLAIN_ADDRESS.match("<a@example.org> (a comment)")
