"""The admin pages' language, time zone and number formats: Japanese or English, per viewer.

Why this module exists: the people who read the admin pages are mostly Japanese HR staff, some are
operators who read English; the wording lives in a data file (``templates/web/admin_text.toml``, one
table per language, reviewed without reading Python) and this module picks the language (``?lang=``,
else the browser's ``Accept-Language``, as the candidate pages do), the time zone (the user's
configured one, else Asia/Tokyo for Japanese and UTC for English) and formats numbers, shares, months
and times the way the reader expects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from relay_smtp.store.ledger_data import API_REDEEM_REASON, CLI_REDEEM_REASON, EARNED_REASON
from relay_smtp.web.pages import LOCALES, Catalogue, preferred_locale
from relay_smtp.web.settings import PageLocale

DEFAULT_ZONES: Mapping[PageLocale, str] = {"ja": "Asia/Tokyo", "en": "UTC"}
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DASH = "–"

# The ledger reasons the relay writes itself (stored in English), and the catalogue key wording each.
_FIXED_REASONS: Mapping[str, str] = {
    API_REDEEM_REASON: "reason_redeemed_via_api",
    CLI_REDEEM_REASON: "reason_agency_hire",
}
_EARNED = re.compile(re.escape(EARNED_REASON).replace(re.escape("{count}"), "([0-9]+)"))


@dataclass(frozen=True)
class AdminLocale:
    """Everything a template needs to speak to one reader: ``t``, and the formatters."""

    lang: PageLocale
    zone: ZoneInfo
    texts: Mapping[str, str]

    @property
    def other(self) -> PageLocale:
        return "en" if self.lang == "ja" else "ja"

    @property
    def zone_label(self) -> str:
        return "JST" if self.zone.key == "Asia/Tokyo" else self.zone.key

    def t(self, key: str, **values: object) -> str:
        text = self.texts[key]
        return text.format(**values) if values else text

    def ledger_reason(self, stored: str) -> str:
        """A ledger entry's reason in the reader's language if the relay wrote it, else as stored."""
        if stored in _FIXED_REASONS:
            return self.t(_FIXED_REASONS[stored])
        earned = _EARNED.fullmatch(stored)
        if earned:
            return self.t("reason_earned", count=self.number(int(earned.group(1))))
        return stored  # a person's own words (a redemption or an adjustment): not ours to translate

    def number(self, value: int | None) -> str:
        return DASH if value is None else f"{value:,}"

    def percent(self, share: float | None) -> str:
        return DASH if share is None else f"{share * 100:.1f}%"

    def decimal(self, value: float | None) -> str:
        return DASH if value is None else f"{value:.2f}"

    def month(self, label: str) -> str:
        year, month = label.split("-")
        if self.lang == "ja":
            return f"{year}年{int(month)}月"
        return f"{_EN_MONTHS[int(month) - 1]} {year}"

    def when(self, at: datetime) -> str:
        local = at.astimezone(self.zone)
        if self.lang == "ja":
            return local.strftime("%Y/%m/%d %H:%M")
        return f"{local.day} {_EN_MONTHS[local.month - 1]} {local.year} {local:%H:%M}"

    def day(self, at: datetime) -> str:
        local = at.astimezone(self.zone)
        if self.lang == "ja":
            return local.strftime("%Y/%m/%d")
        return f"{local.day} {_EN_MONTHS[local.month - 1]} {local.year}"


def admin_locale(
    catalogue: Catalogue, accept_language: str | None, override: str | None, time_zone: str | None
) -> AdminLocale:
    lang: PageLocale = override if override in LOCALES else preferred_locale(accept_language)
    zone = ZoneInfo(time_zone or DEFAULT_ZONES[lang])
    return AdminLocale(lang, zone, catalogue[lang])
