"""Decide whether an outgoing message is a job-application rejection, and say why.

The relay splices a Career Relay referral block only into rejection mail (お祈りメール and its
English counterparts). A block in an offer letter, an interview invitation or a supplier's mail
would embarrass the sending company; a missed rejection only loses one referral. So this module is
built for precision first, and for a mail admin who asks "why?":

* explicit markers decide first (header ``X-Career-Relay``, a subject tag, a body placeholder);
* then who: only mail from a recruiting sender to at least one outside recipient can qualify;
* then what: weighted phrases over the subject and the sender's own visible text (quoted history,
  attachments and attached messages are ignored). The phrases are data: ``mail/phrases/ja.toml``
  and ``en.toml`` (see ``phrasebook``), plus a company's own from the configuration. Rejection
  phrases add, strong "this is something else" phrases (offers, pass notices, scheduling,
  supplier bids, contests, papers, loans ...) subtract, and the message is a rejection when the
  sum reaches the threshold and the text also names the job side (面接, 採用, position,
  interview ...): declining a loan, a supplier or a scholarship uses the same polite wording, and
  no list of such topics is ever complete;
* beside the phrases, a learned signal (``mail/model.py``, an n-gram model per language) backs
  typical rejection wording that no phrase weighs enough, within the same safeguards; and a learned
  outcome-sentence signal (``mail/outcome_model.py``) finds an outcome stated in words no phrase
  has, where the rules found none and no "something else" phrase counts against.

Every phrase that fired is returned as a :class:`Signal`, in order, so a verdict can be printed as
it was reached. :func:`classify` never raises: an unreadable message is "other", with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from relay_smtp.mail.classify_read import (
    Content,
    header_values,
    may_hold_placeholder,
    read,
)
from relay_smtp.mail.message import ParsedMessage
from relay_smtp.mail.model import TextModels, default_models
from relay_smtp.mail.outcome_model import OutcomeModels, default_outcome_models
from relay_smtp.mail.phrase_index import Forms, PhraseSet
from relay_smtp.mail.phrasebook import Phrase, default_tables
from relay_smtp.mail.structure import (
    OUTCOME_MIN_WEIGHT,
    SHAPE_FULL,
    SHAPE_PLAIN,
    find_shape,
)
from relay_smtp.mail.textform import Locale, locale_of, nfkc
from relay_smtp.mail.verdict import Explicit, Label, Signal, Verdict
from relay_smtp.mail.weigh import NEGATED_OUTCOME, beside, weigh

__all__ = [
    "NEGATED_OUTCOME",
    "ClassifierRules",
    "Explicit",
    "Label",
    "Locale",
    "Phrase",
    "Sender",
    "Signal",
    "Verdict",
    "classify",
]


# The shipped phrase tables (relay_smtp/mail/phrases/*.toml, read once). Rejection wording is
# shared with loans, card applications, vendors, contests and scholarships, and no list of those
# topics is ever complete; so rejection wording alone is not enough: the subject or text must also
# name the job side (the [context] words of each file).
_DEFAULTS = default_tables()
DEFAULT_SUBJECT_PHRASES: tuple[Phrase, ...] = _DEFAULTS.subject
DEFAULT_BODY_PHRASES: tuple[Phrase, ...] = _DEFAULTS.body
DEFAULT_JOB_CONTEXT: tuple[str, ...] = _DEFAULTS.context
DEFAULT_APPLICATION_CONTEXT: tuple[str, ...] = _DEFAULTS.application
DEFAULT_OTHER_KINDS: tuple[str, ...] = _DEFAULTS.other_kinds
DEFAULT_CLOSED_TOPICS: tuple[str, ...] = _DEFAULTS.closed


@dataclass(frozen=True)
class ClassifierRules:
    """Everything the classifier can be told. The defaults ship here; the config layer builds
    this from TOML overrides. Construction compiles the phrases (a bad ``re:`` pattern raises
    ValueError naming it), so a classify call never compiles anything."""

    threshold: int = 4
    header_name: str = "X-Career-Relay"
    subject_tag: str = "[CR]"
    placeholder: str = "{{career_relay}}"
    subject_phrases: tuple[Phrase, ...] = DEFAULT_SUBJECT_PHRASES
    body_phrases: tuple[Phrase, ...] = DEFAULT_BODY_PHRASES
    job_context: tuple[str, ...] = DEFAULT_JOB_CONTEXT  # empty: no context needed
    # The gate's second way: an application is named and no other kind of application is.
    application_context: tuple[str, ...] = DEFAULT_APPLICATION_CONTEXT
    other_kinds: tuple[str, ...] = DEFAULT_OTHER_KINDS
    # Topics that close the gate both ways: 奨学生の採用, an "admissions tutor" name no job applied for.
    closed_topics: tuple[str, ...] = DEFAULT_CLOSED_TOPICS
    # The learned signal (mail/model.py); None: the phrase rules alone.
    text_model: TextModels | None = field(default_factory=default_models, repr=False, compare=False)
    # The outcome-sentence signal (mail/outcome_model.py); None: without it.
    outcome_model: OutcomeModels | None = field(
        default_factory=default_outcome_models, repr=False, compare=False
    )
    _subject: PhraseSet = field(init=False, repr=False, compare=False)
    _body: PhraseSet = field(init=False, repr=False, compare=False)
    _context: PhraseSet = field(init=False, repr=False, compare=False)
    _application: PhraseSet = field(init=False, repr=False, compare=False)
    _other_kinds: PhraseSet = field(init=False, repr=False, compare=False)
    _closed: PhraseSet = field(init=False, repr=False, compare=False)
    _generic: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.header_name.strip():
            raise ValueError("header_name must not be empty")
        context = tuple(Phrase(p, 0, check_context=False) for p in self.job_context)
        application = tuple(Phrase(p, 0, check_context=False) for p in self.application_context)
        other_kinds = tuple(Phrase(p, 0, check_context=False) for p in self.other_kinds)
        closed = tuple(Phrase(p, 0, check_context=False) for p in self.closed_topics)
        # Built together: they share one literal table per language (see PhraseSet.build_all).
        sets = PhraseSet.build_all(
            (self.subject_phrases, self.body_phrases, context, application, other_kinds, closed)
        )
        names = ("_subject", "_body", "_context", "_application", "_other_kinds", "_closed")
        for name, built in zip(names, sets, strict=True):
            object.__setattr__(self, name, built)
        generic = frozenset(p.pattern for p in self.subject_phrases + self.body_phrases if p.generic)
        object.__setattr__(self, "_generic", generic)

    def with_phrases(self, added: tuple[Phrase, ...]) -> ClassifierRules:
        """These rules plus a company's own phrases (weighed in the subject and the body)."""
        if not added:
            return self
        return replace(
            self, subject_phrases=self.subject_phrases + added, body_phrases=self.body_phrases + added
        )


