"""Weighing a text against a phrase set: which phrases matched, and where they do not count.

Why this module exists: a phrase that matched is not always meant. A "something else" phrase
(an offer, a next step) is ignored where the text negates it or where it stands in a wish for the
reader's future; a rejection phrase is ignored inside a condition ("if you are not selected",
「不採用の場合」), where the outcome is only delayed ("not selected yet", 確定次第) and as a quoted
example in mail about rejection mail. Each ignored match is kept with its reason, for the
explanation of a verdict. A negated offer or next stage may itself state the outcome ("we are
unable to extend an offer"): such a phrase carries a ``negated`` weight, counted once per statement.
"""

from __future__ import annotations

import re
from dataclasses import replace

from relay_smtp.mail.phrase_compile import Compiled
from relay_smtp.mail.phrase_index import Forms, PhraseSet, TextScan, matches
from relay_smtp.mail.sentences import EN_SENTENCE_END, JA_SENTENCE_END
from relay_smtp.mail.structure import in_wish, quoted_example
from relay_smtp.mail.textform import is_japanese
from relay_smtp.mail.verdict import Signal

_JA_NEGATION = re.compile(
    r"ません(?!か|でしょうか)|できず|できな|できかね|いたしかね|致しかね|かねます|かねる"
    r"|見送|見合わせ|叶わ|至ら|至りませ|難し|控え|ないこと|ない結果|ないもの|ならず|されず|せず"
    r"|なかった|ていない|ない(?:という|との|と)?(?:判断|結論|決定|方針)"
    r"|ではなく|ではない"  # 選考辞退ではなく、当社からのご連絡です: not a withdrawal
)
# A plan called off (round 14): 二次面接の日程調整をお願いしておりましたが、取り消しとなります,
# 日程調整はなしとさせてください. It is not this mail's next step, but it states no outcome either
# (内定式の日程は取り消し is a ceremony moved): it sets a cue aside and never counts as a negated offer.
_JA_CALLED_OFF = re.compile(r"取り消し|取消し|取りやめ|取り止め|(?:は|も)なし(?:と|で|に)")
# Polite set phrases that end in a negative form but negate nothing.
_JA_NOT_NEGATION = re.compile(
    r"構いません|かまいません|差し支えありません|問題ありません|申し訳(?:ございません|ありません)"
)
_JA_OTHER_PERSON = re.compile(r"(?:他の|別の|ほかの)(?:候補者|応募者|方)")
# Also an outcome denied rather than stated: 不採用が決まったわけではございません (a status delay).
_JA_CONDITION_AFTER = re.compile(r"場合|際は|際には|ときは|時は|可能性|わけでは(?:な|ござ|あり)")
_JA_CONDITION_BEFORE = re.compile(r"もし|万が一|万一")
# A condition clause earlier in the same sentence: 2週間以上ご連絡がない場合は、今回はご縁がなかったものと
# (silence said to mean no; the Japanese puts the "if" before the outcome, where English has "if" too)
_JA_CONDITION_CLAUSE = re.compile(r"(?:場合|際|とき|時)(?:に)?は|(?:なけれ|無けれ|なかった)ば|なかったら")

# "unsuccessful in progressing to the next stage" negates the stage as "not" would; so does a plan
# that did not happen ("we had hoped to extend an offer", "we had planned to interview you")
_EN_NEGATION = re.compile(
    r"\b(?:not|no|never|cannot|unable|nor|unsuccessful)\b|n't\b"
    r"|\b(?:had|'d) (?:hoped|planned|intended|meant|expected|wanted) to\b"
)
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
    stop = JA_SENTENCE_END.search(window)
    return window[: stop.start()] if stop else window


def _en_before(text: str, start: int) -> str:
    """The same sentence up to the match (at most 200 characters)."""
    head = text[max(0, start - 200) : start]
    cuts = [m.end() for m in EN_SENTENCE_END.finditer(head)]
    return head[cuts[-1] :] if cuts else head


