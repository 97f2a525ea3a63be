"""The pure core: one received message in, the messages to send and a verdict out.

Bytes, the envelope and settings come in; nothing here opens a socket, touches the database or reads
the clock it is not given. The steps are small named functions run in order, as in a mail processor:

    parse ▸ find company ▸ classify ▸ guard ▸ choose parts ▸ splice ▸ mark

Any step may stop the message with a reason; it then goes out exactly as it came in. `process` wraps
the whole run so that an unexpected exception (a bug of ours, or mail nobody foresaw) also forwards the
original bytes and is logged: the relay never loses or bounces a message because of its own bug.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.header import decode_header, make_header
from email.utils import getaddresses, parseaddr
from typing import Literal

from relay_smtp.ats import NO_SIGNALS, AtsSignals, apply_signal
from relay_smtp.company_name import company_name
from relay_smtp.config import Company
from relay_smtp.header_check import header_problem
from relay_smtp.links import PersonalLink
from relay_smtp.mail.classify import ClassifierRules, Sender, Verdict, classify
from relay_smtp.mail.dkim import DkimSigner, strip_broken_signatures, verify_with_key
from relay_smtp.mail.inject_html import splice_html_block
from relay_smtp.mail.inject_text import LeafSplice, splice_text_block
from relay_smtp.mail.message import ParsedMessage
from relay_smtp.mail.mime import (
    Edit,
    MimePart,
    Selection,
    apply_edits,
    body_bytes,
    choose_parts,
    get_header,
    header_fields,
    parse_mime,
    set_content_type_param_edit,
    set_header_edit,
)
from relay_smtp.mail.own_block import MARKER_HEADER, OwnLinkCheck, carries_own_block
from relay_smtp.mail.phrasebook import company_phrases
from relay_smtp.mail.snippets import RenderedBlock, SnippetRenderer
from relay_smtp.mail.transfer import UnsupportedPart

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class Outcome:
    action: Action
    reason: str
    outgoing: tuple[Outgoing, ...]
    verdict: Verdict | None = None
    company: str | None = None
    parts: tuple[PartReport, ...] = ()
    signing: str = ""

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


def _unchanged(
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


# --------------------------------------------------------------------------- who is sending


def _address_domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(">").lower()


def _matches_sender(address: str, patterns: Sequence[str]) -> bool:
    address = address.strip().lower()
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if pattern == "*":  # every sender (the embedded demo; the SMTP side decides who may send)
            return True
        if pattern.startswith("@"):
            if address.endswith(pattern) or _address_domain(address).endswith("." + pattern[1:]):
                return True
        elif address == pattern:
            return True
    return False


def from_address(raw: bytes, root: MimePart) -> str:
    return parseaddr(get_header(raw, root, "From") or "")[1]


def find_company(
    companies: Sequence[Company], mail_from: str, header_from: str
) -> tuple[Company | None, bool]:
    """The configured company this mail belongs to, and whether it comes from a recruiting sender."""
    for company in companies:
        for address in (mail_from, header_from):
            if address and _matches_sender(address, company.recruiting_senders):
                return company, True
    domains = {_address_domain(a) for a in (mail_from, header_from) if a}
    for company in companies:
        if domains & {d.lower() for d in company.domains}:
            return company, False
    return None, False


def _decoded_words(value: str) -> str:
    """RFC 2047 encoded words decoded; a header that will not decode is taken as it is."""
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeDecodeError):
        return value


def fallback_company(raw: bytes, root: MimePart) -> Company:
    """For mail explicitly marked by an unconfigured sender: name the company after its From.

    The display name only when it looks like an organisation (often it is a role, 採用担当).
    """
    name, address = parseaddr(get_header(raw, root, "From") or "")
    domain = _address_domain(address) or "unknown"
    return Company(id=domain, name=company_name(_decoded_words(name), domain), mode="enforce")


# --------------------------------------------------------------------------- splicing


def _already_injected(
    raw: bytes, root: MimePart, targets: Sequence[MimePart], own_link: OwnLinkCheck | None = None
) -> bool:
    """Our header, our link or our marker in a body (a loop, an extra hop, a quoted reply)."""
    return carries_own_block(raw, root, targets, own_link)


def _splice_part(raw: bytes, part: MimePart, block: RenderedBlock, placeholder: str) -> LeafSplice:
    body = body_bytes(raw, part)
    if part.content_type == "text/html":
        return splice_html_block(
            body, cte=part.cte, charset=part.charset, block_html=block.html, placeholder=placeholder
        )
    return splice_text_block(
        body,
        cte=part.cte,
        charset=part.charset,
        block=block.text,
        placeholder=placeholder,
        flowed=part.params.get("format", "").lower() == "flowed",
        delsp=part.params.get("delsp", "").lower() == "yes",
    )


def _part_edits(raw: bytes, part: MimePart, spliced: LeafSplice) -> list[Edit]:
    edits = [Edit(part.body_start, part.body_end, spliced.body)]
    if spliced.charset is not None:
        edits.append(set_content_type_param_edit(raw, part, "charset", spliced.charset))
    if spliced.cte is not None:
        edits.append(set_header_edit(raw, part, "Content-Transfer-Encoding", spliced.cte))
    return edits


def subject_tag_edit(raw: bytes, root: MimePart, tag: str) -> Edit | None:
    """Remove the ATS subject tag (e.g. "[CR]") and one space after it, byte for byte."""
    if not tag:
        return None
    subject = next((f for f in header_fields(raw, root) if f.name == b"subject"), None)
    if subject is None:
        return None
    tag_bytes = tag.encode("utf-8")
    at = raw.find(tag_bytes, subject.start, subject.end)
    if at < 0:
        return None
    start = at
    end = start + len(tag_bytes)
    if raw[end : end + 1] == b" ":
        end += 1
    elif raw[start - 1 : start] == b" ":
        start -= 1
    return Edit(start, end, b"")


@dataclass(frozen=True)
class _Plan:
    """What splicing a message means, computed once; rendering per link is the only per-copy work."""

    targets: tuple[MimePart, ...]
    skipped: tuple[tuple[str, str], ...]
    fixed_edits: tuple[Edit, ...]


def _render_copy(
    raw: bytes, plan: _Plan, block: RenderedBlock, placeholder: str
) -> tuple[bytes, list[PartReport]]:
    edits = list(plan.fixed_edits)
    reports = []
    for part in plan.targets:
        try:
            spliced = _splice_part(raw, part, block, placeholder)
        except UnsupportedPart as exc:
            reports.append(PartReport(part.path or "1", part.content_type, str(exc), changed=False))
            continue
        edits.extend(_part_edits(raw, part, spliced))
        reports.append(PartReport(part.path or "1", part.content_type, spliced.where, changed=True))
    if not any(r.changed for r in reports):
        return raw, reports
    return apply_edits(raw, edits), reports


# --------------------------------------------------------------------------- signing


def _sign(config: PipelineConfig, original: bytes, data: bytes) -> tuple[bytes, str]:
    """Drop the DKIM signatures our change broke, add ours; with self_check, prove it verifies."""
    if data is not original:
        data = strip_broken_signatures(original, data)
    if config.signer is None:
        return data, "not signed: no DKIM keys configured"
    result = config.signer.sign(data)
    if not result.signed:
        return data, f"not signed: {result.reason}"
    note = f"signed d={result.domain} s={','.join(result.selectors)}"
    if config.self_check:
        keys = config.signer.keys_for(result.domain or "")
        if not all(verify_with_key(result.message, key.dns_txt()) for key in keys):
            raise SelfCheckFailed(f"our own DKIM signature ({note}) does not verify")
    return result.message, note


class SelfCheckFailed(RuntimeError):
    """The signature we just made does not verify: send the original rather than a broken message."""


def _sign_unchanged(raw: bytes, outcome: Outcome, config: PipelineConfig, header_from: str) -> Outcome:
    """Mail we did not change keeps its signatures; only `dkim.sign_all_domains` get ours too."""
    if _address_domain(header_from) not in config.sign_all_domains:
        return outcome
    data, note = _sign(config, raw, raw)
    copies = tuple(Outgoing(c.recipients, data, c.link) for c in outcome.outgoing)
    return replace(outcome, outgoing=copies, signing=note)


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class _Decision:
    """A rejection that will get the block: for which company, and where."""

    company: Company
    verdict: Verdict
    selection: Selection


def _decide(
    message: ParsedMessage,
    envelope: Envelope,
    config: PipelineConfig,
    header_from: str,
    force: bool,
    ats: AtsSignals,
) -> _Decision | Outcome:
    """Classify and guard: either the decision to inject, or the unchanged outcome and its reason."""
    raw, root = message.raw, message.root
    company, recruiting = find_company(config.companies, envelope.mail_from, header_from)
    sender = Sender(is_recruiting=recruiting or force, company_domains=company.domains if company else ())
    verdict = classify(message, config.rules_for(company), sender, envelope.recipients)
    if company is not None:  # the ATS's word (looked up by the edge, passed in as data)
        decided = apply_signal(verdict, company.id, recruiting, envelope.recipients, company.domains, ats)
        verdict = decided.verdict
        if decided.conflict:
            reason = "ats-signal conflict: the text reads as an offer or interview; not a rejection"
            return _unchanged(raw, envelope, "passed", reason, verdict, company.id)
    if not force and verdict.label != "rejection":
        return _unchanged(raw, envelope, "passed", "not a rejection", verdict)
    problem = header_problem(raw, root)
    if problem is not None:  # forwarded untouched: verifiers would disagree, or no From to credit
        return _unchanged(raw, envelope, "passed", problem, verdict, company.id if company else None)
    if company is None:
        if verdict.explicit is None and not force:
            return _unchanged(raw, envelope, "passed", "no company configured for this sender", verdict)
        company = fallback_company(raw, root)
    if company.mode == "off" and not force:
        return _unchanged(raw, envelope, "passed", f"company {company.id}: mode off", verdict, company.id)
    selection = choose_parts(raw, root)
    if selection.refusal is not None:
        return _unchanged(raw, envelope, "passed", selection.refusal, verdict, company.id)
    if _already_injected(raw, root, selection.targets, config.own_link):
        return _unchanged(raw, envelope, "passed", "already carries the Career Relay block", verdict)
    if company.mode == "audit" and not force:
        return _unchanged(raw, envelope, "audited", "rejection (audit mode)", verdict, company.id)
    return _Decision(company, verdict, selection)


@dataclass(frozen=True)
class PersonalCopy:
    """One recipient's copy, with where the block went; `changed` False: no part could hold it."""

    outgoing: Outgoing
    parts: tuple[PartReport, ...]
    signing: str
    changed: bool
    why_unchanged: str = ""