@dataclass(frozen=True)
class Sender:
    """Who is sending, as the pipeline worked it out from the company config."""

    is_recruiting: bool
    company_domains: tuple[str, ...] = ()


# A reply's or forward's subject names the thread, not this message: "Re: 面接日程のご案内" is
# how many companies send the rejection after an interview.
_REPLY_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)*(?:re|fw|fwd|aw|sv|wg|返信|転送)\s*(?:\[\d+\]|\(\d+\))?\s*:", re.I
)


# --- the decision -----------------------------------------------------------------------------


def _verdict(
    label: Label,
    signals: list[Signal],
    locale: Locale,
    explicit: Explicit | None = None,
    score: int = 0,
) -> Verdict:
    return Verdict(label, score, tuple(signals), explicit, locale)


class _Reader:
    """The message's own text, read (decoded, normalised, history dropped) the first time a step
    needs it: a marker in a header or a sender that cannot qualify decides without it."""

    def __init__(self, message: ParsedMessage, placeholder: str) -> None:
        self.message = message
        self.placeholder = placeholder
        self.raw_subject = " ".join(header_values(message, "Subject"))
        self.subject = nfkc(self.raw_subject)
        self._content: Content | None = None

    def content(self) -> Content:
        if self._content is None:
            self._content = read(self.message, self.placeholder, self.subject)
        return self._content

    def locale(self) -> Locale:
        """From the subject and the text: for verdicts that use it (the block's language)."""
        content = self.content()
        return locale_of(content.subject, content.text)

    def subject_locale(self) -> Locale:
        """From the subject alone: for "other" verdicts decided before any body was read."""
        return locale_of(self.subject)


def _explicit(message: ParsedMessage, reader: _Reader, rules: ClassifierRules) -> Verdict | None:
    values = [v.strip().split(";")[0].strip().lower() for v in header_values(message, rules.header_name)]
    name = rules.header_name
    if "injected" in values:
        return _verdict("other", [Signal("header", "already injected", 0)], reader.subject_locale(), "skip")
    if "skip" in values:
        return _verdict("other", [Signal("header", f"{name}: skip", 0)], reader.subject_locale(), "skip")
    if "rejection" in values:
        mark = Signal("header", f"{name}: rejection", 0)
        return _verdict("rejection", [mark], reader.locale(), "rejection")
    if rules.subject_tag and rules.subject_tag in reader.raw_subject:
        tag = Signal("subject-tag", rules.subject_tag, 0)
        return _verdict("rejection", [tag], reader.locale(), "rejection")
    if may_hold_placeholder(message, rules.placeholder) and reader.content().has_placeholder:
        mark = Signal("placeholder", rules.placeholder, 0)
        return _verdict("rejection", [mark], reader.locale(), "rejection")
    return None


