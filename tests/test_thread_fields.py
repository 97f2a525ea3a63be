"""The re-application recorder takes the header fields the pipeline read (`Outcome.thread`) instead of
parsing the header again, and they are what its own reading (compat32's values) gives."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path

from test_reapplication import ODD_HEADERS

from relay_smtp.links import PersonalLink
from relay_smtp.mail.message import ParsedMessage
from relay_smtp.pipeline import Envelope, Outcome, PipelineConfig, ThreadFields, process, process_first
from relay_smtp.pipeline_data import THREAD_FIELDS
from relay_smtp.recontact import observed_mail, read_thread

CLASSIFY = Path(__file__).parent / "data" / "classify"
AT = datetime(2026, 10, 5, 1, 0, tzinfo=UTC)
ENVELOPE = Envelope("jobs@acme.example", ("candidate@example.org",))
CONFIG = PipelineConfig(link_for=lambda company, recipient, mid: PersonalLink("https://l.example/x"))
PASSED = Outcome("passed", "not a rejection", ())


def own_reading(raw: bytes) -> ThreadFields:
    """What the recorder reads from the header bytes when nothing is carried."""
    mail = observed_mail(raw, "a@x", ["b@y"], PASSED, AT)
    assert mail is not None and mail.thread is None
    return read_thread(mail)


def test_the_pipeline_hands_the_recorder_its_own_reading(corpus: list[Path]) -> None:
    raws = [*ODD_HEADERS, *(p.read_bytes() for p in [*corpus, *sorted(CLASSIFY.glob("*.eml"))])]
    carried = 0
    for raw in raws:
        outcome, _ = process_first(raw, ENVELOPE, CONFIG)
        expected = own_reading(raw)
        thread = outcome.thread
        if thread is None:
            continue
        carried += 1
        assert (thread.from_value, thread.message_id, thread.in_reply_to, thread.references) == (
            expected.from_value,
            expected.message_id,
            expected.in_reply_to,
            expected.references,
        ), raw[:300]
        if thread.from_address is not None:
            assert thread.from_address == parseaddr(thread.from_value)[1]
        mail = observed_mail(raw, "a@x", ["b@y"], outcome, AT)
        assert mail is not None and mail.thread is thread and mail.header == b""  # nothing to parse
    assert carried > len(raws) * 3 // 4  # the pipeline's reading, not the recorder's, serves most mail


def test_sections_compat32_reads_otherwise_are_left_to_the_recorder() -> None:
    """An 8-bit header, a bare CR, an mbox line, "Name :", a stray line, no blank line: not carried."""
    odd = [raw for raw in ODD_HEADERS if ParsedMessage.parse(raw).compat_values(THREAD_FIELDS) is None]
    assert len(odd) >= 7
    for raw in odd:
        assert process(raw, ENVELOPE, CONFIG).thread is None
        mail = observed_mail(raw, "a@x", ["b@y"], process(raw, ENVELOPE, CONFIG), AT)
        assert mail is not None and mail.thread is None and mail.header == raw[: len(mail.header)]