@dataclass(frozen=True)
class Personaliser:
    """The per-recipient half of injecting: copies made one at a time from a plan computed once.

    A rejection to N recipients needs N copies. Made on demand, each sent before the next is made,
    they cost O(message) memory instead of O(N x message).
    """

    raw: bytes
    config: PipelineConfig
    decision: _Decision
    plan: _Plan
    locale: str
    message_id: str
    must_sign: bool  # DKIM keys are configured for this company: change only what we can sign

    def copy_for(self, recipient: str) -> PersonalCopy:
        d, config, raw = self.decision, self.config, self.raw
        link = config.link_for(d.company, recipient, self.message_id)
        block = config.renderer.render(locale=self.locale, company_name=d.company.name, link=link.url)
        data, reports = _render_copy(raw, self.plan, block, config.rules.placeholder)
        skipped = tuple(PartReport(path, "", reason, changed=False) for path, reason in d.selection.skipped)
        parts = (*reports, *skipped)
        if data is raw:
            return PersonalCopy(Outgoing((recipient,), raw), parts, "", changed=False)
        data, signing = _sign(config, raw, data)
        if self.must_sign and not signing.startswith("signed"):
            # An unsigned change of a domain that signs its mail would fail DMARC: send the original.
            why = f"changed copy could not be signed ({signing}); original forwarded"
            return PersonalCopy(Outgoing((recipient,), raw), parts, signing, False, why)
        return PersonalCopy(Outgoing((recipient,), data, link), parts, signing, changed=True)

    def unchanged(self, envelope: Envelope, copy: PersonalCopy) -> Outcome:
        parts = copy.parts
        why = "; ".join(f"part {r.path}: {r.note}" for r in parts if r.content_type)
        reason = copy.why_unchanged or f"no part could hold the block ({why})"
        d = self.decision
        return _unchanged(self.raw, envelope, "passed", reason, d.verdict, d.company.id, parts)