def _negated(compiled: Compiled, text: str, start: int, end: int) -> bool:
    if compiled.japanese:
        after = _JA_NOT_NEGATION.sub("", _ja_after(text, end, 40))
        before = text[max(0, start - 15) : start]
        return bool(
            _JA_NEGATION.search(after) or _JA_CALLED_OFF.search(after) or _JA_OTHER_PERSON.search(before)
        )
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
# A "yet" in a clause of its own is about something else: "we went with someone with more experience
# because we don't have a dedicated SRE yet" (round 14); the delay must be said of the outcome.
_EN_CLAUSE = re.compile(r"\b(?:because|since|who|which|where|while)\b")
_JA_DELAY_BEFORE = re.compile(r"まだ|未だ|今しばらく")
_JA_DELAY_AFTER = re.compile(r"次第|までは|今しばらく|追って")


def _delayed(compiled: Compiled, text: str, start: int, end: int) -> bool:
    if compiled.japanese:
        before = text[max(0, start - 15) : start]
        return bool(_JA_DELAY_BEFORE.search(before) or _JA_DELAY_AFTER.search(_ja_after(text, end, 40)))
    after = text[end : end + 80]
    stops = [m.start() for m in (EN_SENTENCE_END.search(after), _EN_CLAUSE.search(after)) if m]
    after = after[: min(stops)] if stops else after
    return bool(_EN_DELAY_AFTER.search(after) or _EN_DELAY_BEFORE.search(_en_before(text, start)))


# What a Japanese negation close after the phrase may be about instead: 内定に影響はございません
# negates the effect, not the offer.
_JA_OTHER_SUBJECT = re.compile(r"影響|関係|問題|支障|変わり|変更|心配|ご不安")


def _negated_outcome(compiled: Compiled, text: str, start: int, end: int) -> bool:
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


def _conditional(compiled: Compiled, text: str, start: int, end: int) -> bool:
    if compiled.japanese:
        before = text[max(0, start - 10) : start]
        clause = JA_SENTENCE_END.split(text[max(0, start - 40) : start])[-1]
        return bool(
            _JA_CONDITION_AFTER.search(_ja_after(text, end, 12))
            or _JA_CONDITION_BEFORE.search(before)
            or _JA_CONDITION_CLAUSE.search(clause)
        )
    return bool(_EN_CONDITION.search(_en_before(text, start)))


def sentence_set_aside(sentence: str, japanese: bool) -> str:
    """Why a whole sentence does not state this mail's outcome ("conditional", "delayed"; "" when
    neither): the checks a rejection phrase gets, with the sentence as the phrase. A reading of the
    whole sentence (``outcome_model``) has no phrase to look around, so a condition, a denial or a
    delay anywhere in the sentence sets it aside, and so does a "yet" in a clause of its own."""
    if japanese:
        if _JA_CONDITION_BEFORE.search(sentence) or _JA_CONDITION_AFTER.search(sentence):
            return "conditional"
        if _JA_DELAY_BEFORE.search(sentence) or _JA_DELAY_AFTER.search(sentence):
            return "delayed"
        return ""
    if _EN_CONDITION.search(sentence):
        return "conditional"
    if _EN_DELAY_AFTER.search(sentence) or _EN_DELAY_BEFORE.search(sentence):
        return "delayed"
    return ""


# A "something else" event named only as a possibility is not this mail's event: 他社の選考状況次第で
# 辞退するかもしれない (what the reader once said might happen).
_JA_POSSIBLE = re.compile(r"かもしれ|可能性|恐れ|おそれ")


def _possible(compiled: Compiled, text: str, end: int) -> bool:
    if compiled.japanese:
        return bool(_JA_POSSIBLE.search(_ja_after(text, end, 16)))
    return False


# A stage the reader took part in, said as thanks, is not this mail's invitation ("Thank you for your
# time on the phone screen yesterday", "thanks for attending the information session", "after the
# phone screen, ..."); the
# Japanese twin (最終選考にお進みいただき、ありがとう) is in the phrase data. Thanks for confirming,
# accepting or scheduling something is not taking part. Offers and invitations (weight -8 and
# stronger) are this mail's own action wherever they stand.
STRONG_CUE = -8
_EN_TOOK_PART = re.compile(
    r"\bthank(?:s| you)(?: (?:so|very) much)? for\b[^.]{0,60}?\b(?:on|at|during|attending|joining"
    r"|completing|taking part in|coming (?:in|to)|participating in|doing)\b"
    r"|\b(?:after|following) (?:the |your |our )?(?:[\w'-]+ )?$"
)