def _domain(address: str) -> str:
    address = address.strip().strip("<>").rstrip(".").lower()
    return address.rpartition("@")[2]


def _all_internal(recipients: Sequence[str], domains: tuple[str, ...]) -> bool:
    own = tuple(d.lower().strip(".") for d in domains if d.strip("."))
    if not recipients or not own:
        return False
    return all(any(dom == d or dom.endswith("." + d) for d in own) for dom in map(_domain, recipients))


def _job_context(rules: ClassifierRules, subject: Forms, body: Forms) -> Signal | None:
    """The job word that lets a rejection through the gate; or else an application that is not
    named as any other kind (a loan, a flat, a scholarship ...): a recruiting sender's mail about
    "your application" (ご応募) with no other kind in sight is about a job. A closed topic (a
    scholarship, an admission) shuts both ways: there 採用 and "tutor" name the other kind's side."""
    sides = (("subject", subject), ("body", body))
    # Most messages name no closed topic at all: a look-up among the literals found spares weighing.
    closed = [(w, f) for w, f in sides if rules._closed.may_match(f)]
    if any(weigh(w, rules._closed, f, first=True) for w, f in closed):
        return None
    for where, forms in sides:
        for found in weigh(where, rules._context, forms, first=True):
            return Signal(where, found.pattern, 0, found.matched, "job context")
    if not rules.application_context or any(weigh(w, rules._other_kinds, f, first=True) for w, f in sides):
        return None
    for where, forms in sides:
        for found in weigh(where, rules._application, forms, first=True):
            return Signal(
                where, found.pattern, 0, found.matched, "job context: an application, no other kind named"
            )
    return None


# An outcome stated about the application: a body phrase of this weight or more.
STATES_OUTCOME = 4


def _outweigh_generic(signals: list[Signal], rules: ClassifierRules, body: Forms) -> list[Signal]:
    """A generic request, step or topic word ("get back to you", a "next steps" subject, "onboarding",
    ご推薦) does not count against an outcome the body states about the application (round 9: "Just
    wanted to get back to you ... The team went with another candidate"; round 12: "we will not be
    progressing your application ... As a next step, a short survey").

    Except where it is part of an action addressed to the reader in this mail: a body sentence that
    holds it also holds a counted phrase that is not generic (an invitation, an offer, a request):
    "we would like to invite you to the next stage for the Analyst role" keeps its next stage."""
    if not any(s.where == "body" and s.weight >= STATES_OUTCOME for s in signals):
        return signals
    generic, note = rules._generic, "generic request, outweighed by an outcome statement"
    actions = [s.matched for s in signals if s.where == "body" and s.weight < 0 and s.pattern not in generic]
    out = []
    for s in signals:
        if (
            s.weight < 0
            and s.pattern in generic
            and not (s.where == "body" and beside(s.matched, actions, body))
        ):
            s = replace(s, weight=0, note=note)
        out.append(s)
    return out


def _subject_answered(signals: list[Signal]) -> list[Signal]:
    """A subject that names a topic (内定に関するご連絡) whose outcome the body states as a negation
    (内定のご提示を見送らせていただく) is that outcome's heading, not an offer (round 14)."""
    answered = [s.matched for s in signals if s.where == "body" and s.note == NEGATED_OUTCOME]
    if not answered:
        return signals
    note = "the body states this topic's outcome"
    return [
        replace(s, weight=0, note=note)
        if s.where == "subject" and s.weight < 0 and s.matched in answered
        else s
        for s in signals
    ]


def _shape(signals: list[Signal], body: Forms, locale: Locale) -> list[Signal]:
    """The structure signal (see mail/structure.py): thanks -> outcome -> wish, or thanks ->
    outcome with nothing asked; never when a "something else" phrase counted in the body."""
    if any(s.weight < 0 for s in signals if s.where == "body"):
        return []
    outcomes = [s.matched for s in signals if s.where == "body" and s.weight >= OUTCOME_MIN_WEIGHT]
    japanese = locale == "ja"
    shape = find_shape(body.ja if japanese else body.en, outcomes, japanese)
    if shape is None:
        return []
    if shape.wish:
        seen = f"{shape.thanks} → {shape.outcome} → {shape.wish}"
        return [Signal("structure", "thanks → outcome → wish", SHAPE_FULL, seen)]
    seen = f"{shape.thanks} → {shape.outcome}"
    return [Signal("structure", "thanks → outcome, nothing asked", SHAPE_PLAIN, seen)]