def _personaliser(raw: bytes, root: MimePart, config: PipelineConfig, d: _Decision) -> Personaliser:
    fixed = [set_header_edit(raw, root, MARKER_HEADER, "injected")]
    tag_edit = subject_tag_edit(raw, root, config.rules.subject_tag)
    if tag_edit is not None:
        fixed.append(tag_edit)
    plan = _Plan(d.selection.targets, d.selection.skipped, tuple(fixed))
    locale = d.verdict.locale if d.company.locale == "auto" else d.company.locale
    message_id = get_header(raw, root, "Message-ID") or ""
    domains = (*d.company.domains, _address_domain(from_address(raw, root)))
    must_sign = config.signer is not None and any(config.signer.keys_for(x) for x in domains if x)
    return Personaliser(raw, config, d, plan, locale, message_id, must_sign)


def _inject(raw: bytes, root: MimePart, envelope: Envelope, config: PipelineConfig, d: _Decision) -> Outcome:
    """One personalised, signed copy per envelope recipient."""
    personaliser = _personaliser(raw, root, config, d)
    copies: list[Outgoing] = []
    made: PersonalCopy | None = None
    for recipient in envelope.recipients:
        made = personaliser.copy_for(recipient)
        if not made.changed:
            return personaliser.unchanged(envelope, made)
        copies.append(made.outgoing)
    assert made is not None
    reason = f"rejection for {d.company.id}"
    return Outcome("injected", reason, tuple(copies), d.verdict, d.company.id, made.parts, made.signing)


