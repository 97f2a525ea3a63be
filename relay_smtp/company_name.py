"""The company name the block shows when no company is configured for a sender.

Why this module exists: the block reads "なお、<company>は「Career Relay」と提携しております", and in
Japanese recruiting mail the From display name is usually a role ("採用担当", "人事部 採用チーム"), not a
company.  So the display name is used only when it looks like an organisation (a legal form such as
株式会社… or …Inc., …Ltd), with role and department words cut off; otherwise the name comes from the
From domain (``recruit.acme.co.jp`` -> ``acme.co.jp``).  The word lists are data
(``data/company_names.toml``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

_SEPARATORS = re.compile(r"\s*(?:\||｜|/|／|:|：|・|\s-\s|\s–\s|\sat\s|\sfrom\s|@)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class _Words:
    japanese_forms: tuple[str, ...]
    latin_forms: re.Pattern[str]
    roles: tuple[str, ...]
    role_only: re.Pattern[str]
    second_level: frozenset[str]


@cache
def _words() -> _Words:
    data = tomllib.loads(
        resources.files("relay_smtp").joinpath("data", "company_names.toml").read_text(encoding="utf-8")
    )
    latin = "|".join(re.escape(f) for f in sorted(data["latin_forms"], key=len, reverse=True))
    roles = tuple(sorted(data["role_words"], key=len, reverse=True))
    role_alternatives = "|".join(re.escape(r) for r in roles)
    return _Words(
        japanese_forms=tuple(data["japanese_forms"]),
        latin_forms=re.compile(rf"(?<![\w.-])(?:{latin})\.?(?![\w-])", re.IGNORECASE),
        roles=roles,
        role_only=re.compile(rf"^(?:(?:{role_alternatives})[\s　&,.・の]*)+$", re.IGNORECASE),
        second_level=frozenset(data["second_level_labels"]),
    )


def organisation_name(display_name: str) -> str | None:
    """The organisation in a From display name, or None when it names a person or a role."""
    words = _words()
    for segment in _SEPARATORS.split(" ".join(display_name.split())):
        segment = segment.strip(" 　\"'「」【】[]")
        if not segment:
            continue
        if any(form in segment for form in words.japanese_forms):
            name = _without_roles(segment, words)
        elif words.latin_forms.search(segment):
            name = _cut_after_latin_form(segment, words)
        else:
            continue
        if name and not words.role_only.match(name) and _beyond_forms(name, words):
            return name
    return None


def _beyond_forms(name: str, words: _Words) -> bool:
    """Whether the name is more than a legal form ("株式会社" alone names nobody)."""
    rest = words.latin_forms.sub("", name)
    for form in words.japanese_forms:
        rest = rest.replace(form, "")
    return bool(rest.strip(" 　,.&"))


def _without_roles(segment: str, words: _Words) -> str:
    """Japanese: keep the words up to the one holding the legal form and its name; drop role words."""
    tokens = re.split(r"[\s　]+", segment)
    kept: list[str] = []
    for token in tokens:
        if kept and words.role_only.match(token):
            break
        kept.append(token)
    name = " ".join(kept)
    # Roles written without a space: 株式会社サンプル人事部採用担当 -> 株式会社サンプル
    changed = True
    while changed:
        changed = False
        for role in words.roles:
            if name.endswith(role) and not any(name == f or name.endswith(f) for f in words.japanese_forms):
                stripped = name[: -len(role)].rstrip(" 　")
                if stripped:
                    name, changed = stripped, True
    return name


def _cut_after_latin_form(segment: str, words: _Words) -> str:
    """English and others: the name up to its last legal form ("ACME Inc. Recruiting" -> "ACME Inc.")."""
    *_, last = words.latin_forms.finditer(segment)
    return segment[: last.end()].strip(" ,")


def domain_name(domain: str) -> str:
    """The registered domain of a sender's domain: recruit.acme.co.jp -> acme.co.jp."""
    labels = [label for label in domain.strip().strip(".").lower().split(".") if label]
    if len(labels) <= 2:
        return ".".join(labels)
    keep = 3 if len(labels[-1]) == 2 and labels[-2] in _words().second_level else 2
    return ".".join(labels[-keep:])


def company_name(display_name: str, domain: str) -> str:
    """The name for the block: an organisation from the display name, else the sender's domain."""
    return organisation_name(display_name) or domain_name(domain) or "unknown"
