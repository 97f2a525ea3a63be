"""The From value is read once per message (`sender_company.read_from`), and every step that asks
for it (the sender lookup, the header check, the fallback company) gets what ``email.utils`` gives."""

from __future__ import annotations

from email.utils import getaddresses, parseaddr
from pathlib import Path

from relay_smtp.header_check import header_problem
from relay_smtp.mail.message import ParsedMessage
from relay_smtp.sender_company import FromField, fallback_company, read_from

CLASSIFY = Path(__file__).parent / "data" / "classify"


def messages(corpus: list[Path]) -> list[ParsedMessage]:
    paths = [*corpus, *sorted(CLASSIFY.glob("*.eml"))]
    return [ParsedMessage.parse(path.read_bytes()) for path in paths]


def test_the_header_check_reads_the_pipeline_parse_as_its_own(corpus: list[Path]) -> None:
    """Handed the pipeline's From, the check finds what it finds on its own, message by message."""
    with_address = 0
    for message in messages(corpus):
        sender = read_from(message.header("From"))
        assert header_problem(message.raw, message.root, sender) == header_problem(message.raw, message.root)
        assert fallback_company(message.raw, message.root, sender) == fallback_company(
            message.raw, message.root
        )
        with_address += sender.address != ""
    assert with_address > 1000


def test_the_header_check_takes_the_addresses_it_is_handed() -> None:
    """For the same text it does not parse again (an empty parse says so); for another text it does."""
    raw = b"From: Recruiting <jobs@acme.example>\r\nSubject: x\r\n\r\nbody\r\n"
    message = ParsedMessage.parse(raw)
    empty = FromField("Recruiting <jobs@acme.example>", (), ("", ""))
    assert header_problem(raw, message.root, empty) == "the From field has no address the relay can read"
    other = FromField("someone else", (), ("", ""))
    assert header_problem(raw, message.root, other) is None


def test_read_from_is_email_utils(corpus: list[Path]) -> None:
    for message in messages(corpus):
        text = message.header("From")
        sender = read_from(text)
        assert sender.addresses == tuple(getaddresses([text or ""]))
        assert sender.pair == parseaddr(text or "")
