"""The data the pipeline's steps hand each other and hand back: envelope, copies, outcome, settings.

Kept apart from the steps so that the step modules (pipeline, personalise) and their callers (relay,
delivery, cli) share one set of frozen types without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from relay_smtp.config import Company
from relay_smtp.links import PersonalLink
from relay_smtp.mail.classify import ClassifierRules, Verdict
from relay_smtp.mail.dkim import DkimSigner
from relay_smtp.mail.own_block import OwnLinkCheck
from relay_smtp.mail.phrasebook import company_phrases
from relay_smtp.mail.snippets import SnippetRenderer

Action = Literal["injected", "passed", "audited", "failed"]


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class Outgoing:
    """One message to send: the exact bytes and the envelope recipients they are for."""

    recipients: tuple[str, ...]
    data: bytes
    link: PersonalLink | None = None


@dataclass(frozen=True)
class PartReport:
    """Where the block went in one leaf part, or why that part was left alone."""

    path: str
    content_type: str
    note: str
    changed: bool


#: The header fields the re-application recorder reads, by their lower-case names.
THREAD_FIELDS = ("from", "message-id", "in-reply-to", "references")


@dataclass(frozen=True)
class ThreadFields:
    """What the re-application recorder reads of a message's header (see recontact.py), taken from
    the pipeline's parse so that the recorder does not read the header section again.

    The values are those of Python's compat32 header parser (``Message.get``, "" if absent), which
    the recorder's own reading gives for a message that comes without them."""

    from_value: str
    message_id: str
    in_reply_to: str
    references: str
    #: ``parseaddr(from_value)[1]`` when the pipeline parsed that same text, else None.
    from_address: str | None = None


@dataclass(frozen=True)
class Outcome:
    action: Action
    reason: str
    outgoing: tuple[Outgoing, ...]
    verdict: Verdict | None = None
    company: str | None = None
    parts: tuple[PartReport, ...] = ()
    signing: str = ""
    #: The header fields the recorder needs; None when the pipeline did not read them.
    thread: ThreadFields | None = None

    @property
    def changed(self) -> bool:
        return self.action == "injected"


LinkFactory = Callable[[Company, str, str], PersonalLink]  # (company, recipient, Message-ID) -> link


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the pipeline needs, built once from the settings and passed in."""

    companies: tuple[Company, ...] = ()
    rules: ClassifierRules = field(default_factory=ClassifierRules)
    renderer: SnippetRenderer = field(default_factory=SnippetRenderer)
    link_for: LinkFactory = field(kw_only=True)  # no silent default: every caller says how
    signer: DkimSigner | None = None
    sign_all_domains: tuple[str, ...] = ()
    self_check: bool = False
    #: Recognises our own link's token in a body (see mail/own_block); None: header and markers only.
    own_link: OwnLinkCheck | None = None
    # Rules with a company's own phrases and exclusions, by company id; built once, here.
    company_rules: Mapping[str, ClassifierRules] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        own = {
            c.id: self.rules.with_phrases(company_phrases(c.rejection_phrases, c.exclusions))
            for c in self.companies
            if c.rejection_phrases or c.exclusions
        }
        object.__setattr__(self, "company_rules", own)

    def rules_for(self, company: Company | None) -> ClassifierRules:
        return self.company_rules.get(company.id, self.rules) if company else self.rules


def unchanged(
    raw: bytes,
    envelope: Envelope,
    action: Action,
    reason: str,
    verdict: Verdict | None = None,
    company: str | None = None,
    parts: tuple[PartReport, ...] = (),
) -> Outcome:
    """The message goes out exactly as it came in."""
    return Outcome(action, reason, (Outgoing(envelope.recipients, raw),), verdict, company, parts)
