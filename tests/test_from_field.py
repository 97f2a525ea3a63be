"""The From value is read once per message (`sender_company.read_from`), and every step that asks
for it (the sender lookup, the header check, the fallback company) gets what ``email.utils`` gives."""

from __future__ import annotations

from email.utils import getaddresses, parseaddr
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from relay_smtp.header_check import header_problem
from relay_smtp.mail.message import ParsedMessage
from relay_smtp.sender_company import FromField, fallback_company, read_from, simple_from

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


def test_the_usual_forms_take_the_short_way(corpus: list[Path]) -> None:
    """`simple_from` gives getaddresses' one pair, and reads most real From values (else it is no
    shortcut at all)."""
    values = [v for message in messages(corpus) if (v := message.header("From"))]
    simple = 0
    for value in values:
        pair = simple_from(value)
        if pair is not None:
            simple += 1
            assert [pair] == getaddresses([value]), value
    assert simple > len(values) * 3 // 4
    assert simple_from("Recruiting Team <jobs@acme.example>") == ("Recruiting Team", "jobs@acme.example")
    assert simple_from("jobs@acme.example") == ("", "jobs@acme.example")


# Pieces of From values: mostly of the characters of the usual forms, else with every character the
# address parser treats specially.
_CLEAN = {
    "name": st.sampled_from([*"aZ09 =?-_'", "採", "=?utf-8?b?5o6h?="]),
    "local": st.sampled_from([*"aZ09.!#$%&'*+/=?^_`{|}~-"]),
    "domain": st.sampled_from([*"aZ09.-"]),
}
_WILD = {
    "name": st.sampled_from([*"aZ09 .,;:@<>()\"[]\\'=?_-+\t/", "採", "\u3000", "\xa0", "=?utf-8?b?5o6h?="]),
    "local": st.sampled_from([*"aZ09.!#$%&'*+/=?^_`{|}~-\"@ <>(),\\", "é"]),
    "domain": st.sampled_from([*"aZ09.-[]_ @>(", "é"]),
}


def _piece(draw: st.DrawFn, kind: str, min_size: int) -> str:
    alphabet = (_WILD if draw(st.integers(0, 3)) == 0 else _CLEAN)[kind]
    return "".join(draw(st.lists(alphabet, min_size=min_size, max_size=12)))


@st.composite
def from_values(draw: st.DrawFn) -> str:
    name, local, domain = _piece(draw, "name", 0), _piece(draw, "local", 1), _piece(draw, "domain", 1)
    space = draw(st.sampled_from([" ", " ", "", "  ", "\t"]))
    form = draw(st.sampled_from(["named", "angle", "bare", "raw"]))
    if form == "named":
        return f"{name}{space}<{local}@{domain}>"
    if form == "angle":
        return f"<{local}@{domain}>{space}"
    if form == "bare":
        return f"{space}{local}@{domain}"
    return name + local + domain


@settings(max_examples=3000, deadline=None)
@given(from_values())
def test_read_from_is_email_utils_on_generated_values(value: str) -> None:
    sender = read_from(value)
    assert sender.addresses == tuple(getaddresses([value]))
    assert sender.pair == parseaddr(value)
