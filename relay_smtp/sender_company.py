"""Who is sending: the configured company a message belongs to, read from its envelope and From.

A step of its own because the relay, the recontact job and the CLI all ask it, with or without a
pipeline run around it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr

from relay_smtp.company_name import company_name
from relay_smtp.config import Company
from relay_smtp.mail.mime import MimePart, decode_encoded_words, get_header


def address_domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(">").lower()


def _matches_sender(address: str, patterns: Sequence[str]) -> bool:
    address = address.strip().lower()
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if pattern == "*":  # every sender (the embedded demo; the SMTP side decides who may send)
            return True
        if pattern.startswith("@"):
            if address.endswith(pattern) or address_domain(address).endswith("." + pattern[1:]):
                return True
        elif address == pattern:
            return True
    return False


# The usual From forms, ``Name <local@domain>`` and ``local@domain``, in the shapes for which
# ``email.utils`` gives the name and the address as written (tests/test_from_field.py checks it against
# ``getaddresses`` with hypothesis): dot-atom address parts, the name's words (no specials, quotes,
# comments or whitespace other than one space between them) and one space before the "<".
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_WORD = r'[^\s()<>@,:;."\[\]\\]+'
_SIMPLE_FROM = re.compile(
    rf"(?:(?P<name>{_WORD}(?: {_WORD})*) )?<(?P<routed>{_ADDRESS})>|(?P<bare>{_ADDRESS})"
)


def simple_from(text: str) -> tuple[str, str] | None:
    """``getaddresses([text])``'s one (name, address) for the usual forms, without its parser; None
    for anything else."""
    match = _SIMPLE_FROM.fullmatch(text)
    if match is None:
        return None
    return (match["name"] or "", match["routed"] or match["bare"])


@dataclass(frozen=True)
class FromField:
    """A From value and what ``email.utils`` reads in it, parsed once for every step that asks (the
    sender lookup, the header check, the fallback company's name and the re-application recorder)."""

    text: str
    addresses: tuple[tuple[str, str], ...]  # ``getaddresses([text])``
    pair: tuple[str, str]  # ``parseaddr(text)``

    @property
    def address(self) -> str:
        return self.pair[1]


def read_from(from_value: str | None) -> FromField:
    """One parse of a From value (the usual forms by `simple_from`). For one address, ``parseaddr``
    is the first of ``getaddresses`` (newer Pythons' strict ``parseaddr`` also refuses several);
    otherwise it is asked itself."""
    text = from_value or ""
    simple = simple_from(text)
    if simple is not None:
        return FromField(text, (simple,), simple)
    addresses = tuple(getaddresses([text]))
    if len(addresses) == 1 and addresses[0][1]:
        return FromField(text, addresses, addresses[0])
    return FromField(text, addresses, parseaddr(text))


def address_of(from_value: str | None) -> str:
    """The address in a From value (``parseaddr``), empty when there is none."""
    return parseaddr(from_value or "")[1]


def from_address(raw: bytes, root: MimePart) -> str:
    return address_of(get_header(raw, root, "From"))


def find_company(
    companies: Sequence[Company], mail_from: str, header_from: str
) -> tuple[Company | None, bool]:
    """The configured company this mail belongs to, and whether it comes from a recruiting sender."""
    for company in companies:
        for address in (mail_from, header_from):
            if address and _matches_sender(address, company.recruiting_senders):
                return company, True
    domains = {address_domain(a) for a in (mail_from, header_from) if a}
    for company in companies:
        if domains & {d.lower() for d in company.domains}:
            return company, False
    return None, False


def fallback_company(raw: bytes, root: MimePart, sender: FromField | None = None) -> Company:
    """For mail explicitly marked by an unconfigured sender: name the company after its From
    (``sender``: the From as the pipeline read it, else read here).

    The display name only when it looks like an organisation (often it is a role, 採用担当).
    """
    name, address = (sender or read_from(get_header(raw, root, "From"))).pair
    domain = address_domain(address) or "unknown"
    return Company(id=domain, name=company_name(decode_encoded_words(name), domain), mode="enforce")
