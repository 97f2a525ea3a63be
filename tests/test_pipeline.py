"""The pipeline on whole messages: what it changes, what it must leave alone, and the corpus property."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from test_mime import Node, counter, serialise
from test_mime import _tree as generated_tree

from relay_smtp.config import Company
from relay_smtp.links import LinkSigner, PersonalLink, link
from relay_smtp.mail.charsets import codec_name
from relay_smtp.mail.mime import MimePart, body_bytes, parse_mime
from relay_smtp.mail.own_block import own_link_check
from relay_smtp.mail.transfer import decode_body
from relay_smtp.pipeline import Envelope, Outcome, PipelineConfig, process
from relay_smtp.smtp.server import normalise_line_endings

LINK = "https://relay.example.co.jp/r/TESTTOKEN"
CONFIG = PipelineConfig(link_for=lambda company, recipient, message_id: PersonalLink(LINK))
ENVELOPE = Envelope("recruit@acme.example", ("cand@example.org",))
DATA = Path(__file__).parent / "data" / "pipeline"


def run(raw: bytes, *, force: bool = True, config: PipelineConfig = CONFIG) -> Outcome:
    return process(raw, ENVELOPE, config, force=force)


def leaves(root: MimePart) -> dict[str, MimePart]:
    return {p.path: p for p in root.walk() if not p.is_multipart}


def decoded_text(raw: bytes, part: MimePart) -> bytes:
    return decode_body(body_bytes(raw, part), part.cte).data


def as_text(data: bytes, part: MimePart) -> str:
    return data.decode(codec_name(part.charset or "us-ascii") or "latin-1", errors="strict")


def split_insertion(old: bytes | str, new: bytes | str) -> tuple[object, object]:
    """(what was removed, what was inserted) between two sequences with a common prefix and suffix."""
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    return old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]


def check_spliced_message(raw: bytes, outcome: Outcome) -> None:
    """The issue's invariants for one message the pipeline injected into."""
    [copy] = outcome.outgoing
    out = copy.data
    email.message_from_bytes(out, policy=email.policy.default)  # parses
    before, after = parse_mime(raw), parse_mime(out)
    old_leaves, new_leaves = leaves(before), leaves(after)
    assert old_leaves.keys() == new_leaves.keys()
    changed = {r.path for r in outcome.parts if r.changed}
    for path, old in old_leaves.items():
        new = new_leaves[path]
        if (path or "1") not in changed:
            assert body_bytes(out, new) == body_bytes(raw, old), f"part {path} changed"
            continue
        old_data, new_data = decoded_text(raw, old), decoded_text(out, new)
        if new.charset != old.charset:  # converted to UTF-8: compare as text
            try:
                old_text = as_text(old_data, old)
            except UnicodeDecodeError:  # undeclared 8-bit text that was UTF-8 all along
                old_text = as_text(old_data, new)
            removed, inserted = split_insertion(old_text, as_text(new_data, new))
            assert isinstance(inserted, str)
            assert inserted.count(LINK) == 1
        else:
            removed, inserted = split_insertion(old_data, new_data)
            assert isinstance(inserted, bytes)
            assert inserted.count(LINK.encode()) == 1, f"part {path}: link not exactly once"
        assert removed in (b"", "", b"{{career_relay}}", "{{career_relay}}"), removed
    old_lines = set(re.split(rb"\r\n", raw))
    for line in out.split(b"\r\n"):
        assert len(line) <= 998 or line in old_lines, "the relay wrote a line over 998 octets"


def test_non_rejection_passes_byte_identical() -> None:
    raw = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: lunch\r\n\r\nSee you at noon.\r\n"
    outcome = run(raw, force=False)
    assert outcome.action == "passed"
    assert outcome.outgoing[0].data is raw


def test_header_marked_rejection_gets_the_block_and_the_marker_header() -> None:
    raw = (
        b"From: Recruiting <recruit@acme.example>\r\nTo: cand@example.org\r\n"
        b"Subject: Your application\r\nX-Career-Relay: rejection\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        b"Dear Sam,\r\n\r\nThank you for applying.\r\n\r\n-- \r\nACME Recruiting\r\n"
    )
    outcome = run(raw, force=False)
    assert outcome.action == "injected", outcome.reason
    out = outcome.outgoing[0].data
    assert b"X-Career-Relay: injected\r\n" in out
    assert b"X-Career-Relay: rejection" not in out
    body = out.split(b"\r\n\r\n", 1)[1]
    assert body.index(LINK.encode()) < body.index(b"-- \r\nACME Recruiting")
    check_spliced_message(raw, outcome)


