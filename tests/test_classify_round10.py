"""Round 10 of the classifier (tuning on the former fourth held-out set): variants written by us, by
kind, for each round-10 frame; each trap beside them must stay "other" (precision first).

None of these sentences is taken from any labelled set: they are our own wording of each kind.
"""

from __future__ import annotations

import pytest
from classify_mail import reasons, verdict

QUOTED = "quoted example in mail about rejection mail"


EN_REJECTIONS = [
    # not passed on to the people who hire
    "Dear Sam,\n\nThank you for applying for the Clerk II vacancy. Your application has not been "
    "forwarded to the hiring manager.\n",
    "Dear Sam,\n\nThank you for your interest in the Park Ranger job. After screening, your application "
    "will not be referred to the selecting official.\n",
    "Hi Sam,\n\nThanks for applying. We reviewed your CV and it was not passed on to the hiring team "
    "for this role.\n",
    "Dear Sam,\n\nThank you for applying for the Technician role. We have decided not to forward your "
    "application to the hiring manager.\n",
    "Dear Sam,\n\nThank you for applying for the Technician role. We will not be passing your CV on to "
    "the interview panel.\n",
    # the base form in the negation frame
    "Dear Sam,\n\nThank you for applying for the Staff Nurse post. We can't consider your application, "
    "as the post requires current registration.\n",
    "Hi Sam,\n\nThanks for applying to the warehouse role. We are not able to consider you for this "
    "position at this time.\n",
    # filled, then thanks for applying
    "Hi Sam,\n\nThe role you applied for has been filled. Thank you for applying.\n",
    "Sam,\n\nQuick note: the driver job was filled last week. Many thanks for your interest.\n",
    "Hi Sam,\n\nJust so you know, the cook position is now closed. Thanks again for applying!\n",
]

EN_OTHERS = [
    # passed on, or held back until something arrives
    "Dear Sam,\n\nThank you for applying. Your application has been forwarded to the hiring manager, who "
    "will be in touch.\n",
    "Dear Sam,\n\nYour application will not be forwarded to the hiring manager until we receive your "
    "references. Please send them by Friday.\n",
    "Dear Sam,\n\nThanks for applying for the role. We did not put you forward for the Monday panel "
    "because you asked for Tuesday; see you then.\n",
    # the base form with a condition: something is asked for
    "Dear Sam,\n\nWe cannot consider your application for the role without a cover letter; please upload "
    "one.\n",
    "Hi Sam,\n\nWe are unable to consider you for the role unless you can start in May. Could you confirm?\n",
    # filled, thanks, but not for applying: a note to the team
    "Hi team,\n\nThe analyst role is filled. Thanks for your help with the interviews.\n",
    # a job board's mail to its members: a quoted rejection line is the reader's situation
    "New jobs for you this week:\n- Barista, Riverside Cafe\n- Warehouse Operative, Northgate\n\nGot another "
    '"we regret to inform you" this week? Our career coaches can help with your next application.\n',
    'Your job alert: 3 new roles near you.\n\nTired of "unfortunately, we have decided not to move '
    'forward with your application"? Read our tips.\n',
]

JA_REJECTIONS = [
    "木村様\n\n先日は面接にお越しいただきありがとうございました。\n"
    "誠に残念ながら、木村様の選考もここまでとなります。\n",
    "木村様\n\n営業職へのご応募ありがとうございました。今回の選考はここまでとさせていただきます。\n",
    # an agency's rejection that also offers other openings: the outcome is not quoted, so it counts
    "木村様\n\nご紹介した経理職につきまして、企業様より今回は見送らせていただくとのご連絡がございました。"
    "あわせて、木村様へのおすすめ求人を改めてお送りします。\n",
    # a rejection that quotes its own status line, in mail that is not about job hunting as a topic
    "木村様\n\nご応募ありがとうございました。選考の結果、ステータスは「不採用」となりました。\n",
]

