"""Our own block is recognised without a visible tag: by header, by our signed link, by the HTML comment.

A second pass over the relay's output and a candidate's reply quoting the block (text or HTML, in any
transfer encoding, with the header gone and the HTML comment dropped) never get a second block, while
a link some other key signed does not stop a block.
"""

from __future__ import annotations

import base64
import quopri

from relay_smtp.config import Company
from relay_smtp.links import LinkSigner, PersonalLink, link
from relay_smtp.mail.own_block import holds_own_block, own_link_check
from relay_smtp.pipeline import Envelope, Outcome, PipelineConfig, process

SECRET = "own-block-test-secret-0123456789"
PUBLIC = "https://relay.example.co.jp"
ENVELOPE = Envelope("recruit@acme.example", ("cand@example.org",))
REJECTION = (
    b"From: =?UTF-8?B?5o6h55So5ouF5b2T?= <recruit@acme.example>\r\nTo: cand@example.org\r\n"
    b"Subject: Your application\r\nMessage-ID: <m1@acme.example>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    b"Dear Sam,\r\n\r\nWe regret that we will not move forward with your application.\r\n\r\n-- \r\nHR\r\n"
    b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<html><body><p>Dear Sam,</p><p>We regret that we will not move forward.</p></body></html>\r\n"
    b"--b--\r\n"
)
ACME = Company(id="acme", name="ACME Inc.", mode="enforce", recruiting_senders=("recruit@acme.example",))


def config_for(signer: LinkSigner) -> PipelineConfig:
    return PipelineConfig(
        companies=(ACME,),
        link_for=lambda company, recipient, mid: PersonalLink(
            link(PUBLIC, signer.issue(company.id, recipient, "m1"))
        ),
        own_link=own_link_check(signer),
    )


CONFIG = config_for(LinkSigner([SECRET]))


def run(raw: bytes, config: PipelineConfig = CONFIG) -> Outcome:
    return process(raw, ENVELOPE, config, force=True)


def spliced() -> bytes:
    outcome = run(REJECTION)
    assert outcome.action == "injected", outcome.reason
    return outcome.outgoing[0].data


def text_part(message: bytes) -> bytes:
    return message.split(b"Content-Type: text/plain; charset=us-ascii\r\n\r\n", 1)[1].split(b"\r\n--b")[0]


def html_part(message: bytes) -> bytes:
    return message.split(b"Content-Type: text/html; charset=utf-8\r\n\r\n", 1)[1].split(b"\r\n--b")[0]


def test_the_text_block_has_no_marker_line() -> None:
    text = text_part(spliced())
    block = text[text.index(b"We regret") :]
    assert b"/r/" in block
    assert b"career-relay" not in block.lower()  # nothing machine-made for the candidate to read
    assert b"[" not in block  # not even a bracketed tag of another spelling
    html = html_part(spliced())
    assert b"<!-- career-relay:v1 -->" in html  # invisible in HTML
    assert b"[career-relay" not in html


def test_second_pass_adds_no_second_block() -> None:
    once = spliced()
    again = run(once)
    assert (again.action, again.reason) == ("passed", "already carries the Career Relay block")
    assert again.outgoing[0].data == once


def test_second_pass_without_our_header_still_adds_nothing() -> None:
    once = spliced().replace(b"X-Career-Relay: injected\r\n", b"")
    assert run(once).action == "passed"


def reply_quoting(quoted_text: bytes, html: bytes | None = None, cte: str = "7bit") -> bytes:
    head = (
        b"From: Sam <cand@example.org>\r\nTo: recruit@acme.example\r\nSubject: Re: Your application\r\n"
        b"MIME-Version: 1.0\r\n"
    )
    body = b"Thank you anyway.\r\n\r\n" + b"".join(
        b"> " + line + b"\r\n" for line in quoted_text.split(b"\r\n")
    )
    if cte == "quoted-printable":
        # A mail program that encodes the reply: the long link line gets soft line breaks.
        encoded = quopri.encodestring(body.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
        assert b"=\r\n" in encoded
        body = encoded
    elif cte == "base64":
        body = base64.encodebytes(body).replace(b"\n", b"\r\n")
    parts = b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: " + cte.encode()
    if html is None:
        return head + parts + b"\r\n\r\n" + body
    return (
        head
        + b'Content-Type: multipart/alternative; boundary="r"\r\n\r\n--r\r\n'
        + parts
        + b"\r\n\r\n"
        + body
        + b"\r\n--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        + html
        + b"\r\n--r--\r\n"
    )


def test_quoted_reply_gets_no_second_block_in_any_transfer_encoding() -> None:
    quoted = text_part(spliced())
    for cte in ("7bit", "quoted-printable", "base64"):
        outcome = run(reply_quoting(quoted, cte=cte))
        assert (outcome.action, outcome.reason) == ("passed", "already carries the Career Relay block"), cte


def test_quoted_html_reply_without_the_comment_gets_no_second_block() -> None:
    # Webmail drops HTML comments when it quotes; our link in the quote is enough.
    html = html_part(spliced()).replace(b"<!-- career-relay:v1 -->", b"")
    reply = reply_quoting(b"(see below)", html=b"<blockquote>" + html + b"</blockquote>")
    assert run(reply).action == "passed"


def test_a_link_signed_by_another_key_does_not_stop_the_block() -> None:
    other = config_for(LinkSigner(["someone-elses-secret-0123456789"]))
    quoted = text_part(run(REJECTION, other).outgoing[0].data)
    outcome = run(reply_quoting(quoted))
    assert outcome.action == "injected", outcome.reason


def test_an_expired_link_of_ours_is_still_ours() -> None:
    old = LinkSigner([SECRET], 1, clock=lambda: 1_000_000.0).issue("acme", "cand@example.org", "m1")
    data = b"> Register here:\r\n> " + link(PUBLIC, old).encode() + b"\r\n"
    assert holds_own_block(data, own_link_check(LinkSigner([SECRET], 1)))
    assert not holds_own_block(data, own_link_check(LinkSigner(["another-secret-0123456789"], 1)))
    assert not holds_own_block(data, None)  # without a key only the markers count


def test_markers_of_earlier_versions_are_recognised() -> None:
    assert holds_own_block(b"> [career-relay:v1]\r\n", None)
    assert holds_own_block(b"<!--career-relay:v2-->", None)
    assert not holds_own_block(b"see https://example.org/r/abc.def and career relay", None)
