"""snippets.py: the block's wording, markers, escaping and locale guess."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from relay_smtp.mail.snippets import (
    HTML_MARKER,
    SnippetRenderer,
    has_marker,
)

LINK = "https://relay.example/r/eyJjIjoiYWNtZSJ9.c2ln?utm=mail&x=1"
TEMPLATES = Path(__file__).resolve().parents[1] / "relay_smtp" / "templates"


@pytest.fixture(scope="module")
def renderer() -> SnippetRenderer:
    return SnippetRenderer()


@pytest.mark.parametrize(("locale", "company"), [("ja", "株式会社サンプル"), ("en", "Example Corp")])
def test_text_block_shape(renderer: SnippetRenderer, locale: str, company: str) -> None:
    block = renderer.render(locale=locale, company_name=company, link=LINK)
    assert block.locale == locale
    assert block.text.startswith("\n") and block.text.endswith("\n\n")
    lines = block.text.strip("\n").split("\n")
    assert 4 <= len(lines) <= 7
    assert LINK in lines  # on a line of its own
    assert lines[-1] == LINK  # nothing machine-made after it: candidates read every line
    assert not has_marker(block.text)  # no visible machine tag
    assert all(len(line) < 76 and line == line.rstrip() for line in lines)
    assert company in block.text


def test_japanese_templates_fit_iso_2022_jp(renderer: SnippetRenderer) -> None:
    # ISO-2022-JP (JIS X 0208) is the strictest charset a Japanese part comes in.
    block = renderer.render(locale="ja", company_name="株式会社サンプル", link=LINK)
    block.text.encode("iso2022_jp")
    block.html.encode("iso2022_jp")


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_html_block_is_self_contained_and_escaped(renderer: SnippetRenderer, locale: str) -> None:
    block = renderer.render(locale=locale, company_name="A&B <Co>", link=LINK)
    assert block.html.startswith(HTML_MARKER)
    assert "A&amp;B &lt;Co&gt;" in block.html and "<Co>" not in block.html
    assert 'href="https://relay.example/r/eyJjIjoiYWNtZSJ9.c2ln?utm=mail&amp;x=1"' in block.html
    assert "border-top:" in block.html and "font-size:" in block.html
    for outside in ("class=", "<table", "src=", "url(", "<style", "<link"):
        assert outside not in block.html
    assert "[career-relay" not in block.html  # the only marker is the invisible comment
    assert "A&B <Co>" in renderer.render(locale=locale, company_name="A&B <Co>", link=LINK).text


def test_values_cannot_break_lines(renderer: SnippetRenderer) -> None:
    block = renderer.render(locale="en", company_name="Evil\r\nInc\n", link=LINK + "\n")
    assert "Evil Inc has partnered" in block.text
    assert f"\n{LINK}\n" in block.text


def test_unknown_locale(renderer: SnippetRenderer) -> None:
    with pytest.raises(ValueError, match="locale"):
        renderer.render(locale="fr", company_name="X", link=LINK)


def copy_templates(tmp_path: Path) -> Path:
    shutil.copytree(TEMPLATES / "snippets", tmp_path / "snippets")
    return tmp_path


def test_templates_dir_override_is_compiled_once(tmp_path: Path) -> None:
    root = copy_templates(tmp_path)
    (root / "snippets" / "block.en.txt").write_text(
        "Custom words for {{ company_name }}.\n{{ link }}\n", encoding="utf-8"
    )
    renderer = SnippetRenderer(root)
    (root / "snippets" / "block.en.txt").write_text("changed later\n", encoding="utf-8")
    block = renderer.render(locale="en", company_name="X", link=LINK)
    assert block.text == f"\nCustom words for X.\n{LINK}\n\n"


def test_a_template_without_marker_is_refused(tmp_path: Path) -> None:
    root = copy_templates(tmp_path)
    (root / "snippets" / "block.en.html").write_text("<div>{{ link }}</div>\n", encoding="utf-8")
    with pytest.raises(ValueError, match="must start with"):
        SnippetRenderer(root).render(locale="en", company_name="X", link=LINK)


def test_a_text_template_without_the_link_on_its_own_line_is_refused(tmp_path: Path) -> None:
    root = copy_templates(tmp_path)
    (root / "snippets" / "block.en.txt").write_text("Register at {{ link }} today.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line of its own"):
        SnippetRenderer(root).render(locale="en", company_name="X", link=LINK)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[career-relay:v1]", True),  # the visible last line of earlier versions' text blocks
        (HTML_MARKER, True),
        ("> [career-relay:v1]\n> quoted in a reply", True),
        ("<!--career-relay:v2-->", True),
        ("[career-relay:v7]", True),
        ("career relay is a nice name", False),
        ("[career-relay]", False),
    ],
)
def test_has_marker(text: str, expected: bool) -> None:
    assert has_marker(text) is expected
