"""The pure core: one received message in, the messages to send and a verdict out.

Bytes, the envelope and settings come in; nothing here opens a socket, touches the database or reads
the clock it is not given. The steps are small named functions run in order, as in a mail processor:

    parse ▸ find company ▸ classify ▸ guard ▸ choose parts ▸ splice ▸ mark

Any step may stop the message with a reason; it then goes out exactly as it came in. `process` wraps
the whole run so that an unexpected exception (a bug of ours, or mail nobody foresaw) also forwards the
original bytes and is logged: the relay never loses or bounces a message because of its own bug.

This module holds the guards and the run; the shared types are in `pipeline_data`, the sender lookup
in `sender_company`, and the per-recipient copies (splice, sign) in `personalise`.
"""

from __future__ import annotations

import logging
from email.utils import getaddresses

from relay_smtp.ats import NO_SIGNALS, AtsSignals, apply_signal
from relay_smtp.header_check import header_problem
from relay_smtp.mail.choose import choose_parts
from relay_smtp.mail.classify import Sender, classify
from relay_smtp.mail.message import ParsedMessage
from relay_smtp.mail.mime import MimePart, get_header, parse_mime
from relay_smtp.mail.own_block import carries_own_block
from relay_smtp.personalise import (
    Decision,
    PersonalCopy,
    Personaliser,
    SelfCheckFailed,
    inject,
    injected,
    make_personaliser,
    sign_unchanged,
    subject_tag_edit,
)
from relay_smtp.pipeline_data import (
    THREAD_FIELDS,
    Action,
    Envelope,
    LinkFactory,
    Outcome,
    Outgoing,
    PartReport,
    PipelineConfig,
    ThreadFields,
    unchanged,
)
from relay_smtp.sender_company import FromField, fallback_company, find_company, from_address, read_from

# What callers and tests import from here; the steps live in the modules above.
__all__ = [
    "Action",
    "Envelope",
    "LinkFactory",
    "Outcome",
    "Outgoing",
    "PartReport",
    "PersonalCopy",
    "Personaliser",
    "PipelineConfig",
    "SelfCheckFailed",
    "ThreadFields",
    "fallback_company",
    "find_company",
    "from_address",
    "process",
    "process_first",
    "recipients_of",
    "subject_tag_edit",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- guards


def _decide(
    message: ParsedMessage,
    envelope: Envelope,
    config: PipelineConfig,
    sender_from: FromField,
    force: bool,
    ats: AtsSignals,
) -> Decision | Outcome:
    """Classify and guard: either the decision to inject, or the unchanged outcome and its reason."""
    raw, root = message.raw, message.root
    header_from = sender_from.address
    company, recruiting = find_company(config.companies, envelope.mail_from, header_from)
    sender = Sender(is_recruiting=recruiting or force, company_domains=company.domains if company else ())
    verdict = classify(message, config.rules_for(company), sender, envelope.recipients)
    if company is not None:  # the ATS's word (looked up by the edge, passed in as data)
        decided = apply_signal(verdict, company.id, recruiting, envelope.recipients, company.domains, ats)
        verdict = decided.verdict
        if decided.conflict:
            reason = "ats-signal conflict: the text reads as an offer or interview; not a rejection"
            return unchanged(raw, envelope, "passed", reason, verdict, company.id)
    if not force and verdict.label != "rejection":
        return unchanged(raw, envelope, "passed", "not a rejection", verdict)
    problem = header_problem(raw, root, sender_from)
    if problem is not None:  # forwarded untouched: verifiers would disagree, or no From to credit
        return unchanged(raw, envelope, "passed", problem, verdict, company.id if company else None)
    if company is None:
        if verdict.explicit is None and not force:
            return unchanged(raw, envelope, "passed", "no company configured for this sender", verdict)
        company = fallback_company(raw, root, sender_from)
    if company.mode == "off" and not force:
        return unchanged(raw, envelope, "passed", f"company {company.id}: mode off", verdict, company.id)
    selection = choose_parts(raw, root, message.decoded)
    if selection.refusal is not None:
        return unchanged(raw, envelope, "passed", selection.refusal, verdict, company.id)
    if carries_own_block(message, selection.targets, config.own_link):
        return unchanged(raw, envelope, "passed", "already carries the Career Relay block", verdict)
    if company.mode == "audit" and not force:
        return unchanged(raw, envelope, "audited", "rejection (audit mode)", verdict, company.id)
    return Decision(company, verdict, selection, header_from)


# --------------------------------------------------------------------------- the run


def _thread_fields(message: ParsedMessage, sender_from: FromField) -> ThreadFields | None:
    """The recorder's fields from this parse (None where compat32 would read the section otherwise)."""
    values = message.compat_values(THREAD_FIELDS)
    if values is None:
        return None
    from_value = values["from"]
    known = sender_from.address if sender_from.text == from_value else None
    return ThreadFields(from_value, values["message-id"], values["in-reply-to"], values["references"], known)


def _decided(
    raw: bytes, envelope: Envelope, config: PipelineConfig, force: bool, ats: AtsSignals = NO_SIGNALS
) -> Outcome | tuple[MimePart, Decision, ThreadFields | None]:
    """Parse, classify and guard: the unchanged outcome, or where and for whom to inject, and the
    header fields the recorder needs (carried on the outcome).
    ``ats``: the ATS rejection signals active for these recipients (see relay_smtp/ats.py)."""
    message = ParsedMessage.parse(raw)  # the one parse; every step reads from it
    root = message.root
    sender_from = read_from(message.header("From"))  # the one parse of the From, too
    thread = _thread_fields(message, sender_from)
    decision = _decide(message, envelope, config, sender_from, force, ats)
    if isinstance(decision, Outcome):
        return _with_thread(sign_unchanged(raw, decision, config, sender_from.address), thread)
    return root, decision, thread


def _with_thread(outcome: Outcome, thread: ThreadFields | None) -> Outcome:
    """The outcome carrying the recorder's fields (see recontact.py)."""
    if thread is None:
        return outcome
    # Spelt out: ``dataclasses.replace`` costs twice as much (it inspects the fields on every call).
    o = outcome
    return Outcome(o.action, o.reason, o.outgoing, o.verdict, o.company, o.parts, o.signing, thread)


def _forward_original(raw: bytes, envelope: Envelope) -> Outcome:
    log.exception("pipeline failed; forwarding the original message unchanged")
    return unchanged(raw, envelope, "failed", "internal error; original forwarded")


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
        decided = _decided(raw, envelope, config, force, ats)
        if isinstance(decided, Outcome):
            return decided
        return _with_thread(inject(raw, decided[0], envelope, config, decided[1]), decided[2])
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
        root, decision, thread = decided
        if len(envelope.recipients) == 1:
            return _with_thread(inject(raw, root, envelope, config, decision), thread), None
        personaliser = make_personaliser(raw, root, config, decision)
        first = personaliser.copy_for(envelope.recipients[0])
        if not first.changed:
            return _with_thread(personaliser.unchanged(envelope, first), thread), None
        return _with_thread(injected(decision, (first.outgoing,), first), thread), personaliser
    except Exception:
        return _forward_original(raw, envelope), None


def recipients_of(raw: bytes) -> tuple[str, ...]:
    """To and Cc addresses, for offline use (`relay-smtp rewrite`) where there is no envelope."""
    root = parse_mime(raw)
    values = [v for name in ("To", "Cc") if (v := get_header(raw, root, name))]
    return tuple(a for _, a in getaddresses(values) if a)