JA_OTHERS = [
    # progress so far, not the end of it
    "木村様\n\n選考をここまで進めていただき、ありがとうございます。最終面接の日程をご返信ください。\n",
    # a job board's mail to its members, with a list of openings and a quoted reader's situation
    "今週のおすすめ求人\n\n・株式会社ミナト 経理スタッフ\n・株式会社サクラ 営業職\n\n"
    "「今回は見送らせていただきます」が続いて落ち込んでいる方へ、面談も受け付けています。\n",
    "木村様\n\n・株式会社ミナト 経理スタッフ 月給25万円\n・株式会社サクラ 営業職 年収400万円\n"
    "・株式会社アオバ 総務職\n\n「誠に残念ながら不採用」という連絡を受けた方も、"
    "次の一社で決まることがあります。\n",
]


@pytest.mark.parametrize("body", EN_REJECTIONS)
def test_english_round10_variants_are_rejections(body: str) -> None:
    v = verdict(body, "Your application")
    assert v.label == "rejection", reasons(v)


@pytest.mark.parametrize("body", EN_OTHERS)
def test_english_round10_traps_are_not_rejections(body: str) -> None:
    v = verdict(body, "Update")
    assert v.label == "other", reasons(v)


@pytest.mark.parametrize("body", JA_REJECTIONS)
def test_japanese_round10_variants_are_rejections(body: str) -> None:
    v = verdict(body, "選考結果")
    assert v.label == "rejection", reasons(v)


@pytest.mark.parametrize("body", JA_OTHERS)
def test_japanese_round10_traps_are_not_rejections(body: str) -> None:
    v = verdict(body, "ご案内")
    assert v.label == "other", reasons(v)


def test_a_job_boards_quoted_rejection_line_is_listed_with_why_it_did_not_count() -> None:
    body = (
        "今週のおすすめ求人をお届けします。\n・株式会社ミナト 経理スタッフ\n\n"
        "「残念ながら不採用」が続く方は、キャリア面談をご利用ください。\n"
    )
    v = verdict(body, "今週の求人")
    quoted = {s.matched: s.weight for s in v.reasons if s.note == QUOTED}
    assert v.label == "other"
    assert quoted == {"不採用": 0, "残念ながら": 0}
    # the same quoted line in a mail that is neither about rejection mail nor a job board's counts
    v = verdict("木村様\n\nご応募ありがとうございました。結果は「残念ながら不採用」です。\n", "選考結果")
    assert v.label == "rejection" and not any(s.note == QUOTED for s in v.reasons)


def test_a_listing_of_openings_alone_marks_a_job_boards_mail() -> None:
    """Three bullet lines naming openings, without the words おすすめ求人: a job board's list."""
    listing = "・株式会社ミナト 経理スタッフ\n・株式会社サクラ 営業職\n・有限会社アオバ 総務職\n"
    line = "「今回は採用を見送らせていただきます」と言われた方へ。\n"
    v = verdict("会員様\n\n" + listing + "\n" + line, "ご案内")
    assert v.label == "other", reasons(v)
    assert any(s.note == QUOTED for s in v.reasons)
    two = "・株式会社ミナト 経理スタッフ\n・株式会社サクラ 営業職\n"
    v = verdict("木村様\n\nご応募ありがとうございました。\n" + two + "\n" + line, "選考結果")
    assert not any(s.note == QUOTED for s in v.reasons), reasons(v)


def test_the_filled_then_thanks_signal_names_both_parts() -> None:
    v = verdict("Sam,\n\nThe porter position is filled. Thanks for applying.\n", "Position filled")
    matched = [s.matched for s in v.reasons if s.where == "body" and s.weight > 0]
    assert v.label == "rejection", reasons(v)
    assert "position is filled. thanks for applying" in matched
    assert verdict("Sam,\n\nThe porter position is filled.\n", "Position filled").label == "other"
