"""Render the Career Relay block (text and HTML, Japanese and English) from jinja2 templates.

The wording lives in ``templates/snippets/`` so that it can be reviewed and changed without code.
Every rendered block carries a marker, so that a message (or a reply quoting it) that already holds a
block is recognised and never gets a second one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

__all__ = [
    "HTML_MARKER",
    "LOCALES",
    "TEXT_MARKER",
    "RenderedBlock",
    "SnippetRenderer",
    "has_marker",
]

# Visible in the text block (its last line) and, small and grey, in the HTML block: webmail clients
# drop HTML comments when a candidate replies, the visible token survives quoting.
TEXT_MARKER = "[career-relay:v1]"
# First thing in every HTML block.
HTML_MARKER = "<!-- career-relay:v1 -->"
LOCALES = ("ja", "en")

# Any version of either marker: a block spliced by an older or newer relay counts too.
_ANY_MARKER = re.compile(r"\[career-relay:v\d+\]|<!--\s*career-relay:v\d+\s*-->")


@dataclass(frozen=True)
class RenderedBlock:
    """One block in both forms. ``text`` starts and ends with a blank line and uses "\\n"."""

    text: str
    html: str
    locale: str


def _default_templates_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "templates"


class SnippetRenderer:
    """Loads and compiles the four block templates once; renders them per message and recipient.

    ``templates_dir`` is the templates root (the one holding ``snippets/``); by default the
    repository's top-level ``templates/`` directory.
    """

    def __init__(self, templates_dir: Path | None = None) -> None:
        root = templates_dir or _default_templates_dir()
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(root / "snippets"),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        self._templates = {
            (locale, kind): environment.get_template(f"block.{locale}.{kind}")
            for locale in LOCALES
            for kind in ("txt", "html")
        }

    def render(self, *, locale: str, company_name: str, link: str) -> RenderedBlock:
        if locale not in LOCALES:
            raise ValueError(f"unknown locale {locale!r}; expected one of {LOCALES}")
        # A line break in a value would let it reshape the block (or break a line limit).
        values = {"company_name": _one_line(company_name), "link": _one_line(link)}
        text = self._templates[locale, "txt"].render(values)
        html = self._templates[locale, "html"].render(values)
        return RenderedBlock(text=_frame_text(text), html=_frame_html(html), locale=locale)


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _frame_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    if TEXT_MARKER not in lines:
        raise ValueError("a text block template must contain the marker line " + TEXT_MARKER)
    return "\n" + "\n".join(lines) + "\n\n"


def _frame_html(html: str) -> str:
    html = html.strip() + "\n"
    if not html.startswith(HTML_MARKER):
        raise ValueError("an HTML block template must start with " + HTML_MARKER)
    return html


def has_marker(decoded_text: str) -> bool:
    """True if the text holds a Career Relay block marker (text or HTML, any version)."""
    return bool(_ANY_MARKER.search(decoded_text))
