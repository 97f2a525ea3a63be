"""Finding the sign-off / quoted-history element of a mail page (mail/landmarks.py)."""

from __future__ import annotations

import pytest

from relay_smtp.mail.landmarks import find_landmark, may_have_landmark


@pytest.mark.parametrize(
    ("page", "name", "rank", "where"),
    [
        ('<div>a</div><div class="x gmail_quote">q</div>', "div", 1, "Gmail quote"),
        ('<p>hi</p><div id="divRplyFwdMsg">From: x</div>', "div", 0, "Outlook reply header"),
        ('<div style="border:none; border-top: solid #E1E1E1 1.0pt">x</div>', "div", 0, "border-top"),
        # Apple Mail: only <br> and blank text before the quote: the wrapping <div> is the landmark.
        (
            '<div>a</div><div>\n<br>  <!-- --><blockquote type="cite">q</blockquote></div>',
            "div",
            1,
            "type=cite",
        ),
        # Text before the quote: the blockquote itself.
        ('<div>see below<blockquote type="cite">q</blockquote></div>', "blockquote", 0, "type=cite"),
        ('<p>x</p><p class="MsoNormal"><b><a name="_MailAutoSig">sig</a></b></p>', "p", 1, "_MailAutoSig"),
        # Content after </html> (footers appended by list software) is read, as readers show it.
        ('<html><body><p>a</p></body></html><div class="gmail_quote">q</div>', "div", 0, "Gmail quote"),
    ],
)
def test_the_first_landmark_and_its_rank(page: str, name: str, rank: int, where: str) -> None:
    found = find_landmark(page)
    assert found is not None
    assert (found.name, found.rank) == (name, rank)
    assert where in found.where


def test_the_first_in_document_order_wins() -> None:
    page = '<div id="Signature">s</div><div class="gmail_quote">q</div>'
    found = find_landmark(page)
    assert found is not None and "Outlook signature" in found.where
    assert dict(found.attrs) == {"id": "Signature"}


@pytest.mark.parametrize("page", ["", "   ", "<p>plain</p>", '<blockquote type="other">x</blockquote>'])
def test_no_landmark(page: str) -> None:
    assert find_landmark(page) is None


def test_the_pre_check_only_lets_through_pages_that_name_a_landmark() -> None:
    assert may_have_landmark(b'<div class="GMAIL_QUOTE">')
    assert not may_have_landmark(b"<div><p>plain page</p></div>")
