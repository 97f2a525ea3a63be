"""The classifier's phrase tables, read once from data files per language.

Why this module exists: which words make a rejection is data that HR people and operators read and
extend, not code. The defaults live in ``relay_smtp/mail/phrases/ja.toml`` and ``en.toml`` (package
data, so a wheel carries them); a company adds its own phrases and exclusions in the configuration
(``[[companies]] rejection_phrases`` and ``exclusions``), which :func:`company_phrases` turns into the
same :class:`Phrase` values. Files are parsed once per process (``functools.cache``); a broken data
file is a bug of the release and raises at import, never while a message is being classified.
"""

from __future__ import annotations

import functools
import importlib.resources
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Language = Literal["ja", "en"]
LANGUAGES: tuple[Language, ...] = ("ja", "en")

#: The markers of a rejection's shape, per language (regular expressions; see mail/structure.py);
#: ``about_rejections``: the mail talks about rejection mail in general (then quoted lines are examples).
STRUCTURE_KEYS = ("thanks", "wish", "future", "about_rejections")
#: The lists of the [context] table: job words; application words; other kinds of application;
#: topics that close the gate whatever job word the mail also names (a scholarship, an admission).
CONTEXT_KEYS = ("patterns", "application", "other_kinds", "closed")
#: Weight of a company's own rejection phrase given as a plain string: a rejection by itself.
COMPANY_PHRASE_WEIGHT = 4
#: Weight of a company's exclusion: stronger than any rejection wording, so the mail is never a rejection.
EXCLUSION_WEIGHT = -20


@dataclass(frozen=True)
class Phrase:
    """A phrase and its weight (positive: rejection-like; negative: something else).

    ``pattern`` is a literal matched after normalisation (NFKC, lower case; Japanese ignoring line
    breaks and spaces, English with whitespace collapsed and whole words only), or a regular
    expression after a ``re:`` prefix (case-insensitive; a pattern with Japanese characters runs
    over the Japanese form of the text, where all whitespace and 、 are removed).

    ``check_context``: a positive phrase does not count inside a condition ("if you are not
    selected", 「不採用の場合」); a negative phrase does not count where the text negates it
    ("cannot offer you the position", 「内定には至りませんでした」). Topic words (見積, loan)
    turn it off: negated or not, the mail is about that topic. ``source`` says where the phrase
    came from ("ja", "en", or "company"), for the explanation of a verdict.

    ``generic``: a request, step or topic word that any mail may carry ("get back to you", a
    "next steps" subject, "onboarding" in a signature, "the job advertisement"); it gives way when
    the body states an outcome about the application (a phrase of weight 4 or more counted there).

    ``negated``: for a negative phrase that names what the reader would get (an offer, the next
    stage), the weight it counts with where the text negates it: "we are unable to extend an
    offer", 次の選考へ進むことはできませんでした state the outcome. 0: a negated phrase counts 0.
    """

    pattern: str
    weight: int
    check_context: bool = True
    source: str = ""
    generic: bool = False
    negated: int = 0


@dataclass(frozen=True)
class Phrasebook:
    """One language's tables: subject phrases, body phrases and the job-context words.

    ``application`` and ``other_kinds`` are the second way to pass the job-context gate: a mail
    that names an application (応募, "your application") and no other kind of application (a
    loan, a flat, a scholarship, a stall ...) is taken to be about a job; see ``[context]``.
    """

    subject: tuple[Phrase, ...]
    body: tuple[Phrase, ...]
    context: tuple[str, ...]
    structure: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # thanks, wish, future
    application: tuple[str, ...] = ()
    other_kinds: tuple[str, ...] = ()
    closed: tuple[str, ...] = ()


_ENTRY_KEYS = frozenset({"pattern", "weight", "topic", "generic", "negated"})