def _took_part(compiled: Compiled, text: str, start: int) -> bool:
    return not compiled.japanese and bool(_EN_TOOK_PART.search(_en_before(text, start)))


# A topic named only to be denied is not this mail's topic (round 14): 入札結果ではなく、採用の件です.
_JA_DENIED = re.compile(r"[^、。]{0,4}?では(?:なく|ない|ありませ|ございませ)")


def _denied(compiled: Compiled, text: str, end: int) -> bool:
    return compiled.japanese and bool(_JA_DENIED.match(text, end))


# A request made only under a condition about the reader's circumstances is not this mail's request
# (round 15): "once you have obtained your guard card, please submit a new application", "if your
# licence has been renewed, please reply with a copy", 採用が再開された際に…ご返信ください. It asks for
# nothing now, which is how a rejection speaks. A condition of the reader's wish or interest ("if
# you are interested, please reply", ご興味があればご返信ください) is how an invitation asks, and counts.
_EN_REQUEST = re.compile(r"^(?:please|kindly|could you|can you|would you)\b")
_EN_REQUEST_CONDITION = re.compile(
    r"\b(?:if|once|unless|should you|in case|in the event|as soon as|when you|when your)\b"
)
_EN_WISH_CONDITION = re.compile(
    r"\b(?:interested|would like|'d like|wish|want|keen|happy to|available|free|still|prefer)\b"
)
_JA_REQUEST = re.compile(r"ください|お願い|いただけ|頂け")
_JA_REQUEST_CONDITION = re.compile(r"場合|際(?:に|は|には)|たら|れば|次第")
_JA_WISH_CONDITION = re.compile(r"興味|関心|希望|ご検討")


def _conditional_request(compiled: Compiled, text: str, start: int, matched: str) -> bool:
    if compiled.japanese:
        if not _JA_REQUEST.search(matched):
            return False
        head = text[max(0, start - 60) : start]
        before = JA_SENTENCE_END.split(head)[-1]
        return bool(_JA_REQUEST_CONDITION.search(before)) and not _JA_WISH_CONDITION.search(before)
    if not _EN_REQUEST.match(matched):
        return False
    before = _en_before(text, start)
    return bool(_EN_REQUEST_CONDITION.search(before)) and not _EN_WISH_CONDITION.search(before)


# A call or a reply asked for about other openings is not this application's next step (round 16):
# "we have other assignments for you; please reply with your availability", ほかにもマッチしそうな
# 求人を改めてご紹介…ご都合のよい日時をお知らせください. Only a weak cue (a request, a time asked for),
# and not where an interview is named with it (別の職種で面接に…日程をご返信ください invites). The
# openings are named just before: the same or the previous sentence.
_EN_OTHER_OPENINGS = re.compile(
    r"\b(?:other|another|different|more|new|further) (?:[\w-]+ ){0,3}?(?:roles?|positions?|openings?"
    r"|jobs?|vacancies|assignments?|opportunities|posts?)\b"
)
_JA_OTHER_OPENINGS = re.compile(
    r"(?:ほかにも|他にも|他の|別の|ほかの)[^。]{0,20}(?:求人|ポジション|案件|お仕事|職種)"
)
_EN_INTERVIEW = re.compile(r"\binterview")
_JA_INTERVIEW = re.compile(r"面接|面談")


def _about_other_openings(compiled: Compiled, text: str, start: int) -> bool:
    head = text[max(0, start - 160) : start]
    if compiled.japanese:
        window = "".join(JA_SENTENCE_END.split(head)[-2:])
        return bool(_JA_OTHER_OPENINGS.search(window)) and not _JA_INTERVIEW.search(window)
    cuts = [m.end() for m in EN_SENTENCE_END.finditer(head)]
    window = head[cuts[-2] if len(cuts) > 1 else 0 :]
    return bool(_EN_OTHER_OPENINGS.search(window)) and not _EN_INTERVIEW.search(window)


