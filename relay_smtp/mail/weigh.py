"""Weighing a text against a phrase set: which phrases matched, and where they do not count.

Why this module exists: a phrase that matched is not always meant. A "something else" phrase
(an offer, a next step) is ignored where the text negates it or where it stands in a wish for the
reader's future; a rejection phrase is ignored inside a condition ("if you are not selected",
「不採用の場合」) and as a quoted example in mail about rejection mail. Each ignored match is kept
with its reason, for the explanation of a verdict.
"""

from __future__ import annotations

import re

from relay_smtp.mail.phrase_compile import Compiled
from relay_smtp.mail.phrase_index import Forms, PhraseSet, TextScan, matches
from relay_smtp.mail.structure import in_wish, quoted_example
from relay_smtp.mail.verdict import Signal

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
_JA_CONDITION_AFTER = re.compile(r"場合|際は|際には|ときは|時は|可能性")
_JA_CONDITION_BEFORE = re.compile(r"もし|万が一|万一")

_EN_SENTENCE_END = re.compile(r"[.!?;]")
# "unsuccessful in progressing to the next stage" negates the stage as "not" would
_EN_NEGATION = re.compile(r"\b(?:not|no|never|cannot|unable|nor|unsuccessful)\b|n't\b")
_EN_NOT_NEGATION = re.compile(
    r"\b(?:do not|don't|please do not) hesitate\b|\bnot only\b|\bno later than\b|\bno matter\b"
)
_EN_OTHER_PERSON = re.compile(r"^\W*(?:to|with|for) (?:another|other|a different|someone)\b")
_EN_CONDITION = re.compile(r"\b(?:if|unless|should you|in case|in the event|assume|whether)\b")


def _ja_after(text: str, end: int, limit: int) -> str:
    window = text[end : end + limit]
    stop = _JA_SENTENCE_END.search(window)
    return window[: stop.start()] if stop else window


def _en_before(text: str, start: int) -> str:
    """The same sentence up to the match (at most 200 characters)."""
    head = text[max(0, start - 200) : start]
    cuts = [m.end() for m in _EN_SENTENCE_END.finditer(head)]
    return head[cuts[-1] :] if cuts else head


def _negated(compiled: Compiled, text: str, start: int, end: int) -> bool:
    if compiled.japanese:
        after = _JA_NOT_NEGATION.sub("", _ja_after(text, end, 40))
        before = text[max(0, start - 15) : start]
        return bool(_JA_NEGATION.search(after) or _JA_OTHER_PERSON.search(before))
    before_words = " ".join(_en_before(text, start).split()[-8:])
    before_words = _EN_NOT_NEGATION.sub("", before_words)
    after = text[end : end + 60]
    return bool(_EN_NEGATION.search(before_words) or _EN_OTHER_PERSON.search(after))


def _conditional(compiled: Compiled, text: str, start: int, end: int) -> bool:
    if compiled.japanese:
        before = text[max(0, start - 10) : start]
        return bool(
            _JA_CONDITION_AFTER.search(_ja_after(text, end, 12)) or _JA_CONDITION_BEFORE.search(before)
        )
    return bool(_EN_CONDITION.search(_en_before(text, start)))


def _find(compiled: Compiled, scan: TextScan, present: frozenset[str]) -> tuple[str, str]:
    """(matched text, note): the text the phrase counts for with no note; or, when it matched
    only where it does not count, that text and why; ("", "") when it did not match."""
    phrase, text = compiled.phrase, scan.text
    ignored = ("", "")
    for n, match in enumerate(matches(compiled, scan, present)):
        if n >= 20:
            break
        start, end = match.span()
        if not phrase.check_context:
            return match.group(), ""
        if phrase.weight < 0 and in_wish(text, start, end, compiled.japanese):
            ignored = (match.group(), "in a wish for the reader's future")
        elif phrase.weight < 0 and _negated(compiled, text, start, end):
            ignored = (match.group(), "negated")
        elif phrase.weight > 0 and _conditional(compiled, text, start, end):
            ignored = (match.group(), "conditional")
        elif phrase.weight > 0 and quoted_example(text, start, end, compiled.japanese):
            ignored = (match.group(), "quoted example in mail about rejection mail")
        else:
            return match.group(), ""
    return ignored


def weigh(
    where: str, phrases: PhraseSet, forms: Forms, ignore: str = "", first: bool = False
) -> list[Signal]:
    """A signal for every phrase that matched the text (with weight 0 where it does not count;
    ``ignore`` names why none counts here); with ``first``, only the first such signal."""
    signals = []
    for compiled, scan, present in phrases.candidates(forms):
        matched, note = _find(compiled, scan, present)
        if not matched:
            continue
        pattern, weight = compiled.phrase.pattern, compiled.phrase.weight
        if note or ignore:
            signals.append(Signal(where, pattern, 0, matched, note or ignore))
        else:
            own = "company phrase" if compiled.phrase.source == "company" else ""
            signals.append(Signal(where, pattern, weight, matched, own))
        if first:
            break
    return signals
