"""The classifier's phrases compiled once, and found in a text without trying every phrase.

Why this module exists: a message is weighed against several hundred phrases, most of them regular
expressions, and the classifier runs on every message. Searching the text once per phrase cost
milliseconds, so matching goes in three steps, each exact:

1. every phrase is analysed once (``re``'s own parser) for literals that every match contains:
   its *anchors*, with how far after the match start they stand, and further *required* groups
   (every match contains one literal of each group);
2. per text, which of all those literals occur is decided with sets of the text's character
   2-grams and 4-grams (built in C from the text's UTF-16 octets), and ``in`` only for the
   literals whose grams all occur: a Python-level ``in`` per literal was most of the cost;
3. only a phrase whose anchor and required groups all occur is tried, and its regex only at the
   starts its anchors allow.

A phrase with no analysable anchor scans the whole text; nothing here changes what matches.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, compress, repeat
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


# --- literals in a text -----------------------------------------------------------------------


_ASCII_RUN = re.compile(r"[\x01-\x7f]+")


def _trie(literals: Iterable[str]) -> re.Pattern[str] | None:
    """One regex that finds, at every position, the longest of ``literals`` starting there.

    A trie, so that at each position the engine follows the text down one path instead of trying
    every literal; inside a lookahead, so that every position is tried (overlaps included).
    Every literal that starts at a position is a prefix of the longest one found there.
    """
    root: dict[str, Any] = {}
    for literal in literals:
        node = root
        for char in literal:
            node = node.setdefault(char, {})
        node[""] = {}

    def source(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + source(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return re.compile(f"(?=({source(root)}))") if root else None


@dataclass(frozen=True, eq=False)
class LiteralTable:
    """Literals of one language, by how their presence is checked: ASCII ones of two characters
    or more by one trie regex over the text's ASCII runs, single ASCII characters with ``in``
    there, the others with ``in`` over the text after a check of their characters."""

    trie: re.Pattern[str] | None
    prefixes: dict[str, tuple[str, ...]]  # literal -> the literals it starts with (itself too)
    singles: tuple[str, ...]
    with_nul: tuple[str, ...]  # ASCII, but NUL joins the runs: checked with ``in`` over the text
    other: tuple[str, ...]
    other_chars: tuple[frozenset[str], ...]

    @classmethod
    def build(cls, literals: Iterable[str]) -> LiteralTable:
        unique = sorted(set(literals))
        ascii = [lit for lit in unique if lit.isascii() and "\0" not in lit]
        multi = [lit for lit in ascii if len(lit) > 1]
        other = tuple(lit for lit in unique if not lit.isascii())
        prefixes = {lit: tuple(p for p in multi if lit.startswith(p)) for lit in multi}
        singles = tuple(lit for lit in ascii if len(lit) == 1)
        with_nul = tuple(lit for lit in unique if lit.isascii() and "\0" in lit)
        return cls(_trie(multi), prefixes, singles, with_nul, other, tuple(map(frozenset, other)))


class TextScan:
    """One text form and what has been looked up in it (literals and their positions)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.ascii = text.isascii()
        # Literals confirm required groups only where no case alias can stand in for a letter.
        self.plain = self.ascii or not any(c in text for c in CASE_ALIASES)
        self._ascii_runs: str | None = None
        self._chars: frozenset[str] | None = None
        self._present: dict[int, frozenset[str]] = {}
        self._has: dict[str, bool] = {}
        self._positions: dict[str, list[int]] = {}

    def _runs(self) -> str:
        """The text's ASCII runs joined by NUL: an ASCII literal occurs in the text exactly when
        it occurs here, and searching here is cheaper (shorter, one octet per character)."""
        if self._ascii_runs is None:
            self._ascii_runs = self.text if self.ascii else "\0".join(_ASCII_RUN.findall(self.text))
        return self._ascii_runs

    def present(self, table: LiteralTable) -> frozenset[str]:
        """The table's literals that occur in the text."""
        found = self._present.get(id(table))
        if found is not None:
            return found
        runs = self._runs()
        hits: set[str] = set(filter(runs.__contains__, table.singles))
        if table.trie is not None:
            prefixes = table.prefixes
            for longest in set(table.trie.findall(runs)):
                hits.update(prefixes[longest])
        hits.update(filter(self.text.__contains__, table.with_nul))
        if not self.ascii and table.other:
            if self._chars is None:
                self._chars = frozenset(self.text)
            maybe = compress(table.other, map(self._chars.issuperset, table.other_chars))
            hits.update(filter(self.text.__contains__, maybe))
        found = self._present[id(table)] = frozenset(hits)
        return found

    def has(self, literal: str) -> bool:
        """Whether one literal occurs (remembered for the other phrases that ask)."""
        found = self._has.get(literal)
        if found is None:
            found = self._has[literal] = literal in self.text
        return found

    def positions(self, literal: str) -> list[int]:
        """Where the literal starts in the text, in order."""
        found = self._positions.get(literal)
        if found is None:
            found = []
            find, pos = self.text.find, self.text.find(literal)
            while pos >= 0:
                found.append(pos)
                pos = find(literal, pos + 1)
            self._positions[literal] = found
        return found


