"""Render the Career Relay block (text and HTML, Japanese and English) from jinja2 templates.

The wording lives in ``templates/snippets/`` (package data, read through importlib.resources) so that
it can be reviewed and changed without code.  Candidates read the block, so it carries no visible
machine tag: a message (or a reply quoting it) that already holds a block is recognised by our header,
by our own signed link, or by the invisible HTML comment that opens every HTML block (see
``mail/own_block``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2
import markupsafe

__all__ = [
    "HTML_MARKER",
    "LOCALES",
    "MARKER_CORE",
    "MARKER_PATTERN",
    "RenderedBlock",
    "SnippetRenderer",
    "has_marker",
]

# First thing in every HTML block; invisible to the reader.
HTML_MARKER = "<!-- career-relay:v1 -->"
LOCALES = ("ja", "en")

# Any version of the HTML comment, and the visible last line ("[career-relay:v1]") of the text blocks
# earlier versions spliced: their mail, quoted in a reply, must not get a second block either.
MARKER_PATTERN = r"\[career-relay:v\d+\]|<!--\s*career-relay:v\d+\s*-->"  # ASCII: also read as bytes
#: What every marker holds: a page without it needs no regex search (a plain search is far faster).
MARKER_CORE = "career-relay:v"
_ANY_MARKER = re.compile(MARKER_PATTERN)


@dataclass(frozen=True)
class RenderedBlock:
    """One block in both forms. ``text`` starts and ends with a blank line and uses "\\n"."""

    text: str
    html: str
    locale: str


def _default_templates_dir() -> Path:
    # An installed package is a directory on disk; jinja2's FileSystemLoader wants a real path.
    return Path(str(resources.files("relay_smtp").joinpath("templates")))


class SnippetRenderer:
    """Loads and compiles the four block templates once; renders them per message and recipient.

    ``templates_dir`` is the templates root (the one holding ``snippets/``); by default the
    package's ``relay_smtp/templates``.
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
        link = values["link"]
        return RenderedBlock(text=_frame_text(text, link), html=_frame_html(html, link), locale=locale)


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _frame_text(text: str, link: str) -> str:
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    # The link on a line of its own is what a later pass recognises the block by (and what a
    # candidate's mail program makes clickable).
    if link not in lines:
        raise ValueError("a text block template must hold {{ link }} on a line of its own")
    return "\n" + "\n".join(lines) + "\n\n"


def _frame_html(html: str, link: str) -> str:
    html = html.strip() + "\n"
    if not html.startswith(HTML_MARKER):
        raise ValueError("an HTML block template must start with " + HTML_MARKER)
    if link and str(markupsafe.escape(link)) not in html:
        raise ValueError("an HTML block template must hold {{ link }}")
    return html


def has_marker(decoded_text: str) -> bool:
    """True if the text holds a Career Relay block marker (text or HTML, any version)."""
    return MARKER_CORE in decoded_text and _ANY_MARKER.search(decoded_text) is not None
