"""The per-recipient half of injecting: splice the block into each copy, then re-sign it.

The pipeline decides once whether and where a message gets the block; this module makes the copies,
one per envelope recipient, each with its own link. Kept apart so that the decision (pure reading of
the message) and the copy making (byte edits and DKIM) can each be read in one sitting.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from relay_smtp.config import Company
from relay_smtp.mail.choose import Selection
from relay_smtp.mail.classify import Verdict
from relay_smtp.mail.dkim import stripped_and_read, verify_with_key
from relay_smtp.mail.inject_html import prepare_html_splice
from relay_smtp.mail.inject_text import prepare_text_splice
from relay_smtp.mail.mime import MimePart, body_bytes, get_header, header_fields
from relay_smtp.mail.mime_edit import Edit, apply_edits, set_content_type_param_edit, set_header_edit
from relay_smtp.mail.own_block import MARKER_HEADER
from relay_smtp.mail.snippets import RenderedBlock
from relay_smtp.mail.splice_slot import LeafSplice, SpliceSlot
from relay_smtp.mail.transfer import UnsupportedPart
from relay_smtp.pipeline_data import Envelope, Outcome, Outgoing, PartReport, PipelineConfig, unchanged
from relay_smtp.sender_company import address_domain


def prepare_part(raw: bytes, part: MimePart, placeholder: str) -> SpliceSlot:
    """Where the block goes in one target part (the same for every recipient)."""
    body = body_bytes(raw, part)
    if part.content_type == "text/html":
        return prepare_html_splice(body, cte=part.cte, charset=part.charset, placeholder=placeholder)
    flowed = part.params.get("format", "").lower() == "flowed"
    return prepare_text_splice(
        body, cte=part.cte, charset=part.charset, placeholder=placeholder, flowed=flowed
    )


def block_for(part: MimePart, block: RenderedBlock) -> str:
    return block.html if part.content_type == "text/html" else block.text


def splice_part(raw: bytes, part: MimePart, block: RenderedBlock, placeholder: str) -> LeafSplice:
    """One part with the block in it: prepared and filled at once (one copy)."""
    return prepare_part(raw, part, placeholder).fill(block_for(part, block))


def _header_edits(raw: bytes, part: MimePart, charset: str | None, cte: str | None) -> tuple[Edit, ...]:
    """The part's header changes when its charset or transfer encoding had to change."""
    edits = []
    if charset is not None:
        edits.append(set_content_type_param_edit(raw, part, "charset", charset))
    if cte is not None:
        edits.append(set_header_edit(raw, part, "Content-Transfer-Encoding", cte))
    return tuple(edits)


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
class Plan:
    """What splicing a message means, computed once; rendering per link is the only per-copy work.

    ``slots`` has, per target, where the block goes in it, or why the part cannot take one.
    """

    targets: tuple[MimePart, ...]
    skipped: tuple[tuple[str, str], ...]
    fixed_edits: tuple[Edit, ...]
    slots: tuple[SpliceSlot | UnsupportedPart, ...]
    # (part path, new charset, new transfer encoding) -> header edits: the same for every copy.
    header_edits: dict[tuple[str, str | None, str | None], tuple[Edit, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def part_edits(self, raw: bytes, part: MimePart, spliced: LeafSplice) -> list[Edit]:
        key = (part.path, spliced.charset, spliced.cte)
        headers = self.header_edits.get(key)
        if headers is None:
            headers = self.header_edits[key] = _header_edits(raw, part, spliced.charset, spliced.cte)
        return [Edit(part.body_start, part.body_end, spliced.body), *headers]


def make_plan(
    raw: bytes,
    targets: tuple[MimePart, ...],
    skipped: tuple[tuple[str, str], ...],
    fixed_edits: tuple[Edit, ...],
    placeholder: str,
) -> Plan:
    slots: list[SpliceSlot | UnsupportedPart] = []
    for part in targets:
        try:
            slots.append(prepare_part(raw, part, placeholder))
        except UnsupportedPart as exc:
            slots.append(exc)
    return Plan(targets, skipped, fixed_edits, tuple(slots))


def render_copy(raw: bytes, plan: Plan, block: RenderedBlock) -> tuple[bytes, list[PartReport]]:
    edits = list(plan.fixed_edits)
    reports = []
    for part, slot in zip(plan.targets, plan.slots, strict=True):
        try:
            spliced = slot if isinstance(slot, UnsupportedPart) else slot.fill(block_for(part, block))
        except UnsupportedPart as exc:
            spliced = exc
        if isinstance(spliced, UnsupportedPart):
            reports.append(PartReport(part.path or "1", part.content_type, str(spliced), changed=False))
            continue
        edits.extend(plan.part_edits(raw, part, spliced))
        reports.append(PartReport(part.path or "1", part.content_type, spliced.where, changed=True))
    if not any(r.changed for r in reports):
        return raw, reports
    return apply_edits(raw, edits), reports


# --------------------------------------------------------------------------- signing


def _sign(config: PipelineConfig, original: bytes, data: bytes) -> tuple[bytes, str]:
    """Drop the DKIM signatures our change broke, add ours; with self_check, prove it verifies."""
    header = None  # the header read of ``data`` when stripping made one (the signer reuses it)
    if data is not original:
        data, header = stripped_and_read(original, data)
    if config.signer is None:
        return data, "not signed: no DKIM keys configured"
    result = config.signer.sign(data, header=header)
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


def sign_unchanged(raw: bytes, outcome: Outcome, config: PipelineConfig, header_from: str) -> Outcome:
    """Mail we did not change keeps its signatures; only `dkim.sign_all_domains` get ours too."""
    if address_domain(header_from) not in config.sign_all_domains:
        return outcome
    data, note = _sign(config, raw, raw)
    copies = tuple(Outgoing(c.recipients, data, c.link) for c in outcome.outgoing)
    return replace(outcome, outgoing=copies, signing=note)


# --------------------------------------------------------------------------- the copies


@dataclass(frozen=True)
class Decision:
    """A rejection that will get the block: for which company, and where."""

    company: Company
    verdict: Verdict
    selection: Selection
    header_from: str  # the From address, as read once by the pipeline (it decides whose keys sign)


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
    decision: Decision
    plan: Plan
    locale: str
    message_id: str
    must_sign: bool  # DKIM keys are configured for this company: change only what we can sign

    def copy_for(self, recipient: str) -> PersonalCopy:
        d, config, raw = self.decision, self.config, self.raw
        link = config.link_for(d.company, recipient, self.message_id)
        block = config.renderer.render(locale=self.locale, company_name=d.company.name, link=link.url)
        data, reports = render_copy(raw, self.plan, block)
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
        return unchanged(self.raw, envelope, "passed", reason, d.verdict, d.company.id, parts)


def make_personaliser(raw: bytes, root: MimePart, config: PipelineConfig, d: Decision) -> Personaliser:
    fixed = [set_header_edit(raw, root, MARKER_HEADER, "injected")]
    tag_edit = subject_tag_edit(raw, root, config.rules.subject_tag)
    if tag_edit is not None:
        fixed.append(tag_edit)
    selection = d.selection
    plan = make_plan(raw, selection.targets, selection.skipped, tuple(fixed), config.rules.placeholder)
    locale = d.verdict.locale if d.company.locale == "auto" else d.company.locale
    message_id = get_header(raw, root, "Message-ID") or ""
    domains = (*d.company.domains, address_domain(d.header_from))
    must_sign = config.signer is not None and any(config.signer.keys_for(x) for x in domains if x)
    return Personaliser(raw, config, d, plan, locale, message_id, must_sign)


def inject(raw: bytes, root: MimePart, envelope: Envelope, config: PipelineConfig, d: Decision) -> Outcome:
    """One personalised, signed copy per envelope recipient."""
    personaliser = make_personaliser(raw, root, config, d)
    copies: list[Outgoing] = []
    made: PersonalCopy | None = None
    for recipient in envelope.recipients:
        made = personaliser.copy_for(recipient)
        if not made.changed:
            return personaliser.unchanged(envelope, made)
        copies.append(made.outgoing)
    assert made is not None
    return injected(d, tuple(copies), made)


def injected(d: Decision, copies: tuple[Outgoing, ...], last: PersonalCopy) -> Outcome:
    """The outcome of a rejection that got the block: ``copies`` so far, reported as ``last`` went."""
    reason = f"rejection for {d.company.id}"
    return Outcome("injected", reason, copies, d.verdict, d.company.id, last.parts, last.signing)