def test_second_pass_adds_nothing() -> None:
    raw = b"From: a@acme.example\r\nSubject: x\r\n\r\nWe regret.\r\n"
    first = run(raw).outgoing[0].data
    again = run(first)
    assert again.action == "passed"
    assert again.outgoing[0].data == first


def test_quoted_reply_containing_our_block_is_not_injected_again() -> None:
    # Our block is recognised in a quote by its link, whose token our key verifies.
    signer = LinkSigner(["pipeline-test-secret-0123456789"])
    config = PipelineConfig(
        link_for=lambda company, recipient, mid: PersonalLink(
            link("https://relay.example.co.jp", signer.issue("a", recipient, "m1"))
        ),
        own_link=own_link_check(signer),
    )
    original = (
        run(b"From: a@acme.example\r\nSubject: x\r\n\r\nWe regret.\r\n", config=config).outgoing[0].data
    )
    quoted_body = b"".join(
        b"> " + line + b"\r\n" for line in original.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    )
    reply = b"From: cand@example.org\r\nSubject: Re: x\r\n\r\nThanks anyway.\r\n\r\n" + quoted_body
    outcome = run(reply, config=config)
    assert (outcome.action, outcome.reason) == ("passed", "already carries the Career Relay block")


def test_subject_tag_is_removed_byte_for_byte() -> None:
    raw = b"From: r@acme.example\r\nSubject: [CR] Your application\r\n\r\nWe regret.\r\n"
    out = run(raw, force=False).outgoing[0].data
    assert b"Subject: Your application\r\n" in out


def test_audit_mode_changes_nothing() -> None:
    company = Company(id="acme", name="ACME", mode="audit", recruiting_senders=("@acme.example",))
    config = PipelineConfig(companies=(company,), link_for=lambda c, r, m: PersonalLink(LINK))
    raw = b"From: r@acme.example\r\nX-Career-Relay: rejection\r\nSubject: x\r\n\r\nWe regret.\r\n"
    outcome = process(raw, ENVELOPE, config)
    assert outcome.action == "audited"
    assert outcome.outgoing[0].data is raw


def test_a_bug_in_a_step_forwards_the_original(monkeypatch: pytest.MonkeyPatch) -> None:
    import relay_smtp.pipeline as pipeline

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline, "choose_parts", broken)
    raw = b"From: a@acme.example\r\nSubject: x\r\n\r\nWe regret.\r\n"
    outcome = run(raw)
    assert outcome.action == "failed"
    assert outcome.outgoing[0].data is raw


@pytest.mark.parametrize("path", sorted(DATA.glob("*.eml")), ids=lambda p: p.name)
def test_fixture_messages(path: Path) -> None:
    raw = normalise_line_endings(path.read_bytes())
    outcome = run(raw)
    expect_untouched = path.name.startswith("untouched_")
    if expect_untouched:
        assert outcome.action == "passed", outcome.reason
        assert outcome.outgoing[0].data == raw
    else:
        assert outcome.action == "injected", outcome.reason
        check_spliced_message(raw, outcome)
        again = run(outcome.outgoing[0].data)
        assert again.reason == "already carries the Career Relay block"


@pytest.mark.corpus
def test_corpus_property_with_force(corpus: list[Path]) -> None:
    failures: list[str] = []
    injected = 0
    for path in corpus:
        raw = normalise_line_endings(path.read_bytes())
        outcome = run(raw)
        if outcome.action == "failed":
            failures.append(f"{path}: pipeline failed")
            continue
        if outcome.action != "injected":
            assert outcome.outgoing[0].data is raw
            continue
        injected += 1
        try:
            check_spliced_message(raw, outcome)
            again = run(outcome.outgoing[0].data)
            assert again.action == "passed" and again.outgoing[0].data == outcome.outgoing[0].data
        except (AssertionError, UnicodeDecodeError, ValueError) as exc:
            failures.append(f"{path}: {exc}")
    assert failures == []
    assert injected > len(corpus) // 2


@settings(max_examples=150, deadline=None, database=None)
@given(generated_tree)
def test_generated_messages_keep_the_splice_invariants(tree: Node) -> None:
    raw = normalise_line_endings(
        b"From: hr@acme.example\r\nMIME-Version: 1.0\r\n" + serialise(tree, counter())
    )
    outcome = run(raw)
    assert outcome.action in ("injected", "passed"), outcome.reason
    if outcome.action == "passed":
        assert outcome.outgoing[0].data is raw
        return
    check_spliced_message(raw, outcome)
    again = run(outcome.outgoing[0].data)
    assert (again.action, again.outgoing[0].data) == ("passed", outcome.outgoing[0].data)
