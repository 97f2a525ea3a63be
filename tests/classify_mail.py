"""The classifier as the round tests call it: one hand-written mail from a recruiting sender.

Each tuning round's test file (test_classify_round*.py) writes its own variants and traps as plain
text; this module dresses a body and a subject as a UTF-8 message and classifies it with the
default rules, so every round reads its verdicts the same way.
"""

from __future__ import annotations

import base64

from relay_smtp.mail.classify import ClassifierRules, Sender, Verdict, classify

RULES = ClassifierRules()
RECRUITER = Sender(is_recruiting=True, company_domains=("example.com",))


def verdict(body: str, subject: str) -> Verdict:
    """Classify `body` under `subject`, sent by HR at example.com to a candidate elsewhere."""
    encoded = "=?UTF-8?B?" + base64.b64encode(subject.encode()).decode() + "?="
    head = (
        "From: HR <hr@example.com>\r\nTo: C <c@example.net>\r\n"
        f"Subject: {encoded}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    raw = (head + base64.encodebytes(body.encode()).decode()).encode()
    return classify(raw, RULES, RECRUITER, ["c@example.net"])


def reasons(v: Verdict) -> list[str]:
    """The verdict's reasons as `classify --json` words them."""
    return [str(s) for s in v.reasons]
