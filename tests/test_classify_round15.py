"""Round 15 of the classifier (tuning on the former held-out set 11): variants written by us, by
class, for each round-15 principle; each trap beside them must stay "other" (precision first).

The principles: a refusal word said of something other than the reader's job outcome is not a
rejection (a survey that quotes the notice, an apology about the timing of a decision still to come,
a slot or a date that did not work out, a grant, award or fund refused, the reader's own decline of
an offer); a cue counts against an outcome only in its own role (a request made under a condition,
a job title that is also a supplier's word, a call offered about other openings, a forwarded
subject); the job-context gate opens on the words of hiring it had not known; and outcome wordings
are classes with their variants.
None of these sentences is taken from any labelled set: they are our own wording of each kind.
"""

from __future__ import annotations

import pytest
from classify_mail import reasons, verdict

JA_REJECTIONS = [
    # a rejection that also asks for a survey (unquoted: the outcome is this mail's own)
    "佐野様\n\n選考の結果、今回は採用を見送らせていただきます。\n今後の改善のため、アンケートへのご協力をお願いいたします。\n",
]

JA_OTHERS = [
    # a survey whose questions quote the notice
    "佐野様\n\n先日は選考にご参加いただきありがとうございました。採用活動を見直すためのアンケートです。\n"
    "設問の例：「不採用のお知らせは届くのが早かったですか」「面接の時間は適切でしたか」\n",
]

EN_REJECTIONS = [
    # a rejection that also asks for a survey (unquoted)
    "Dear Sam,\n\nWe are sorry to tell you that you have not been selected for the Planner role. We would "
    "value your view of our process in a two-minute survey.\n",
    # a rejection after an apology for the wait
    "Dear Sam,\n\nApologies that this took longer than we said. We have decided not to proceed with your "
    "application for the Planner role.\n",
    # "it didn't work out" of the outcome, not of a slot
    "Hi Sam,\n\nThanks for the trial shift on Saturday. I'm afraid it didn't work out, and we won't be "
    "offering you the job.\n",
    # a grant named in a job title: the role opens the gate
    "Dear Sam,\n\nThank you for applying for the Grants Officer role. We regret to inform you that your "
    "application has not been successful.\n",
]

EN_OTHERS = [
    # a survey whose questions quote the notice
    "Hi Sam,\n\nWe are asking everyone who applied this spring to answer a five-minute questionnaire. One "
    'question: "Did the message saying you were not selected reach you promptly?" Answers are anonymous.\n',
    # an apology about the timing of a decision still to come
    "Dear Sam,\n\nThank you for meeting us. I'm sorry to say the panel cannot meet the deadline we gave you "
    "for the Planner role. No decision has been made yet, and I will write again next week.\n",
    "Dear Sam,\n\nThanks for your patience after the interview. We are sorry to tell you that our decision "
    "has been delayed by a week; you remain under consideration.\n",
    # a slot or a date that did not work out, beside an invitation
    "Hi Sam,\n\nThanks for your time on the phone. Unfortunately it didn't work out with the Thursday slot "
    "we discussed for the Planner interview, so Priya will write with two other days.\n",
    # a grant, an award, a fund refused
    "Dear Sam,\n\nThank you for your application. We regret to inform you that it has not been successful "
    "this round: the panel funded projects with wider reach. The heritage fund opens again in May.\n",
    "Dear Sam,\n\nThank you for entering the Young Makers scheme. I'm sorry to tell you your application was "
    "not successful; the awards panel read three hundred entries.\n",
    # the reader's own decline of an offer, written by the reader
    "Dear Ms Lee,\n\nThank you so much for offering me the Planner job. After a lot of thought I have decided "
    "to decline, as I am staying with my current team. I'm sorry to say it, and I wish you all the best.\n",
    "Dear Ms Lee,\n\nI'm sorry to tell you that I must respectfully decline your kind offer of the Planner "
    "position. Thank you for your time.\n",
]


@pytest.mark.parametrize("body", JA_REJECTIONS)
def test_japanese_round15_variants_are_rejections(body: str) -> None:
    v = verdict(body, "選考結果のご連絡")
    assert v.label == "rejection", reasons(v)


@pytest.mark.parametrize("body", JA_OTHERS)
def test_japanese_round15_traps_are_not_rejections(body: str) -> None:
    v = verdict(body, "ご連絡")
    assert v.label == "other", reasons(v)


@pytest.mark.parametrize("body", EN_REJECTIONS)
def test_english_round15_variants_are_rejections(body: str) -> None:
    v = verdict(body, "Your application")
    assert v.label == "rejection", reasons(v)


@pytest.mark.parametrize("body", EN_OTHERS)
def test_english_round15_traps_are_not_rejections(body: str) -> None:
    v = verdict(body, "Your application")
    assert v.label == "other", reasons(v)


def test_an_invitation_back_for_another_interview_counts_as_an_invitation() -> None:
    body = (
        "Hi Sam,\n\nThanks for Tuesday. I'm sorry to say Wednesday is now taken, but we'd love to invite you "
        "back for a second interview for the Planner role next week.\n"
    )
    v = verdict(body, "Your application")
    assert v.label == "other", reasons(v)
    assert any(s.weight <= -8 and "invite you back" in s.matched for s in v.reasons), reasons(v)
