"""Rendering the web pages and the confirmation mail from ``templates/web/``, in Japanese or English.

Why this module exists: the wording is reviewed by people who do not read Python, so it lives in jinja2
templates, one file per page and language (``confirm.ja.html``, ``confirm.en.html`` ...), or one
template per page with its wording in a data file, one table per language (``landing.html`` and
``landing_text.toml``).  This module
picks the language (the company's, else the browser's, else both for a link we cannot read), renders
with autoescaping always on, and builds the responses.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.responses import HTMLResponse

from relay_smtp.web.settings import CompanyLocale, LiveConfig, PageLocale

LOCALES: tuple[PageLocale, PageLocale] = ("ja", "en")

Catalogue = Mapping[str, Mapping[str, str]]


def default_templates_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "templates" / "web"


def preferred_locale(accept_language: str | None) -> PageLocale:
    """Japanese or English, whichever the browser ranks higher; Japanese when it names neither."""
    ranked: list[tuple[float, int, PageLocale]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        if lang in LOCALES:
            ranked.append((_quality(params), -position, lang))
    best = max(ranked, default=None)
    return best[2] if best and best[0] > 0 else "ja"


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def load_catalogue(path: Path) -> Catalogue:
    """{lang: {key: text}}; both languages must name the same keys (a missing text is a bug)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    tables: dict[str, dict[str, str]] = {
        lang: {str(k): str(v) for k, v in data[lang].items()} for lang in LOCALES
    }
    ja, en = set(tables["ja"]), set(tables["en"])
    if ja != en:
        raise ValueError(f"{path.name}: keys in one language only: {sorted(ja ^ en)}")
    return tables


class Wording:
    """One page's texts in one language, as a template's ``t(key, **values)``.

    The text goes into the page as written (it comes from the reviewed wording file, and may hold
    quotes); the values are escaped, as ``{{ value }}`` would be, so the page is what a template with
    the text written in would render.
    """

    def __init__(self, texts: Mapping[str, str]) -> None:
        self._texts = texts

    def __call__(self, key: str, **values: object) -> Markup:
        text = Markup(self._texts[key])
        return text.format(**values) if values else text


def page_locales(
    company_locale: CompanyLocale | None, accept_language: str | None, override: str | None
) -> list[PageLocale]:
    """The languages of a page, first the main one.  Two when the company is unknown."""
    if override in LOCALES:
        return [override]
    if company_locale in ("ja", "en"):
        return [company_locale]
    browser = preferred_locale(accept_language)
    if company_locale == "auto":
        return [browser]
    return [browser, "en" if browser == "ja" else "ja"]


@dataclass(frozen=True)
class Mail:
    subject: str
    body: str


class Pages:
    """The template environment, with the values every page may show."""

    def __init__(self, live: LiveConfig) -> None:
        root = live.current.templates_dir or default_templates_dir()
        self.root = root
        self._live = live
        self._wordings: dict[str, Catalogue | None] = {}
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(root),
            # Every page is escaped; only the plain-text mail (``*.txt``) is not HTML.
            autoescape=lambda name: not (name or "").endswith(".txt"),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def _shared(self, context: dict[str, Any]) -> dict[str, Any]:
        """The values every page may show, from the configuration as of now (a reload may change the
        operator's and the agency's names and the consent texts' figures), then the page's own."""
        config = self._live.current
        shared: dict[str, Any] = {
            "operator_name": config.operator_name,
            "partner_name": config.partner_name,
            "partner_url": config.partner_url,
            "partner_license": config.partner_license,
            "privacy_contact": config.privacy_contact,
            "retention_days": config.personal_data_retention_days,
            "consent_version": config.consent_version,
            "confirm_hours": int(config.confirm_ttl.total_seconds() // 3600),
            "provision_record_years": config.provision_record_years,
            "talent_pool_consent_version": config.talent_pool_consent_version,
            "talent_pool_retention_days": config.talent_pool_retention_days,
        }
        return {**shared, **context}

    def html(self, template_name: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = self._env.get_template(template_name).render(self._shared(context))
        return HTMLResponse(body, status_code=status)

    def page(self, page_name: str, locale: PageLocale, status: int = 200, **context: Any) -> HTMLResponse:
        """One page in one language: ``{page_name}.{locale}.html``, or ``{page_name}.html`` worded by
        ``{page_name}_text.toml`` (given to the template as ``t``) when the page has a wording file."""
        wording = self._wording(page_name)
        if wording is None:
            return self.html(f"{page_name}.{locale}.html", status, lang=locale, **context)
        return self.html(f"{page_name}.html", status, lang=locale, t=Wording(wording[locale]), **context)

    def _wording(self, page_name: str) -> Catalogue | None:
        # Read on a page's first use; two requests racing to it just read the same file twice.
        if page_name not in self._wordings:
            path = self.root / f"{page_name}_text.toml"
            self._wordings[page_name] = load_catalogue(path) if path.is_file() else None
        return self._wordings[page_name]

    def notice(self, kind: str, locales: Sequence[PageLocale], status: int, **context: Any) -> HTMLResponse:
        """A short message page (invalid link, expired link, ...) in one or both languages."""
        context.setdefault("back_url", None)
        context.setdefault("company_name", None)
        return self.html("notice.html", status, kind=kind, locales=list(locales), lang=locales[0], **context)

    def mail(self, mail_name: str, locale: PageLocale, **context: Any) -> Mail:
        """A mail from ``{mail_name}.{locale}.txt``: its first line is ``Subject: ...``, then a blank line."""
        text = self._env.get_template(f"{mail_name}.{locale}.txt").render(self._shared(context))
        head, _, body = text.partition("\n\n")
        subject = head.removeprefix("Subject:").strip()
        return Mail(subject, body.strip() + "\n")

    def static(self, name: str) -> bytes:
        return (self.root / "static" / name).read_bytes()
