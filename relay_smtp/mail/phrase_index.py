"""The classifier's phrases found in a text without trying every phrase.

Why this module exists: a message is weighed against several hundred phrases, most of them regular
expressions, and the classifier runs on every message. Searching the text once per phrase cost
milliseconds, so matching goes in three steps, each exact:

1. per text, which of a phrase set's anchors and ASCII required literals (see ``phrase_compile``)
   occur: the ASCII ones by one trie regex over the text's ASCII runs, the others with ``in``
   after a check of their characters (a Python-level ``in`` per literal was most of the cost);
2. only a phrase whose anchor occurs and whose required groups all occur is tried (its other
   required literals are looked up only then);
3. its regex is tried only at the starts its anchors allow, through ``map`` rather than a loop.

Literal positions and single look-ups are remembered per text, for the other phrase sets
weighed there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from typing import Any

from relay_smtp.mail.phrase_compile import CASE_ALIASES, Compiled, compile_phrase
from relay_smtp.mail.phrasebook import Phrase
from relay_smtp.mail.textform import en_form, ja_form

_ASCII_RUN = re.compile(r"[\x01-\x7f]+")
# Above this many non-ASCII literals, a text's characters are collected to rule literals out.
_CHARS_FOR = 20


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
        known = set(multi)
        prefixes = {lit: tuple(lit[:k] for k in range(2, len(lit) + 1) if lit[:k] in known) for lit in multi}
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
            maybe: Iterable[str] = table.other
            # The text's set of characters costs as much as some twenty look-ups (a str object per
            # character): made only for a table with many such literals (the Japanese ones).
            if len(table.other) > _CHARS_FOR:
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
            # A literal with a character the text lacks cannot occur: where the text's characters
            # are known, a set look-up per character is cheaper than searching the text.
            chars = self._chars
            found = self._has[literal] = (chars is None or chars.issuperset(literal)) and literal in self.text
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
    ja_literals: LiteralTable  # anchors, and the ASCII literals of required groups
    en_literals: LiteralTable
    by_literal: dict[tuple[bool, str], tuple[int, ...]]  # (japanese, anchor literal) -> phrases
    unanchored: frozenset[int]  # phrases that always run their regex
    # Per phrase, each required group as (its ASCII literals, found among the tables' literals;
    # the others, looked up one by one and only for a phrase whose anchor occurs).
    required: tuple[tuple[tuple[frozenset[str], tuple[str, ...]], ...], ...]
    # ``by_literal`` split by language, keyed by the literal alone: the phrases of all the literals
    # found are then gathered by one C-level pass (``map`` of ``dict.get``), not a loop per literal.
    _ja_index: dict[str, tuple[int, ...]] = field(init=False, repr=False)
    _en_index: dict[str, tuple[int, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for japanese, name in ((True, "_ja_index"), (False, "_en_index")):
            own = {literal: found for (ja, literal), found in self.by_literal.items() if ja == japanese}
            object.__setattr__(self, name, own)

    @classmethod
    def build(cls, phrases: tuple[Phrase, ...]) -> PhraseSet:
        return cls.build_all((phrases,))[0]

    @classmethod
    def build_all(cls, sets: Iterable[tuple[Phrase, ...]]) -> tuple[PhraseSet, ...]:
        """Several phrase sets weighed over the same texts, sharing one literal table per
        language: a text is then scanned for literals once, not once per set (a literal's presence
        does not depend on which set asks, and a set looks up only its own literals)."""
        literals: dict[bool, set[str]] = {True: set(), False: set()}
        parts = [cls._index(tuple(map(compile_phrase, phrases)), literals) for phrases in sets]
        ja, en = LiteralTable.build(literals[True]), LiteralTable.build(literals[False])
        return tuple(cls(c, ja, en, index, unanchored, required) for c, index, unanchored, required in parts)

    @staticmethod
    def _index(
        compiled: tuple[Compiled, ...], literals: dict[bool, set[str]]
    ) -> tuple[
        tuple[Compiled, ...],
        dict[tuple[bool, str], tuple[int, ...]],
        frozenset[int],
        tuple[tuple[tuple[frozenset[str], tuple[str, ...]], ...], ...],
    ]:
        """One set's phrases indexed by anchor literal; its literals are added to ``literals``."""
        index: dict[tuple[bool, str], list[int]] = {}
        unanchored = set()
        for i, c in enumerate(compiled):
            if c.anchors is None:
                unanchored.add(i)
            for a in c.anchors or ():
                index.setdefault((c.japanese, a.literal), []).append(i)
                literals[c.japanese].add(a.literal)
            literals[c.japanese].update(lit for group in c.required for lit in group if lit.isascii())
        required = tuple(
            tuple(
                (
                    frozenset(lit for lit in group if lit.isascii()),
                    tuple(lit for lit in group if not lit.isascii()),
                )
                for group in c.required
            )
            for c in compiled
        )
        return compiled, {key: tuple(value) for key, value in index.items()}, frozenset(unanchored), required

    def may_match(self, forms: Forms) -> bool:
        """Whether some phrase may match the text: one without anchors, or one whose anchor occurs
        (found among the literals the text's scans already looked up, no regex tried)."""
        if self.unanchored:
            return True
        ja, en = forms.scans()
        present = {True: ja.present(self.ja_literals), False: en.present(self.en_literals)}
        return any(literal in present[japanese] for japanese, literal in self.by_literal)

    def candidates(self, forms: Forms) -> Iterator[tuple[Compiled, TextScan, frozenset[str]]]:
        """The phrases that may match, in phrase order, each with its text and the literals found."""
        ja, en = forms.scans()
        ja_present, en_present = ja.present(self.ja_literals), en.present(self.en_literals)
        found = set(self.unanchored)
        found.update(chain.from_iterable(map(self._ja_index.get, ja_present, repeat(()))))
        found.update(chain.from_iterable(map(self._en_index.get, en_present, repeat(()))))
        for i in sorted(found):
            compiled = self.phrases[i]
            scan, present = (ja, ja_present) if compiled.japanese else (en, en_present)
            # Where a case alias stands, a literal may miss what IGNORECASE matches: anchors only.
            if compiled.anchors is None or not scan.plain or self._required_present(i, scan, present):
                yield compiled, scan, present

    def _required_present(self, i: int, scan: TextScan, present: frozenset[str]) -> bool:
        """Whether each required group of phrase ``i`` has a literal in the text."""
        for tabled, others in self.required[i]:
            if present.isdisjoint(tabled) and not any(map(scan.has, others)):
                return False
        return True
