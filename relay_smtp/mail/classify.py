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
  typical rejection wording that no phrase weighs enough, within the same safeguards.

Every phrase that fired is returned as a :class:`Signal`, in order, so a verdict can be printed as
it was reached. :func:`classify` never raises: an unreadable message is "other", with a reason.
"""

from __future__ import annotations

import codecs
import importlib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import lxml.etree
import lxml.html

from relay_smtp.mail.charsets import ascii_transparent, decode_lenient
from relay_smtp.mail.history import QUOTE_CLASSES, QUOTE_IDS, own_text
from relay_smtp.mail.message import ParsedMessage
from relay_smtp.mail.mime import MimePart, decode_encoded_words
from relay_smtp.mail.model import TextModels, default_models
from relay_smtp.mail.phrasebook import Phrase, default_tables
from relay_smtp.mail.structure import (
    OUTCOME_MIN_WEIGHT,
    SHAPE_FULL,
    SHAPE_PLAIN,
    find_shape,
    in_wish,
    quoted_example,
)

try:  # the regex parser, to find literals for a fast pre-check (private; optional)
    _SRE_PARSER: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover
    _SRE_PARSER = None

Label = Literal["rejection", "other"]
Explicit = Literal["rejection", "skip"]
Locale = Literal["ja", "en"]


@dataclass(frozen=True)
class Signal:
    """One observation that contributed to a verdict.

    ``where`` is one of subject, body, header, sender, recipient, placeholder, subject-tag, or
    message (the message could not be read). ``pattern`` is the phrase as configured (or the
    marker / gate); ``matched`` the normalised text it matched, which is what a person reads.
    Gates and explicit markers carry weight 0: they decide by themselves. A phrase that matched
    only where it does not count carries weight 0 and a ``note`` (negated, conditional, reply
    subject), so an admin sees why it was ignored; the job-context term found has note
    "job context".
    """

    where: str
    pattern: str
    weight: int
    matched: str = ""
    note: str = ""

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f'{self.where}: "{self.matched or self.pattern}"{note} {self.weight:+d}'

    def to_dict(self) -> dict[str, object]:
        return {
            "where": self.where,
            "pattern": self.pattern,
            "weight": self.weight,
            "matched": self.matched,
            "note": self.note,
        }


@dataclass(frozen=True)
class Verdict:
    """The classifier's answer for one message.

    ``score`` is the sum of the phrase weights; it is 0 when a marker or a gate decided before the
    content was weighed (``explicit`` is set for markers; a gate shows as its reason).
    """

    label: Label
    score: int
    reasons: tuple[Signal, ...]
    explicit: Explicit | None
    locale: Locale

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "score": self.score,
            "explicit": self.explicit,
            "locale": self.locale,
            "reasons": [str(s) for s in self.reasons],
            "signals": [s.to_dict() for s in self.reasons],
        }


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


# --- normalisation ----------------------------------------------------------------------------

_QUOTES = (("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"'))
_JA_CHARS = re.compile(r"[\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[a-zA-Z]")


def _nfkc(text: str) -> str:
    """NFKC (full/half width folded) and curly quotes made straight.

    Normalises only the lines that need it: NFKC of a 20 KB Japanese text costs milliseconds,
    and most lines are already normal. (No NFKC composition crosses a line break.)
    """
    if not unicodedata.is_normalized("NFKC", text):
        text = "\n".join(
            line if unicodedata.is_normalized("NFKC", line) else unicodedata.normalize("NFKC", line)
            for line in text.split("\n")
        )
    for curly, straight in _QUOTES:
        if curly in text:
            text = text.replace(curly, straight)
    return text


def _ja_form(text: str) -> str:
    # Japanese phrases match with every space, line break and comma removed: HR mail is
    # hard-wrapped mid-phrase (今後のご活躍を\nお祈り) and writes 残念ながら、今回は as often as
    # 残念ながら今回は. (NFKC has already turned the full-width comma into ",".)
    return "".join(text.lower().split()).replace("、", "").replace(",", "")


_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")


def _en_form(text: str) -> str:
    # Whitespace collapsed, since English mail is wrapped mid-sentence; but a blank line ends a
    # sentence: "No" closing one paragraph must not negate "we'd like to offer you" in the next.
    paragraphs = (" ".join(p.lower().split()) for p in _PARAGRAPH_BREAK.split(text))
    return " . ".join(p for p in paragraphs if p)


def _is_japanese(pattern: str) -> bool:
    return bool(_JA_CHARS.search(pattern))


# --- compiled rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Anchor:
    """A literal found in every match of a phrase, ``before`` characters after the match start
    (a range: the parts before it may vary in length)."""

    literal: str
    before_min: int
    before_max: int


@dataclass(frozen=True)
class _Compiled:
    phrase: Phrase
    japanese: bool
    regex: re.Pattern[str]
    # Why anchors: Python's regex engine scans every position of the text for patterns that
    # start with \b, a lookbehind or an alternation, which made a 20 KB message cost
    # milliseconds. Finding an anchor with str.find and trying the regex only where a match
    # could start is exact and fast. None: the pattern could not be analysed; scan it all.
    anchors: tuple[_Anchor, ...] | None


_MAX_ANCHOR_OFFSET = 64


def _anchors(seq: Any) -> list[_Anchor] | None:
    """Anchors for a parsed regex sequence: every match contains one of them (None: unknown)."""
    sre = _SRE_PARSER
    items = list(seq)
    best: list[_Anchor] | None = None
    i = 0
    while i < len(items):
        op, av = items[i]
        start = i
        i += 1
        candidates: list[_Anchor] | None = None
        if op is sre.LITERAL:
            while i < len(items) and items[i][0] is sre.LITERAL:
                i += 1
            literal = "".join(chr(code) for _, code in items[start:i])
            candidates = [_Anchor(literal, 0, 0)]
        elif op is sre.BRANCH:
            alternatives = [_anchors(alt) for alt in av[1]]
            if all(alternatives):
                candidates = [a for alt in alternatives if alt for a in alt]
        elif op is sre.SUBPATTERN:
            candidates = _anchors(av[-1])
        if not candidates:
            continue
        low, high = seq[:start].getwidth() if start else (0, 0)
        if high - low > _MAX_ANCHOR_OFFSET:
            continue
        shifted = [_Anchor(a.literal, a.before_min + low, a.before_max + high) for a in candidates]
        if best is None or _anchor_quality(shifted) > _anchor_quality(best):
            best = shifted
    return best


# Words in nearly every English mail make poor anchors: each occurrence costs a regex attempt.
_COMMON_WORDS = frozenset(
    "a an and are be for have if in is it not of on our the this to we will with you your".split()  # noqa: SIM905
)


def _anchor_quality(anchors: list[_Anchor]) -> int:
    """Longer literals are rarer; narrower offsets mean fewer regex attempts per occurrence."""
    shortest = min(len(a.literal) for a in anchors)
    widest = max(a.before_max - a.before_min for a in anchors)
    common = any(set(a.literal.lower().split()) <= _COMMON_WORDS for a in anchors)
    return 4 * shortest - widest - (40 if common else 0)


def _regex_anchors(regex: re.Pattern[str]) -> tuple[_Anchor, ...] | None:
    if _SRE_PARSER is None:
        return None
    try:
        found = _anchors(_SRE_PARSER.parse(regex.pattern, regex.flags))
    except Exception:  # an optimisation only: without anchors the regex scans the whole text
        return None
    if not found or any(a.before_max - a.before_min > _MAX_ANCHOR_OFFSET for a in found):
        return None
    return tuple(_Anchor(a.literal.lower(), a.before_min, a.before_max) for a in found)


def _matches(compiled: _Compiled, text: str, present: frozenset[str]) -> Iterator[re.Match[str]]:
    """Matches of the phrase in the text (each start once; order not guaranteed)."""
    if compiled.anchors is None:
        yield from compiled.regex.finditer(text)
        return
    starts: set[int] = set()
    for anchor in compiled.anchors:
        if anchor.literal not in present:
            continue
        pos = text.find(anchor.literal)
        while pos >= 0:
            first = max(0, pos - anchor.before_max)
            for start in range(first, pos - anchor.before_min + 1):
                if start not in starts:
                    starts.add(start)
                    match = compiled.regex.match(text, start)
                    if match:
                        yield match
            pos = text.find(anchor.literal, pos + 1)


@dataclass(frozen=True, eq=False)
class _PhraseSet:
    """Compiled phrases, indexed by their anchor literals: a message is checked against the
    literal lists once, and only phrases whose literal occurs are tried."""

    phrases: tuple[_Compiled, ...]
    ja_literals: frozenset[str]
    en_literals: frozenset[str]
    by_literal: dict[tuple[bool, str], tuple[int, ...]]  # (japanese, literal) -> phrase indexes
    unanchored: frozenset[int]  # phrases that always run their regex

    @classmethod
    def build(cls, phrases: tuple[Phrase, ...]) -> _PhraseSet:
        compiled = tuple(map(_compile_phrase, phrases))
        index: dict[tuple[bool, str], list[int]] = {}
        unanchored = set()
        for i, c in enumerate(compiled):
            if c.anchors is None:
                unanchored.add(i)
            for a in c.anchors or ():
                index.setdefault((c.japanese, a.literal), []).append(i)
        ja = frozenset(lit for japanese, lit in index if japanese)
        en = frozenset(lit for japanese, lit in index if not japanese)
        by_literal = {key: tuple(value) for key, value in index.items()}
        return cls(compiled, ja, en, by_literal, frozenset(unanchored))

    def candidates(self, ja_present: frozenset[str], en_present: frozenset[str]) -> list[int]:
        """Indexes of the phrases that may match, in phrase order."""
        found = set(self.unanchored)
        for japanese, present in ((True, ja_present), (False, en_present)):
            for literal in present:
                found.update(self.by_literal[(japanese, literal)])
        return sorted(found)


def _present(literals: frozenset[str], text: str, by_chars: bool) -> frozenset[str]:
    """The literals that occur in the text: one pass over the literal list per message is most
    of the cost of weighing, so it runs as C-level filters. ``by_chars`` first drops literals
    with a character the text lacks: for Japanese (見積, 融資) that skips most scans."""
    candidates: Iterable[str] = literals
    if by_chars:
        candidates = filter(frozenset(text).issuperset, candidates)
    return frozenset(filter(text.__contains__, candidates))


def _compile_phrase(phrase: Phrase) -> _Compiled:
    pattern = phrase.pattern
    if pattern.startswith("re:"):
        source = pattern[3:]
        try:
            regex = re.compile(source, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"phrase {pattern!r}: bad regular expression: {exc}") from exc
        return _Compiled(phrase, _is_japanese(source), regex, _regex_anchors(regex))
    normal = _nfkc(pattern)
    if not normal.strip():
        raise ValueError(f"phrase {pattern!r} is empty")
    if _is_japanese(normal):
        regex = re.compile(re.escape(_ja_form(normal)))
        return _Compiled(phrase, True, regex, _regex_anchors(regex))
    needle = _en_form(normal)
    # English literals match whole words: "bid" must not fire inside "forbidden".
    left = r"(?<!\w)" if needle[0].isalnum() else ""
    right = r"(?!\w)" if needle[-1].isalnum() else ""
    regex = re.compile(left + re.escape(needle) + right)
    return _Compiled(phrase, False, regex, _regex_anchors(regex))


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
    # The learned signal (mail/model.py); None: the phrase rules alone.
    text_model: TextModels | None = field(default_factory=default_models, repr=False, compare=False)
    _subject: _PhraseSet = field(init=False, repr=False, compare=False)
    _body: _PhraseSet = field(init=False, repr=False, compare=False)
    _context: _PhraseSet = field(init=False, repr=False, compare=False)
    _application: _PhraseSet = field(init=False, repr=False, compare=False)
    _other_kinds: _PhraseSet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.header_name.strip():
            raise ValueError("header_name must not be empty")
        object.__setattr__(self, "_subject", _PhraseSet.build(self.subject_phrases))
        object.__setattr__(self, "_body", _PhraseSet.build(self.body_phrases))
        context = tuple(Phrase(p, 0, check_context=False) for p in self.job_context)
        object.__setattr__(self, "_context", _PhraseSet.build(context))
        for name, patterns in (
            ("_application", self.application_context),
            ("_other_kinds", self.other_kinds),
        ):
            topic = tuple(Phrase(p, 0, check_context=False) for p in patterns)
            object.__setattr__(self, name, _PhraseSet.build(topic))

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


# --- reading the message ----------------------------------------------------------------------
# Everything below reads from a ParsedMessage (parsed once by the pipeline): header values and the
# decoded text of the leaves the sender wrote. Bodies are decoded only when a step needs them.


def _header_text(value: str) -> str:
    """A header value as text: raw 8-bit bytes and RFC 2047 words decoded, folding undone."""
    value = re.sub(r"\r?\n(?=[ \t])", "", value)
    if not value.isascii():
        # Raw 8-bit header bytes are kept as surrogate escapes.
        value = decode_lenient(value.encode("ascii", "surrogateescape"), None)
    if "=?" not in value:
        return value
    return decode_encoded_words(value, decode_lenient)


def _headers(message: ParsedMessage, name: str) -> list[str]:
    """Every value of the top-level fields called ``name``, decoded (leading blanks and the final
    line break removed, as Python's email parser reads them)."""
    return [
        _header_text(value.decode("ascii", "surrogateescape").lstrip(" \t").rstrip("\r\n"))
        for value in message.raw_values(name)
    ]


def _is_attachment(message: ParsedMessage, part: MimePart) -> bool:
    disposition = (message.header("Content-Disposition", part) or "").lower()
    return disposition.startswith("attachment") or part.filename is not None or "name" in part.params


def _text_leaves(message: ParsedMessage, part: MimePart | None = None) -> Iterator[MimePart]:
    """text/plain and text/html leaves that belong to this message: attachments and attached
    messages (message/rfc822) are someone else's words."""
    part = part or message.root
    if part.content_type.startswith("message/"):
        return
    if part.children:
        for child in part.children:
            yield from _text_leaves(message, child)
        return
    if part.content_type in ("text/plain", "text/html") and not _is_attachment(message, part):
        yield part


def _may_hold_placeholder(message: ParsedMessage, placeholder: str) -> bool:
    """Without decoding any charset: can a text leaf hold the placeholder?

    Where ASCII is written as ASCII (every charset Japanese and Western mail uses), the placeholder
    in the text means its octets in the transfer-decoded body; only UTF-16/32, UTF-7 and the like
    need the full decode.
    """
    if not placeholder:
        return False
    if not placeholder.isascii():
        return True
    needle = placeholder.encode("ascii")
    for part in _text_leaves(message):
        if needle in message.decoded(part):
            return True
        charset = (part.charset or "").strip().strip('"')
        try:
            codec = codecs.lookup(charset).name if charset else "ascii"
        except LookupError:
            continue  # read with the fallbacks, which are all ASCII-transparent
        if not ascii_transparent(codec):
            return True
    return False


_BLOCK_TAGS = ("p", "div", "br", "tr", "li", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr")
_HIDDEN_TAGS = ("style", "script", "head", "title", "noscript", "template", "blockquote")
_QUOTE_CLASSES = frozenset(QUOTE_CLASSES)
_QUOTE_IDS = frozenset(QUOTE_IDS)


def _html_text(markup: str) -> str:
    """The visible text of an HTML body, without quoted history, one line per block.

    lxml is used directly rather than through BeautifulSoup: it is the same parser, and a 35 KB
    HTML-only message takes 0.9 ms instead of 26 ms; the classifier runs on every message.
    """
    parser = lxml.html.HTMLParser(encoding="utf-8")  # parsers are not shared between threads
    try:
        doc = lxml.html.document_fromstring(markup.encode("utf-8", "replace"), parser=parser)
    except (lxml.etree.LxmlError, ValueError):  # empty or unparseable: no visible text
        return ""
    for element in list(doc.iter(*_HIDDEN_TAGS)):  # <blockquote> is quoted history
        element.drop_tree()
    for element in list(doc.iter(lxml.etree.Element)):
        classes = set((element.get("class") or "").split())
        if classes & _QUOTE_CLASSES:
            element.drop_tree()
        elif element.get("id") in _QUOTE_IDS:
            # Outlook puts the quoted message after this marker, as its siblings.
            for sibling in list(element.itersiblings()):
                sibling.drop_tree()
            element.drop_tree()
    for element in doc.iter(*_BLOCK_TAGS):  # a block ends a paragraph, <br> only a line
        element.tail = ("\n" if element.tag == "br" else "\n\n") + (element.tail or "")
    return str(doc.text_content())


@dataclass(frozen=True)
class _Content:
    subject: str  # normalised
    text: str  # normalised own visible text
    has_placeholder: bool


_MAX_TEXT = 200_000  # characters of own text weighed; rejection wording comes early


def _read(message: ParsedMessage, placeholder: str) -> _Content:
    subject = _nfkc(" ".join(_headers(message, "Subject")))
    plain: list[str] = []
    html: list[str] = []
    has_placeholder = False
    for part in _text_leaves(message):
        text = message.text(part)
        has_placeholder = has_placeholder or (bool(placeholder) and placeholder in text)
        (plain if part.content_type == "text/plain" else html).append(text)
    # text/plain is what the sender wrote; HTML is used only when there is no plain part.
    texts = plain or [_html_text(markup) for markup in html]
    own = "\n".join(own_text(_nfkc(t[: 2 * _MAX_TEXT])) for t in texts)
    return _Content(subject, own[:_MAX_TEXT], has_placeholder)


def _locale(subject: str, text: str = "") -> Locale:
    sample = subject + "\n" + text[:4000]
    ja = len(_JA_CHARS.findall(sample))
    latin = len(_LATIN.findall(sample))
    # One kana/kanji carries about as much as a short English word: a fifth is a real share.
    return "ja" if ja and ja * 5 >= ja + latin else "en"


# --- context checks ---------------------------------------------------------------------------

_JA_SENTENCE_END = re.compile(r"[。!?]")
_JA_NEGATION = re.compile(
    r"ません(?!か|でしょうか)|できず|できな|できかね|いたしかね|致しかね|かねます|かねる"
    r"|見送|見合わせ|叶わ|至ら|至りませ|難し|控え|ないこと|ない結果|ないもの|ならず|されず|せず"
    r"|なかった|ていない"
)
# Polite set phrases that end in a negative form but negate nothing.
_JA_NOT_NEGATION = re.compile(
    r"構いません|かまいません|差し支えありません|問題ありません|申し訳(?:ございません|ありません)"
)
_JA_OTHER_PERSON = re.compile(r"(?:他の|別の|ほかの)(?:候補者|応募者|方)")
# Also an outcome denied rather than stated: 不採用が決まったわけではございません (a status delay).
_JA_CONDITION_AFTER = re.compile(r"場合|際は|際には|ときは|時は|可能性|わけでは(?:な|ござ|あり)")
_JA_CONDITION_BEFORE = re.compile(r"もし|万が一|万一")

_EN_SENTENCE_END = re.compile(r"[.!?;]")
# "unsuccessful in progressing to the next stage" negates the stage as "not" would
_EN_NEGATION = re.compile(r"\b(?:not|no|never|cannot|unable|nor|unsuccessful)\b|n't\b")
_EN_NOT_NEGATION = re.compile(
    r"\b(?:do not|don't|please do not) hesitate\b|\bnot only\b|\bno later than\b|\bno matter\b"
)
_EN_OTHER_PERSON = re.compile(r"^\W*(?:to|with|for) (?:another|other|a different|someone)\b")
# Also an outcome denied rather than stated: "this doesn't mean we have decided not to proceed".
_EN_CONDITION = re.compile(
    r"\b(?:if|unless|should you|in case|in the event|assume|whether)\b"
    r"|\b(?:does not|doesn't|did not|didn't) mean\b"
)


def _ja_after(text: str, end: int, limit: int) -> str:
    window = text[end : end + limit]
    stop = _JA_SENTENCE_END.search(window)
    return window[: stop.start()] if stop else window


def _en_before(text: str, start: int) -> str:
    """The same sentence up to the match (at most 200 characters)."""
    head = text[max(0, start - 200) : start]
    cuts = [m.end() for m in _EN_SENTENCE_END.finditer(head)]
    return head[cuts[-1] :] if cuts else head


def _negated(compiled: _Compiled, text: str, start: int, end: int) -> bool:
    if compiled.japanese:
        after = _JA_NOT_NEGATION.sub("", _ja_after(text, end, 40))
        before = text[max(0, start - 15) : start]
        return bool(_JA_NEGATION.search(after) or _JA_OTHER_PERSON.search(before))
    before_words = " ".join(_en_before(text, start).split()[-8:])
    before_words = _EN_NOT_NEGATION.sub("", before_words)
    after = text[end : end + 60]
    return bool(_EN_NEGATION.search(before_words) or _EN_OTHER_PERSON.search(after))


# An outcome only not yet given ("you have not been selected yet", "we can't extend an offer until
# the references are back", まだ次の選考のご案内ができません, 確定次第) is a delay, not an outcome: for a
# rejection phrase as for a negated offer. "at this time" and 現時点では are how rejections speak, and
# do not count as a delay.
_EN_DELAY_AFTER = re.compile(r"\b(?:yet|until|till|pending)\b")
_EN_DELAY_BEFORE = re.compile(r"\b(?:not yet|yet to)\b")
_JA_DELAY_BEFORE = re.compile(r"まだ|未だ|今しばらく")
_JA_DELAY_AFTER = re.compile(r"次第|までは|今しばらく|追って")


def _delayed(compiled: _Compiled, text: str, start: int, end: int) -> bool:
    if compiled.japanese:
        before = text[max(0, start - 15) : start]
        return bool(_JA_DELAY_BEFORE.search(before) or _JA_DELAY_AFTER.search(_ja_after(text, end, 40)))
    after = text[end : end + 80]
    stop = _EN_SENTENCE_END.search(after)
    after = after[: stop.start()] if stop else after
    return bool(_EN_DELAY_AFTER.search(after) or _EN_DELAY_BEFORE.search(_en_before(text, start)))


# What a Japanese negation close after the phrase may be about instead: 内定に影響はございません
# negates the effect, not the offer.
_JA_OTHER_SUBJECT = re.compile(r"影響|関係|問題|支障|変わり|変更|心配|ご不安")


def _negated_outcome(compiled: _Compiled, text: str, start: int, end: int) -> bool:
    """Whether a negated phrase states an outcome: the negation governs the phrase itself (in
    Japanese it follows within the clause, about nothing else), and no condition or delay is said."""
    if compiled.japanese:
        after = _JA_NOT_NEGATION.sub("", _ja_after(text, end, 20))
        negation = _JA_NEGATION.search(after)
        if negation is None or _JA_OTHER_SUBJECT.search(after[: negation.start()]):
            return False
    return not (
        _conditional(compiled, text, start, end)
        or _delayed(compiled, text, start, end)
        or quoted_example(text, start, end, compiled.japanese)
    )


def _conditional(compiled: _Compiled, text: str, start: int, end: int) -> bool:
    if compiled.japanese:
        before = text[max(0, start - 10) : start]
        return bool(
            _JA_CONDITION_AFTER.search(_ja_after(text, end, 12)) or _JA_CONDITION_BEFORE.search(before)
        )
    return bool(_EN_CONDITION.search(_en_before(text, start)))


# --- weighing ---------------------------------------------------------------------------------


NEGATED_OUTCOME = "negated: an outcome"
QUOTED_EXAMPLE = "quoted example in mail about rejection mail"


def _find(compiled: _Compiled, text: str, present: frozenset[str]) -> tuple[str, str, int]:
    """(matched text, note, weight): the text the phrase counts for, with no note and the phrase's
    weight; or, when it matched only where it does not count, that text, why, and 0; a negated
    phrase with a ``negated`` weight counts that weight, noted (the first such match wins over
    ignored ones); ("", "", 0) when it did not match."""
    phrase = compiled.phrase
    ignored = ("", "", 0)
    for n, match in enumerate(_matches(compiled, text, present)):
        if n >= 20:
            break
        start, end = match.span()
        if not phrase.check_context:
            return match.group(), "", phrase.weight
        if phrase.weight < 0 and in_wish(text, start, end, compiled.japanese):
            ignored = (match.group(), "in a wish for the reader's future", 0)
        elif phrase.weight < 0 and _negated(compiled, text, start, end):
            if phrase.negated and _negated_outcome(compiled, text, start, end):
                return match.group(), NEGATED_OUTCOME, phrase.negated
            ignored = (match.group(), "negated", 0)
        elif phrase.weight > 0 and _conditional(compiled, text, start, end):
            ignored = (match.group(), "conditional", 0)
        elif phrase.weight > 0 and _delayed(compiled, text, start, end):
            ignored = (match.group(), "delayed", 0)
        elif phrase.weight > 0 and quoted_example(text, start, end, compiled.japanese):
            ignored = (match.group(), QUOTED_EXAMPLE, 0)
        else:
            return match.group(), "", phrase.weight
    return ignored


@dataclass(frozen=True)
class _Forms:
    """A text as the phrases see it: Japanese form (no spaces) and English form."""

    ja: str
    en: str

    @classmethod
    def of(cls, text: str) -> _Forms:
        return cls(_ja_form(text), _en_form(text))


def _weigh(where: str, phrases: _PhraseSet, forms: _Forms, ignore: str = "") -> list[Signal]:
    """A signal for every phrase that matched the text (with weight 0 where it does not count;
    ``ignore`` names why none counts here)."""
    ja_text, en_text = forms.ja, forms.en
    ja_present = _present(phrases.ja_literals, ja_text, by_chars=True)
    en_present = _present(phrases.en_literals, en_text, by_chars=False)
    signals = []
    for i in phrases.candidates(ja_present, en_present):
        compiled = phrases.phrases[i]
        text, present = (ja_text, ja_present) if compiled.japanese else (en_text, en_present)
        matched, note, weight = _find(compiled, text, present)
        if not matched:
            continue
        pattern = compiled.phrase.pattern
        if ignore:
            signals.append(Signal(where, pattern, 0, matched, ignore))
        elif note:
            signals.append(Signal(where, pattern, weight, matched, note))
        else:
            own = "company phrase" if compiled.phrase.source == "company" else ""
            signals.append(Signal(where, pattern, weight, matched, own))
    return _said_once(signals)


_SAME_STATEMENT = frozenset({"conditional", "delayed", QUOTED_EXAMPLE})


def _said_once(signals: list[Signal]) -> list[Signal]:
    """A negated offer or next stage inside words a rejection phrase already weighed adds nothing:
    応募書類に不備があり次の選考に進めることができません is one statement, weighed once (and a
    statement ignored as conditional, delayed or quoted stays ignored)."""
    counted = [s.matched for s in signals if (s.weight > 0 and not s.note) or s.note in _SAME_STATEMENT]
    return [
        replace(s, weight=0, note="negated")
        if s.note == NEGATED_OUTCOME and any(s.matched in c for c in counted)
        else s
        for s in signals
    ]


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
        self.subject = _nfkc(" ".join(_headers(message, "Subject")))
        self._content: _Content | None = None

    def content(self) -> _Content:
        if self._content is None:
            self._content = _read(self.message, self.placeholder)
        return self._content

    def locale(self) -> Locale:
        """From the subject and the text: for verdicts that use it (the block's language)."""
        content = self.content()
        return _locale(content.subject, content.text)

    def subject_locale(self) -> Locale:
        """From the subject alone: for "other" verdicts decided before any body was read."""
        return _locale(self.subject)


def _explicit(message: ParsedMessage, reader: _Reader, rules: ClassifierRules) -> Verdict | None:
    values = [v.strip().split(";")[0].strip().lower() for v in _headers(message, rules.header_name)]
    name = rules.header_name
    if "injected" in values:
        return _verdict("other", [Signal("header", "already injected", 0)], reader.subject_locale(), "skip")
    if "skip" in values:
        return _verdict("other", [Signal("header", f"{name}: skip", 0)], reader.subject_locale(), "skip")
    if "rejection" in values:
        mark = Signal("header", f"{name}: rejection", 0)
        return _verdict("rejection", [mark], reader.locale(), "rejection")
    subject = " ".join(_headers(message, "Subject"))
    if rules.subject_tag and rules.subject_tag in subject:
        tag = Signal("subject-tag", rules.subject_tag, 0)
        return _verdict("rejection", [tag], reader.locale(), "rejection")
    if _may_hold_placeholder(message, rules.placeholder) and reader.content().has_placeholder:
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


def _job_context(rules: ClassifierRules, subject: _Forms, body: _Forms) -> Signal | None:
    """The job word that lets a rejection through the gate; or else an application that is not
    named as any other kind (a loan, a flat, a scholarship ...): a recruiting sender's mail about
    "your application" (ご応募) with no other kind in sight is about a job."""
    for where, forms in (("subject", subject), ("body", body)):
        for found in _weigh(where, rules._context, forms):
            return Signal(where, found.pattern, 0, found.matched, "job context")
    sides = (("subject", subject), ("body", body))
    if not rules.application_context or any(_weigh(w, rules._other_kinds, f) for w, f in sides):
        return None
    for where, forms in sides:
        for found in _weigh(where, rules._application, forms):
            return Signal(
                where, found.pattern, 0, found.matched, "job context: an application, no other kind named"
            )
    return None


# An outcome stated about the application: a body phrase of this weight or more.
STATES_OUTCOME = 4


def _outweigh_generic(signals: list[Signal], rules: ClassifierRules, body: _Forms) -> list[Signal]:
    """A generic request, step or topic word ("get back to you", a "next steps" subject, "onboarding",
    ご推薦) does not count against an outcome the body states about the application (round 9: "Just
    wanted to get back to you ... The team went with another candidate"; round 12: "we will not be
    progressing your application ... As a next step, a short survey").

    Except where it is part of an action addressed to the reader in this mail: a body sentence that
    holds it also holds a counted phrase that is not generic (an invitation, an offer, a request):
    "we would like to invite you to the next stage for the Analyst role" keeps its next stage."""
    if not any(s.where == "body" and s.weight >= STATES_OUTCOME for s in signals):
        return signals
    generic = {c.phrase.pattern for c in rules._subject.phrases + rules._body.phrases if c.phrase.generic}
    actions = [s.matched for s in signals if s.where == "body" and s.weight < 0 and s.pattern not in generic]
    note = "generic request, outweighed by an outcome statement"
    out = []
    for s in signals:
        if (
            s.weight < 0
            and s.pattern in generic
            and not (s.where == "body" and _beside(s.matched, actions, body))
        ):
            s = replace(s, weight=0, note=note)
        out.append(s)
    return out


def _beside(matched: str, others: list[str], body: _Forms) -> bool:
    """Whether a sentence of the body that holds ``matched`` also holds one of ``others``."""
    if not others:
        return False
    japanese = _is_japanese(matched)
    text, ends = (body.ja, _JA_SENTENCE_END) if japanese else (body.en, _EN_SENTENCE_END)
    for sentence in ends.split(text):
        if matched in sentence and any(o and o != matched and o in sentence for o in others):
            return True
    return False


def _shape(signals: list[Signal], body: _Forms, locale: Locale) -> list[Signal]:
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
    subject, body = _Forms.of(content.subject), _Forms.of(content.text)
    signals = _weigh("subject", rules._subject, subject, ignore)
    signals += _weigh("body", rules._body, body)
    signals = _outweigh_generic(signals, rules, body)
    signals += _shape(signals, body, locale)
    reading = rules.text_model.read(locale, body.ja, body.en, signals) if rules.text_model else None
    if reading:
        signals.append(Signal("model", reading.pattern, reading.weight, reading.explanation))
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