class Forms:
    """A text as the phrases see it: Japanese form (no spaces) and English form, each with its
    scan (made on first use, then shared by every phrase set weighed over this text)."""

    def __init__(self, ja: str, en: str) -> None:
        self.ja = ja
        self.en = en
        self._scans: tuple[TextScan, TextScan] | None = None

    @classmethod
    def of(cls, text: str) -> Forms:
        return cls(ja_form(text), en_form(text))

    def scans(self) -> tuple[TextScan, TextScan]:
        if self._scans is None:
            self._scans = TextScan(self.ja), TextScan(self.en)
        return self._scans


def matches(compiled: Compiled, scan: TextScan, present: frozenset[str]) -> Iterator[re.Match[str]]:
    """Matches of the phrase in the text (each start once; order not guaranteed), tried lazily:
    anchor by anchor, occurrence by occurrence, and within an occurrence's range of starts."""
    text = scan.text
    if compiled.anchors is None:
        return compiled.regex.finditer(text)
    starts: list[int] = []
    for anchor in compiled.anchors:
        if anchor.literal not in present:
            continue
        positions = scan.positions(anchor.literal)
        low, high = anchor.before_min, anchor.before_max
        if high == 0:
            starts += positions
        elif low == high:
            starts += [pos - low for pos in positions if pos >= low]
        else:
            starts += chain.from_iterable(range(max(0, pos - high), pos - low + 1) for pos in positions)
    # A start is tried once, where it first comes up (one anchor at a fixed offset: all differ).
    only = compiled.anchors[0]
    single = len(compiled.anchors) == 1 and only.before_min == only.before_max
    unique = starts if single else dict.fromkeys(starts)
    return filter(None, map(compiled.regex.match, repeat(text), unique))


@dataclass(frozen=True, eq=False)
class PhraseSet:
    """Compiled phrases, indexed by their anchor literals: a text is checked against the literal
    tables once, and only phrases whose anchor and required literals occur are tried."""

    phrases: tuple[Compiled, ...]
    ja_literals: LiteralTable
    en_literals: LiteralTable
    by_literal: dict[tuple[bool, str], tuple[int, ...]]  # (japanese, literal) -> phrase indexes
    unanchored: frozenset[int]  # phrases that always run their regex

    @classmethod
    def build(cls, phrases: tuple[Phrase, ...]) -> PhraseSet:
        compiled = tuple(map(compile_phrase, phrases))
        index: dict[tuple[bool, str], list[int]] = {}
        unanchored = set()
        for i, c in enumerate(compiled):
            if c.anchors is None:
                unanchored.add(i)
            for a in c.anchors or ():
                index.setdefault((c.japanese, a.literal), []).append(i)
        ja = LiteralTable.build(lit for japanese, lit in index if japanese)
        en = LiteralTable.build(lit for japanese, lit in index if not japanese)
        by_literal = {key: tuple(value) for key, value in index.items()}
        return cls(compiled, ja, en, by_literal, frozenset(unanchored))

    def candidates(self, forms: Forms) -> Iterator[tuple[Compiled, TextScan, frozenset[str]]]:
        """The phrases that may match, in phrase order, each with its text and anchor literals."""
        ja, en = forms.scans()
        ja_present, en_present = ja.present(self.ja_literals), en.present(self.en_literals)
        found = set(self.unanchored)
        for japanese, present in ((True, ja_present), (False, en_present)):
            for literal in present:
                found.update(self.by_literal[(japanese, literal)])
        for i in sorted(found):
            compiled = self.phrases[i]
            scan, present = (ja, ja_present) if compiled.japanese else (en, en_present)
            if _required_present(compiled, scan):
                yield compiled, scan, present

    def first_candidates(self, forms: Forms) -> Iterator[tuple[Compiled, TextScan, frozenset[str]]]:
        """The same, checking one phrase at a time: for a caller that stops at the first match,
        which a small topic list usually finds among its first phrases."""
        ja, en = forms.scans()
        for compiled in self.phrases:
            scan = ja if compiled.japanese else en
            if compiled.anchors is None:
                yield compiled, scan, frozenset()
                continue
            present = frozenset(a.literal for a in compiled.anchors if scan.has(a.literal))
            if present and _required_present(compiled, scan):
                yield compiled, scan, present


def _required_present(compiled: Compiled, scan: TextScan) -> bool:
    """Whether each required group has a literal in the text (always, where a case alias stands)."""
    if not compiled.required or not scan.plain:
        return True
    return all(any(map(scan.has, group)) for group in compiled.required)
