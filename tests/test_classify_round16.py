"""Round 16 of the classifier (tuning on the former held-out set 12): variants written by us, by
class, for each round-16 principle; each trap beside them must stay "other" (precision first).

The principles: outcome wordings are classes with their variants (another way chosen, every place
filled, the non-native business English of firms writing from Japanese, public-sector forms, a lack
that stops the application, a relayed one-word no, the role given to someone asked, "yours" not
taken forward); a cue counts against an outcome only in its own role (a job title's "Rental", a
buyer's "supplier negotiation", a hiring test's "reviewers", a call or a reply asked for about other
openings); a refusal of something other than the reader's job is not a rejection (a flat let to
another applicant, the reader's own decline acknowledged, a colleague asked to draft a decline, a
request about documents answered); a Japanese condition said before the outcome is a condition; the
job-context gate opens on a post named as what someone is a candidate for.
None of these sentences is taken from any labelled set: they are our own wording of each kind.
"""

from __future__ import annotations

import pytest
from classify_mail import reasons, verdict

EN_FRAME_REJECTIONS = [
    # another way chosen, said plainly
    "Hi Sam,\n\nThanks for coming in on Monday. We've gone a different direction for the Planner role. "
    "Good luck.\n",
    # every place filled
    "Hi Sam,\n\nThanks for applying for the kitchen porter job. We're fully staffed for the summer now, "
    "sorry.\n",
    "Hi Sam,\n\nThanks for your interest in the orchard picker job. We've got all the hands we need this "
    "year.\n",
    # non-native business English
    "Dear Mr. Sam Lee,\n\nThank you for your application to our company. As a result of the screening, "
    "regrettably we could not meet your hopes this time.\n",
    "Dear Mr. Sam Lee,\n\nThank you for attending our interview for the Engineer position. After "
    "deliberation, we have to refrain from employing you this time.\n",
    "Dear Mr. Sam Lee,\n\nWe regret to notify that you did not pass the first document screening for the "
    "Engineer position.\n",
    "Dear Ms. Sam Lee,\n\nThank you for your application to the Sales position. After the interview, we "
    "decided not to adopt you this time. We are sorry we could not answer your desire.\n",
    # public-sector forms
    "Dear Applicant,\n\nYour application for Clerk Typist has been reviewed. You were found not to meet the "
    "minimum qualifications for this position.\n",
    "Dear Applicant,\n\nYour application for the Records Clerk post was assessed. Your written test score is "
    "under our cut-off, so you will not be invited to the next interview stage.\n",
    # a lack that stops the application
    "Dear Sam,\n\nThank you for your application for the Forklift Driver role. We cannot proceed because you "
    "don't hold a current forklift licence.\n",
    # a relayed one-word no
    "Hi Sam,\n\nHeard back from the client about the Data Engineer interview. I'm afraid the answer is a no "
    "this time.\n",
    # the role given to someone asked
    "Dear Sam,\n\nThank you for applying for the caretaker position. The board has appointed a retired "
    "member of staff to take on the role.\n",
    # "yours" not taken forward
    "Hi Sam,\n\nThanks for the design task for the Illustrator role. We've looked at everyone's work and we "
    "won't be moving ahead with yours.\n",
]

EN_ROLE_REJECTIONS = [
    # a job title's "Rental"
    "Hi Sam,\n\nThanks for applying for the Rental Associate job. We've decided to move forward with other "
    "applicants.\n",
    # a buyer's "supplier negotiation"
    "Dear Sam,\n\nThank you for applying for the Purchasing Assistant role. We were hoping for more supplier "
    "negotiation experience, so we will not be inviting you to interview.\n",
    # a hiring test's reviewers
    "Hi Sam,\n\nThanks for the writing exercise for the Copywriter role. The reviewers liked your tone, but "
    "we have decided not to move forward with your application.\n",
    # a reply asked for about other assignments
    "Hi Sam,\n\nOur client has decided not to proceed with your application for the Receptionist assignment. "
    "We have other temp assignments nearby. Please reply with your availability.\n",
]

EN_OTHERS = [
    # the reader's own decline acknowledged
    "Dear Sam,\n\nThanks for letting us know. We're sorry to hear you won't be joining us as Planner, and we "
    "respect your decision to stay with your current team.\n",
    "Dear Sam,\n\nI was sad to learn that you have decided to turn down our offer for the Planner role. The "
    "door stays open.\n",
    # a colleague asked to draft a decline, its wording quoted
    "Hi Jo,\n\nCould you draft a polite, short decline for the two Planner applicants? Something like 'we "
    "have decided not to proceed with your application'. Don't send it yet.\n",
    # a flat let to another applicant
    "Hi Sam,\n\nThanks for applying for the studio on Elm Street. Unfortunately the owner has decided to go "
    "with another applicant. A 1-bedroom nearby is free from March.\n",
    # a hire that waits on a condition
    "Dear Sam,\n\nThanks for applying for the Sales position. We cannot employ you until your work permit "
    "arrives, so please send it when you have it.\n",
    # a condition, not an outcome
    "Dear Sam,\n\nThanks for applying for the caretaker job. We are still reviewing applications and will "
    "write again once we have a shortlist; if we are fully staffed by then, we will tell you.\n",
]