def _phrases(entries: Any, where: str, source: str) -> tuple[Phrase, ...]:
    if not isinstance(entries, list):
        raise ValueError(f"{where}: must be an array of tables")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or set(entry) - _ENTRY_KEYS:
            raise ValueError(f"{where}[{i}]: needs pattern, weight and optionally topic, generic, negated")
        pattern, weight, topic = entry.get("pattern"), entry.get("weight"), entry.get("topic", False)
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValueError(f"{where}[{i}].pattern: must be a non-empty string")
        if not isinstance(weight, int) or isinstance(weight, bool) or weight == 0:
            raise ValueError(f"{where}[{i}].weight: must be a non-zero integer")
        generic = entry.get("generic", False)
        if not isinstance(topic, bool) or not isinstance(generic, bool):
            raise ValueError(f"{where}[{i}].topic/generic: must be true or false")
        negated = entry.get("negated", 0)
        if not isinstance(negated, int) or isinstance(negated, bool) or negated < 0 or weight > 0 < negated:
            raise ValueError(f"{where}[{i}].negated: a positive weight, and only on a negative phrase")
        out.append(
            Phrase(pattern, weight, check_context=not topic, source=source, generic=generic, negated=negated)
        )
    return tuple(out)


def parse_phrasebook(text: str, name: str) -> Phrasebook:
    """A phrasebook from the TOML text of one data file (``name`` for error messages)."""
    data = tomllib.loads(text)
    unknown = set(data) - {"subject", "body", "context", "structure"}
    if unknown:
        raise ValueError(f"{name}: unknown keys {sorted(unknown)}")
    context_table = data.get("context", {})
    if set(context_table) - set(CONTEXT_KEYS):
        raise ValueError(f"{name}: context takes lists of strings: {', '.join(CONTEXT_KEYS)}")
    lists = {key: context_table.get(key, []) for key in CONTEXT_KEYS}
    for key, value in lists.items():
        if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
            raise ValueError(f"{name}: context.{key} must be a list of strings")
    structure = data.get("structure", {})
    if set(structure) - set(STRUCTURE_KEYS) or not all(
        isinstance(v, list) and all(isinstance(p, str) and p for p in v) for v in structure.values()
    ):
        raise ValueError(f"{name}: structure takes lists of strings: {', '.join(STRUCTURE_KEYS)}")
    source = name.removesuffix(".toml")
    return Phrasebook(
        _phrases(data.get("subject", []), f"{name}: subject", source),
        _phrases(data.get("body", []), f"{name}: body", source),
        tuple(lists["patterns"]),
        {key: tuple(structure.get(key, ())) for key in STRUCTURE_KEYS},
        tuple(lists["application"]),
        tuple(lists["other_kinds"]),
        tuple(lists["closed"]),
    )


@functools.cache
def load_phrasebook(language: Language) -> Phrasebook:
    """The shipped tables of one language (read once per process)."""
    resource = importlib.resources.files("relay_smtp.mail").joinpath("phrases", f"{language}.toml")
    return parse_phrasebook(resource.read_text(encoding="utf-8"), f"{language}.toml")


def default_tables() -> Phrasebook:
    """Every shipped language's tables together, Japanese first (as the classifier weighs them)."""
    books = [load_phrasebook(language) for language in LANGUAGES]
    return Phrasebook(
        tuple(p for b in books for p in b.subject),
        tuple(p for b in books for p in b.body),
        tuple(p for b in books for p in b.context),
        application=tuple(p for b in books for p in b.application),
        other_kinds=tuple(p for b in books for p in b.other_kinds),
        closed=tuple(p for b in books for p in b.closed),
    )


def company_phrases(rejection: Iterable[tuple[str, int]], exclusions: Iterable[str]) -> tuple[Phrase, ...]:
    """A company's own additions: rejection phrases with their weights, and exclusions (a phrase that
    means "never a rejection" for this company, e.g. the name of its supplier programme). Exclusions
    are topic phrases: they count negated or not."""
    added = [Phrase(pattern, weight, source="company") for pattern, weight in rejection]
    added += [Phrase(p, EXCLUSION_WEIGHT, check_context=False, source="company") for p in exclusions]
    return tuple(added)
