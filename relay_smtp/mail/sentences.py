"""Where a sentence ends in the classifier's text forms, in one place.

Why this module exists: the context checks (``weigh``), the structure signal (``structure``) and the
outcome-sentence signal (``outcome_model``) all reason sentence by sentence; one rule for where a
sentence ends keeps them agreeing on what "the same sentence" is. The forms (``textform.ja_form``,
``en_form``) have no line breaks: a Japanese sentence ends at 。!?, an English one at . ! ? ; (and
at a paragraph break, which ``en_form`` writes as " . ").
"""

from __future__ import annotations

import re

JA_SENTENCE_END = re.compile(r"[。!?\n]")
EN_SENTENCE_END = re.compile(r"[.!?;]")


def sentence_end(japanese: bool) -> re.Pattern[str]:
    return JA_SENTENCE_END if japanese else EN_SENTENCE_END


def sentence_spans(text: str, japanese: bool) -> list[tuple[int, int]]:
    """(start, end) of every sentence of ``text`` that holds a word character, its end mark left
    out and the spaces around it trimmed."""
    spans = []
    start = 0
    for stop in [m.start() for m in sentence_end(japanese).finditer(text)] + [len(text)]:
        lo, hi = start, stop
        while lo < hi and text[lo].isspace():
            lo += 1
        while hi > lo and text[hi - 1].isspace():
            hi -= 1
        if any(c.isalnum() for c in text[lo:hi]):
            spans.append((lo, hi))
        start = stop + 1
    return spans