JA_REJECTIONS = [
    # a call about other openings beside a relayed decline
    "佐野様\n\n企業様からのご回答は、今回は見送りとのことでした。ほかにもご経験を活かせる求人がございますので、"
    "改めてご紹介させてください。ご都合のよい日時をお知らせいただけますか。\n",
    # someone else taken, said as working on together
    "佐野さん\n\n先日はありがとうございました。今回のアルバイトは、ほかの方と一緒に進めていくことにしました。\n",
    # a condition in another sentence does not make the outcome conditional
    "佐野様\n\n選考の結果、今回は見送らせていただきます。ご不明な点がある場合は、お問い合わせください。\n",
    # a rejection that refuses to discuss its reasons is not an answer to the reader's question
    "佐野様\n\n選考の結果、今回は見送らせていただきます。なお、お問い合わせいただいても選考内容についてはお答え"
    "いたしかねます。応募書類は当社で破棄いたします。\n",
]

JA_CONTEXT_REJECTIONS = [
    # a post named as what someone is a candidate for
    "酒井様\n\n先日はお時間をいただきありがとうございました。社内で検討し、今回は店長候補としてお迎えすることを"
    "見送らせていただきます。\n",
]

JA_OTHERS = [
    # silence said to mean no: a condition before the outcome
    "佐野様\n\n書類選考の結果は、通過された方にのみご連絡いたします。3週間を過ぎてもご連絡がない場合は、今回は"
    "見送りとさせていただいたものとお考えください。\n",
    "佐野様\n\n一次面接の結果は来週お知らせします。10日以内に連絡がなければ、今回はご縁がなかったものとお考え"
    "ください。\n",
    # the reader's question about returning documents answered
    "佐野様\n\n先日お問い合わせいただいた履歴書の返送の件ですが、当社では返送を行っておりません。ご希望に沿えず"
    "申し訳ございません。\n",
]


@pytest.mark.parametrize("body", EN_FRAME_REJECTIONS)
def test_english_round16_outcome_frames_are_rejections(body: str) -> None:
    v = verdict(body, "Your application")
    assert v.label == "rejection", reasons(v)


@pytest.mark.parametrize("body", EN_ROLE_REJECTIONS)
def test_english_round16_job_words_do_not_count_against(body: str) -> None:
    v = verdict(body, "Update")
    assert v.label == "rejection", reasons(v)
    assert not any(s.weight < 0 for s in v.reasons if s.where == "body"), reasons(v)


@pytest.mark.parametrize("body", EN_OTHERS)
def test_english_round16_traps_are_not_rejections(body: str) -> None:
    v = verdict(body, "Your application")
    assert v.label == "other", reasons(v)


def test_the_same_topic_words_still_count_outside_a_job_title() -> None:
    """Rental, supplier and reviewers keep counting against where they name another kind of business."""
    bodies = {
        "Dear Sam,\n\nYour rental application for the flat on Elm Street was not successful.\n": "rental",
        "Dear Sam,\n\nThank you for your supplier registration. Your company was not selected.\n": "supplier",
        "Dear Sam,\n\nThe reviewers' comments on the paper are attached. It was not accepted.\n": "reviewers",
    }
    for body, word in bodies.items():
        v = verdict(body, "Your application")
        assert v.label == "other", reasons(v)
        assert any(s.weight < 0 and word in s.matched.lower() for s in v.reasons), reasons(v)


def test_the_readers_own_decline_acknowledged_blocks_the_outcome_signal() -> None:
    body = (
        "Dear Sam,\n\nThank you for your note. I'm sorry to hear that you will not be accepting our offer "
        "for the Analyst position, and I wish you well in your current role.\n"
    )
    v = verdict(body, "Re: Decision")
    assert v.label == "other", reasons(v)
    assert any(s.weight <= -8 for s in v.reasons), reasons(v)


@pytest.mark.parametrize("body", JA_REJECTIONS)
def test_japanese_round16_variants_are_rejections(body: str) -> None:
    v = verdict(body, "選考結果のご連絡")
    assert v.label == "rejection", reasons(v)


@pytest.mark.parametrize("body", JA_CONTEXT_REJECTIONS)
def test_japanese_round16_candidate_posts_open_the_gate(body: str) -> None:
    v = verdict(body, "ご連絡")
    assert v.label == "rejection", reasons(v)


@pytest.mark.parametrize("body", JA_OTHERS)
def test_japanese_round16_traps_are_not_rejections(body: str) -> None:
    v = verdict(body, "選考について")
    assert v.label == "other", reasons(v)


def test_a_public_service_examination_opens_the_gate() -> None:
    failed = (
        "Candidate No. 4417\n\nCivil Service Recruitment: your score in the written paper is below the pass "
        "mark. You will not be called to the interview stage.\n"
    )
    passed = (
        "Candidate No. 4417\n\nCivil Service Recruitment: your score in the written paper is above the pass "
        "mark. You will be called to the interview stage; the date follows.\n"
    )
    v = verdict(failed, "Examination result")
    assert v.label == "rejection", reasons(v)
    v = verdict(passed, "Examination result")
    assert v.label == "other", reasons(v)
