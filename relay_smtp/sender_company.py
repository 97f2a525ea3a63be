"""Who is sending: the configured company a message belongs to, read from its envelope and From.

A step of its own because the relay, the recontact job and the CLI all ask it, with or without a
pipeline run around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import parseaddr

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


def fallback_company(raw: bytes, root: MimePart) -> Company:
    """For mail explicitly marked by an unconfigured sender: name the company after its From.

    The display name only when it looks like an organisation (often it is a role, 採用担当).
    """
    name, address = parseaddr(get_header(raw, root, "From") or "")
    domain = address_domain(address) or "unknown"
    return Company(id=domain, name=company_name(decode_encoded_words(name), domain), mode="enforce")