def _decided(
    raw: bytes, envelope: Envelope, config: PipelineConfig, force: bool, ats: AtsSignals = NO_SIGNALS
) -> Outcome | tuple[MimePart, _Decision]:
    """Parse, classify and guard: the unchanged outcome, or where and for whom to inject.
    ``ats``: the ATS rejection signals active for these recipients (see relay_smtp/ats.py)."""
    message = ParsedMessage.parse(raw)  # the one parse; every step reads from it
    root = message.root
    header_from = from_address(raw, root)
    decision = _decide(message, envelope, config, header_from, force, ats)
    if isinstance(decision, Outcome):
        return _sign_unchanged(raw, decision, config, header_from)
    return root, decision


def run(
    raw: bytes,
    envelope: Envelope,
    config: PipelineConfig,
    *,
    force: bool = False,
    ats: AtsSignals = NO_SIGNALS,
) -> Outcome:
    """The pipeline proper; may raise on a bug, which `process` turns into forwarding the original."""
    decided = _decided(raw, envelope, config, force, ats)
    if isinstance(decided, Outcome):
        return decided
    return _inject(raw, decided[0], envelope, config, decided[1])


def _forward_original(raw: bytes, envelope: Envelope) -> Outcome:
    log.exception("pipeline failed; forwarding the original message unchanged")
    return _unchanged(raw, envelope, "failed", "internal error; original forwarded")


def process(
    raw: bytes,
    envelope: Envelope,
    config: PipelineConfig,
    *,
    force: bool = False,
    ats: AtsSignals = NO_SIGNALS,
) -> Outcome:
    """Run the pipeline; on any exception forward the original bytes unchanged and log the bug."""
    try:
        return run(raw, envelope, config, force=force, ats=ats)
    except Exception:
        return _forward_original(raw, envelope)


def process_first(
    raw: bytes, envelope: Envelope, config: PipelineConfig, ats: AtsSignals = NO_SIGNALS
) -> tuple[Outcome, Personaliser | None]:
    """Like `process`, but a rejection to several recipients comes back with its first copy only,
    and the `Personaliser` that makes the others one at a time (for the relay's sending loop)."""
    try:
        decided = _decided(raw, envelope, config, False, ats)
        if isinstance(decided, Outcome):
            return decided, None
        root, decision = decided
        if len(envelope.recipients) == 1:
            return _inject(raw, root, envelope, config, decision), None
        personaliser = _personaliser(raw, root, config, decision)
        first = personaliser.copy_for(envelope.recipients[0])
        if not first.changed:
            return personaliser.unchanged(envelope, first), None
        reason = f"rejection for {decision.company.id}"
        company = decision.company.id
        outcome = Outcome(
            "injected", reason, (first.outgoing,), decision.verdict, company, first.parts, first.signing
        )
        return outcome, personaliser
    except Exception:
        return _forward_original(raw, envelope), None


def recipients_of(raw: bytes) -> tuple[str, ...]:
    """To and Cc addresses, for offline use (`relay-smtp rewrite`) where there is no envelope."""
    root = parse_mime(raw)
    values = [v for name in ("To", "Cc") if (v := get_header(raw, root, name))]
    return tuple(a for _, a in getaddresses(values) if a)