# An application carried on by another channel is not an outcome (round 15): "we won't be continuing
# with your application by post; please use the portal" moves it, it does not end it. The channel
# follows the phrase at once (a word or two between at most; a phrase may end inside a word, as "with
# you" does inside "with your application").
_EN_CHANNEL_AFTER = re.compile(
    r"[\w'-]*(?:\s+[\w'-]+){0,2}?\s+(?:by|via|through|over|on) (?:post|mail|e-?mail|paper|fax|phone|telephone"
    r"|letter|(?:this|that|the|our) (?:address|inbox|mailbox|email address|form|channel|paper form))\b"
)


def _by_another_channel(compiled: Compiled, text: str, end: int) -> bool:
    return not compiled.japanese and bool(_EN_CHANNEL_AFTER.match(text, end))


NEGATED_OUTCOME = "negated: an outcome"
QUOTED_EXAMPLE = "quoted example in mail about rejection mail"


def _find(compiled: Compiled, scan: TextScan, present: frozenset[str]) -> tuple[str, str, int]:
    """(matched text, note, weight): the text the phrase counts for, with no note and the phrase's
    weight; or, when it matched only where it does not count, that text, why, and 0; a negated
    phrase with a ``negated`` weight counts that weight, noted (the first such match wins over
    ignored ones); ("", "", 0) when it did not match."""
    phrase, text = compiled.phrase, scan.text
    ignored = ("", "", 0)
    for n, match in enumerate(matches(compiled, scan, present)):
        if n >= 20:
            break
        start, end = match.span()
        if not phrase.check_context:
            if phrase.weight < 0 and _denied(compiled, text, end):
                ignored = (match.group(), "named only to be denied", 0)
                continue
            return match.group(), "", phrase.weight
        if phrase.weight < 0 and in_wish(text, start, end, compiled.japanese):
            ignored = (match.group(), "in a wish for the reader's future", 0)
        elif phrase.weight < 0 and _possible(compiled, text, end):
            ignored = (match.group(), "only a possibility", 0)
        elif STRONG_CUE < phrase.weight < 0 and _took_part(compiled, text, start):
            ignored = (match.group(), "a stage the reader took part in, said as thanks", 0)
        elif STRONG_CUE < phrase.weight < 0 and _about_other_openings(compiled, text, start):
            ignored = (match.group(), "asked about other openings", 0)
        elif phrase.weight < 0 and _conditional_request(compiled, text, start, match.group()):
            ignored = (match.group(), "a request made only under a condition", 0)
        elif phrase.weight < 0 and _negated(compiled, text, start, end):
            if phrase.negated and _negated_outcome(compiled, text, start, end):
                return match.group(), NEGATED_OUTCOME, phrase.negated
            ignored = (match.group(), "negated", 0)
        elif phrase.weight > 0 and _conditional(compiled, text, start, end):
            ignored = (match.group(), "conditional", 0)
        elif phrase.weight > 0 and _delayed(compiled, text, start, end):
            ignored = (match.group(), "delayed", 0)
        elif phrase.weight > 0 and _by_another_channel(compiled, text, end):
            ignored = (match.group(), "said of the channel, not the application", 0)
        elif phrase.weight > 0 and quoted_example(text, start, end, compiled.japanese):
            ignored = (match.group(), QUOTED_EXAMPLE, 0)
        else:
            return match.group(), "", phrase.weight
    return ignored


def weigh(
    where: str, phrases: PhraseSet, forms: Forms, ignore: str = "", first: bool = False
) -> list[Signal]:
    """A signal for every phrase that matched the text (with weight 0 where it does not count;
    ``ignore`` names why none counts here); with ``first``, only the first such signal."""
    signals = []
    for compiled, scan, present in phrases.candidates(forms):
        matched, note, weight = _find(compiled, scan, present)
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
        if first:
            break
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


def beside(matched: str, others: list[str], forms: Forms) -> bool:
    """Whether a sentence of the text that holds ``matched`` also holds one of ``others``."""
    if not others:
        return False
    text, ends = (forms.ja, JA_SENTENCE_END) if is_japanese(matched) else (forms.en, EN_SENTENCE_END)
    for sentence in ends.split(text):
        if matched in sentence and any(o and o != matched and o in sentence for o in others):
            return True
    return False