# A counted body phrase this strong or stronger against leaves the outcome-sentence signal out: an
# offer, an invitation, a pass, another topic, and also a request (-3): a mail that asks the reader
# for something is not a final answer, whatever a sentence of it sounds like (measured on set 11: a
# -4 limit gained one disputable catch, a freeze that asks for a reply, and let a request trap through).
OUTCOME_BLOCKED = -1
# Notes with which the rules set rejection wording aside: the mail talks of an outcome that is not
# this mail's (a condition, a delay, a quoted example, an application only moved to another channel:
# "we won't be continuing with your application by post; please use the portal"), and a sentence
# model must not read it back in.
_SET_ASIDE = ("conditional", "delayed", "quoted example", "said of the channel")


def _outcome(rules: ClassifierRules, signals: list[Signal], body: Forms, locale: Locale) -> list[Signal]:
    """The outcome-sentence signal (see mail/outcome_model.py), read only where it could change the
    verdict: the rules' sum is below the threshold and the signal's weight would reach it, the rules
    stated no outcome themselves (that sum is theirs to decide), no "something else" phrase (not even
    a request) counted in the body, and no rejection wording was set aside."""
    models = rules.outcome_model
    model = models.for_locale(locale) if models else None
    if models is None or model is None:
        return []
    score = sum(s.weight for s in signals)
    if score >= rules.threshold or score + model.weight < rules.threshold:
        return []
    for s in signals:
        if s.where == "body" and (s.weight >= STATES_OUTCOME or s.weight <= OUTCOME_BLOCKED):
            return []
        if any(s.note.startswith(n) for n in _SET_ASIDE):
            return []
    reading = models.read(locale, body.ja if locale == "ja" else body.en)
    if reading is None:
        return []
    pattern, weight, note = "states an outcome (learned)", reading.weight, reading.explanation
    # The sentence is the body's: the body itself must say whose application it is about. A subject
    # may name only the sender's side ("Recruiting: ATS trial" declining a vendor's trial).
    if rules.job_context and _job_context(rules, _NO_SUBJECT, body) is None:
        weight, note = 0, f"{note}; not counted: the body names no job or application"
    return [Signal("outcome", pattern, weight, reading.sentence, note)]


_NO_SUBJECT = Forms("", "")


def _classify(
    message: ParsedMessage, rules: ClassifierRules, sender: Sender, recipients: Sequence[str]
) -> Verdict:
    reader = _Reader(message, rules.placeholder)
    decided = _explicit(message, reader, rules)
    if decided:
        return decided
    if not sender.is_recruiting:
        return _verdict("other", [Signal("sender", "not a recruiting sender", 0)], reader.subject_locale())
    if _all_internal(recipients, sender.company_domains):
        note = "all recipients are in the company's own domains"
        return _verdict("other", [Signal("recipient", note, 0)], reader.subject_locale())
    content = reader.content()
    locale = reader.locale()
    ignore = "reply subject, ignored" if _REPLY_SUBJECT.match(content.subject) else ""
    subject, body = Forms.of(content.subject), Forms.of(content.text)
    signals = weigh("subject", rules._subject, subject, ignore)
    signals += weigh("body", rules._body, body)
    signals = _outweigh_generic(_subject_answered(signals), rules, body)
    signals += _shape(signals, body, locale)
    reading = rules.text_model.read(locale, body.ja, body.en, signals) if rules.text_model else None
    if reading:
        signals.append(Signal("model", reading.pattern, reading.weight, reading.explanation))
    signals += _outcome(rules, signals, body, locale)
    score = sum(s.weight for s in signals)
    label: Label = "rejection" if score >= rules.threshold else "other"
    if not signals:
        signals.append(Signal("body", "no rejection wording", 0))
    if label == "rejection" and rules.job_context:
        context = _job_context(rules, subject, body)
        signals.append(context or Signal("body", "no job-application context", 0))
        label = "rejection" if context else "other"
    return _verdict(label, signals, locale, score=score)


def classify(
    message: ParsedMessage | bytes, rules: ClassifierRules, sender: Sender, recipients: Sequence[str]
) -> Verdict:
    """Classify one message (parsed, or its raw bytes) sent by ``sender`` to ``recipients`` (envelope).

    Never raises: a message that cannot be read is "other", with the reason. The sender and the
    markers are looked at before any body is decoded; an attachment is never decoded.
    """
    try:
        parsed = message if isinstance(message, ParsedMessage) else ParsedMessage.parse(message)
        return _classify(parsed, rules, sender, recipients)
    except Exception as exc:  # the relay must forward whatever it cannot read
        reason = Signal("message", f"unreadable message ({type(exc).__name__})", 0)
        return Verdict("other", 0, (reason,), None, "en")
