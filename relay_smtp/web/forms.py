"""The hosted registration form: its fields, and server-side validation with friendly errors.

Why this module exists: what a candidate types is personal data handed to a third party, so it is
checked on the server (the browser's own checks are a courtesy), normalised the way Japanese users type
(full-width digits and letters become ASCII via NFKC), and bounded in length.  Errors come back as
codes per field; the templates turn them into polite sentences in the page's language.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

#: Desired job types: the value sent to the agency, and its label in each language.
JOB_TYPES: tuple[tuple[str, str, str], ...] = (
    ("engineering", "エンジニア・技術職", "Engineering / IT"),
    ("sales", "営業", "Sales"),
    ("marketing", "企画・マーケティング", "Planning / marketing"),
    ("office", "事務・アシスタント", "Office / administration"),
    ("finance", "経理・財務", "Accounting / finance"),
    ("hr", "人事・総務", "HR / general affairs"),
    ("design", "デザイン・クリエイティブ", "Design / creative"),
    ("customer_service", "販売・サービス", "Retail / customer service"),
    ("manufacturing", "製造・生産", "Manufacturing"),
    ("medical", "医療・福祉", "Healthcare / welfare"),
    ("other", "その他", "Other"),
)
JOB_TYPE_KEYS = frozenset(key for key, _, _ in JOB_TYPES)

MAX_NAME = 100
MAX_EMAIL = 254
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)
_PHONE_ALLOWED = re.compile(r"\+?[0-9 ()\-]+")


@dataclass(frozen=True)
class RegistrationInput:
    """What the candidate typed (after normalisation), kept to show the form again."""

    name: str = ""
    email: str = ""
    phone: str = ""
    job_type: str = ""
    consent: bool = False
    #: The separate, optional talent-pool consent: the company itself may contact them again.
    talent_pool: bool = False


@dataclass(frozen=True)
class Validated:
    values: RegistrationInput
    errors: Mapping[str, str] = field(default_factory=dict)  # field -> error code

    @property
    def ok(self) -> bool:
        return not self.errors


def read_form(form: Mapping[str, str]) -> RegistrationInput:
    """Normalise the posted fields (NFKC, trimmed, bounded so a huge post cannot echo back whole)."""
    return RegistrationInput(
        name=_clean(form.get("name", ""), MAX_NAME * 2),
        email=_clean(form.get("email", ""), MAX_EMAIL * 2),
        phone=_clean(form.get("phone", ""), 64),
        job_type=_clean(form.get("job_type", ""), 64),
        consent=form.get("consent", "") == "yes",
        talent_pool=form.get("talent_pool", "") == "yes",
    )


def validate(values: RegistrationInput) -> Validated:
    errors: dict[str, str] = {}
    checks = (
        ("name", _name_error(values.name)),
        ("email", _email_error(values.email)),
        ("phone", _phone_error(values.phone)),
        ("job_type", None if values.job_type in JOB_TYPE_KEYS else "choose"),
        ("consent", None if values.consent else "required"),
    )
    for name, error in checks:
        if error:
            errors[name] = error
    return Validated(values, errors)


def _clean(value: str, limit: int) -> str:
    text = unicodedata.normalize("NFKC", str(value))[:limit]
    return " ".join(text.split())


def _name_error(name: str) -> str | None:
    if not name:
        return "required"
    if len(name) > MAX_NAME:
        return "too_long"
    if any(unicodedata.category(c).startswith("C") for c in name) or any(c in "<>@" for c in name):
        return "invalid"
    return None


def _email_error(email: str) -> str | None:
    if not email:
        return "required"
    if len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email):
        return "invalid"
    return None


def _phone_error(phone: str) -> str | None:
    if not phone:
        return None
    digits = sum(c.isdigit() for c in phone)
    if not _PHONE_ALLOWED.fullmatch(phone) or not 10 <= digits <= 15:
        return "invalid"
    return None


def job_type_label(key: str, locale: str) -> str:
    for job_key, ja, en in JOB_TYPES:
        if job_key == key:
            return ja if locale == "ja" else en
    return key
