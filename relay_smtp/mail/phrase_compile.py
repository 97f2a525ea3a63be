"""The classifier's phrases compiled once: a regex per phrase, and the literals every match holds.

Why this module exists: a phrase is data (``phrasebook``): a literal or a regular expression. To
find phrases fast (``phrase_index``), each regex is analysed once with ``re``'s own parser for
literals that every match contains: its *anchors*, with how far after the match start they stand
(the regex is tried only there), and *required* groups (one literal of each stands somewhere in
every match; a phrase missing one is not tried at all). The analysis is exact or absent: a pattern
it cannot follow keeps no anchors and scans the whole text.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from relay_smtp.mail.phrasebook import Phrase
from relay_smtp.mail.textform import en_form, is_japanese, ja_form, nfkc

try:  # the regex parser, to find literals for a fast pre-check (private; optional)
    _SRE_PARSER: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover
    _SRE_PARSER = None


@dataclass(frozen=True)
class Anchor:
    """A literal found in every match of a phrase, ``before`` characters after the match start
    (a range: the parts before it may vary in length)."""

    literal: str
    before_min: int
    before_max: int


@dataclass(frozen=True)
class Compiled:
    phrase: Phrase
    japanese: bool
    regex: re.Pattern[str]
    # Why anchors: Python's regex engine scans every position of the text for patterns that
    # start with \b, a lookbehind or an alternation, which made a 20 KB message cost
    # milliseconds. Finding an anchor with str.find and trying the regex only where a match
    # could start is exact and fast. None: the pattern could not be analysed; scan it all.
    anchors: tuple[Anchor, ...] | None
    # More groups of literals, one of each in every match (anywhere): a phrase whose group is
    # absent from the text is not tried at all.
    required: tuple[tuple[str, ...], ...] = ()


_MAX_ANCHOR_OFFSET = 64


def _literal_run(items: list[Any], i: int) -> tuple[str, int]:
    start = i
    while i < len(items) and items[i][0] is _SRE_PARSER.LITERAL:
        i += 1
    return "".join(chr(code) for _, code in items[start:i]), i


def _anchors(seq: Any) -> list[Anchor] | None:
    """Anchors for a parsed regex sequence: every match contains one of them (None: unknown)."""
    sre = _SRE_PARSER
    items = list(seq)
    best: list[Anchor] | None = None
    i = 0
    while i < len(items):
        op, av = items[i]
        start = i
        i += 1
        candidates: list[Anchor] | None = None
        if op is sre.LITERAL:
            literal, i = _literal_run(items, start)
            candidates = [Anchor(literal, 0, 0)]
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
        shifted = [Anchor(a.literal, a.before_min + low, a.before_max + high) for a in candidates]
        if best is None or _anchor_quality(shifted) > _anchor_quality(best):
            best = shifted
    return best


# Words in nearly every English mail make poor anchors: each occurrence costs a regex attempt.
_COMMON_WORDS = frozenset(
    "a an and are be for have if in is it not of on our the this to we will with you your".split()  # noqa: SIM905
)


def _anchor_quality(anchors: list[Anchor]) -> int:
    """Longer literals are rarer; narrower offsets mean fewer regex attempts per occurrence."""
    shortest = min(len(a.literal) for a in anchors)
    widest = max(a.before_max - a.before_min for a in anchors)
    common = any(set(a.literal.lower().split()) <= _COMMON_WORDS for a in anchors)
    return 4 * shortest - widest - (40 if common else 0)


def _regex_anchors(regex: re.Pattern[str]) -> tuple[Anchor, ...] | None:
    if _SRE_PARSER is None:
        return None
    try:
        found = _anchors(_SRE_PARSER.parse(regex.pattern, regex.flags))
    except Exception:  # an optimisation only: without anchors the regex scans the whole text
        return None
    if not found or any(a.before_max - a.before_min > _MAX_ANCHOR_OFFSET for a in found):
        return None
    return tuple(Anchor(a.literal.lower(), a.before_min, a.before_max) for a in found)


# Characters that match an ASCII letter case-insensitively in Python's re although they are not
# that letter in lower case (İ ı ſ K: every such character, found by matching [a-z] with
# re.IGNORECASE against all of Unicode). The texts are lower-cased, so a literal found with ``in``
# is what the regex matches, except where one of these stands: such a text uses anchors only.
CASE_ALIASES = "\u0130\u0131\u017f\u212a"


def _caseless(literal: str) -> bool:
    """A literal that means the same with and without IGNORECASE in a lower-cased text."""
    return all(c.isascii() or c.lower() == c.upper() for c in literal)


def _selective(literal: str) -> bool:
    """A literal worth a presence check of its own: long, not common, and caseless."""
    long_enough = len(literal) >= (2 if is_japanese(literal) else 4)
    common = set(literal.split()) <= _COMMON_WORDS
    return long_enough and not common and _caseless(literal)


def _required(seq: Any) -> list[tuple[str, ...]]:
    """Groups of literals for a parsed regex sequence: every match contains one of each group.

    Only what surely is consumed counts: literal runs, alternations whose every branch has
    anchors, and groups without flags of their own (repeats and lookarounds are skipped).
    """
    sre = _SRE_PARSER
    items = list(seq)
    groups: list[tuple[str, ...]] = []
    i = 0
    while i < len(items):
        op, av = items[i]
        if op is sre.LITERAL:
            literal, i = _literal_run(items, i)
            groups.append((literal,))
            continue
        i += 1
        if op is sre.BRANCH:
            alternatives = [_anchors(alt) for alt in av[1]]
            if all(alternatives):
                groups.append(tuple(a.literal for alt in alternatives if alt for a in alt))
        elif op is sre.SUBPATTERN and not av[1] and not av[2]:
            groups.extend(_required(av[-1]))
    return groups


def _regex_required(regex: re.Pattern[str], anchors: tuple[Anchor, ...]) -> tuple[tuple[str, ...], ...]:
    try:
        found = _required(_SRE_PARSER.parse(regex.pattern, regex.flags))
    except Exception:  # an optimisation only: the anchors alone still decide
        return ()
    anchor_group = {a.literal for a in anchors}
    groups = []
    for group in found:
        lowered = tuple(dict.fromkeys(literal.lower() for literal in group))
        if all(map(_selective, lowered)) and set(lowered) != anchor_group:
            groups.append(lowered)
    return tuple(dict.fromkeys(groups))


def compile_phrase(phrase: Phrase) -> Compiled:
    pattern = phrase.pattern
    if pattern.startswith("re:"):
        source = pattern[3:]
        try:
            regex = re.compile(source, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"phrase {pattern!r}: bad regular expression: {exc}") from exc
        japanese = is_japanese(source)
    else:
        normal = nfkc(pattern)
        if not normal.strip():
            raise ValueError(f"phrase {pattern!r} is empty")
        japanese = is_japanese(normal)
        if japanese:
            regex = re.compile(re.escape(ja_form(normal)))
        else:
            needle = en_form(normal)
            # English literals match whole words: "bid" must not fire inside "forbidden".
            left = r"(?<!\w)" if needle[0].isalnum() else ""
            right = r"(?!\w)" if needle[-1].isalnum() else ""
            regex = re.compile(left + re.escape(needle) + right)
    anchors = _regex_anchors(regex)
    required = _regex_required(regex, anchors) if anchors is not None else ()
    return Compiled(phrase, japanese, regex, anchors, required)
