"""Round 13 of the classifier (tuning on the former held-out set 9): variants written by us, by
class, for each round-13 principle; each trap beside them must stay "other" (precision first).

The principles: an outcome frame is a class with its variants (the plain 見送りです, any negative
ending of a stage invitation or an offer, "not the successful candidate", "no longer eligible",
refusing to hire the reader in any spelling, closing the reader's process, hiring someone who ...);
a "something else" cue counts only in its role (denied, only possible, a stage the reader took part
in said as thanks, a plan that did not happen, an offer of feedback, a job title, the sender's own
proposal of openings); the job-context gate knows the job said as work, a workplace, a place to
fill or a hiring step, and closed topics (a scholarship, an admission) shut it whatever job word
stands beside them; a draft between marker lines is not the sender's word.
None of these sentences is taken from any labelled set: they are our own wording of each kind.
"""

from __future__ import annotations

import pytest
from classify_mail import reasons, verdict

EN_REJECTIONS = [
    # the reader named as not the one chosen
    "Dear Kim,\n\nThank you for interviewing for the Librarian post. I am sorry to say you were not the "
    "preferred candidate.\n",
    "Hi Kim,\n\nThanks for coming in. You weren't the successful applicant for the barista job.\n",
    # no longer in the process
    "Dear Kim,\n\nYour application for the Deputy role is no longer under consideration.\n",
    "Dear Kim,\n\nAs the medical was not passed, you are no longer eligible for the trainee scheme.\n",
    # hiring the reader refused, any spelling
    "hi kim, thanks for applying for the kitchen job. we cannot hire you without a food hygiene cert.\n",
    "Kim - we won't be able to take you on for the summer crew, sorry.\n",
    # the reader's process closed
    "Hi Kim,\n\nThe Analyst role is on hold indefinitely, so we are closing your candidacy for now.\n",
    # someone described by what they have
    "Hi Kim,\n\nThanks for the trial shift. We decided to hire someone who lives closer to the cafe.\n",
    # any named step not scheduled, not moved on
    "Hi Kim,\n\nAfter the phone screen we won't be scheduling a final interview for the role.\n",
    "Hi Kim,\n\nThanks for the take-home. We won't be moving you to the onsite.\n",
    # a stage taken part in, said as thanks, is past
    "Hi Kim,\n\nThank you for your time at the information session. Unfortunately we will not be "
    "offering you a position.\n",
    # an offer of feedback is not a job offer
    "Dear Kim,\n\nThe panel has decided not to offer you the post. I would be glad to offer you feedback.\n",
    # another role suggested only if the reader wants it
    "Hi Kim,\n\nWe decided to promote one of our current team members into the lead role. We'd be happy to "
    "talk to you about a cashier position if you're interested.\n",
    # a plan that did not happen
    "Hi Kim,\n\nWe had hoped to extend an offer for the role, but the requisition was closed and we "
    "won't be able to make an offer.\n",
    # the job taken by another person
    "Hi Kim,\n\nWe had planned to meet you on Monday, but a former employee has returned and taken the "
    "position. Sorry for the short notice.\n",
    # no offer as the process not going on to it; a recommendation withheld
    "Hi Kim,\n\nThanks for applying. We will not be proceeding with an offer for the role.\n",
    "Dear Kim,\n\nThe panel did not recommend you for appointment to the Clerk post.\n",
    # the gate: a hiring step with no job word
    "Hey Kim,\n\nThanks for doing the pairing session. We've decided not to move forward.\n",
]

EN_OTHERS = [
    # wait-list kin
    "Dear Kim,\n\nThank you for interviewing. We are not able to offer you a place now, but we would "
    "like to put you on our alternate list.\n",
    # admissions and scholarships, whatever job word stands beside them
    "Dear Kim,\n\nThe admissions tutor has decided not to offer you a place on the MSc programme.\n",
    "Dear Kim,\n\nAfter the interview, the scholarship committee regrets that you were not selected.\n",
    # a file closed only if the reader does not answer
    "Hi Kim,\n\nWe will close your application if we don't hear from you by Friday for the role.\n",
    # hiring only delayed
    "Hi Kim,\n\nWe can't hire you until your work permit arrives for the role; we'll keep it open.\n",
    # an invitation after thanks for taking part counts (offers and invitations are never past)
    "Hi Kim,\n\nThanks for coming in today and we would like to invite you to the final round for the "
    "role.\n",
    # a duty taken by a colleague, named as "the role of"
    "Hi team,\n\nOne of our interns accepted the role of note-taker for the offsite. Please invite Kim "
    "to the interview on Monday.\n",
    # an offer that goes ahead, and a recommendation only conditional
    "Hi Kim,\n\nWe will be proceeding with an offer for the role; please confirm your start date.\n",
    "Dear Kim,\n\nIf the panel does not recommend you for appointment, we will tell you by Friday.\n",
    # an investment portfolio is no work sample
    "Dear Kim,\n\nThank you for your proposal to manage our investment portfolio. We have decided not to "
    "move forward with you.\n",
    # thanks for confirming is not taking part
    "Hi Kim,\n\nThanks for confirming your start date. We're sorry the parking permit can't be issued.\n",
]

JA_REJECTIONS = [
    # the plain 見送り
    "木村様\n\nアルバイトへのご応募ありがとうございました。今回は見送りでした。すみません。\n",
    # a stage invitation in any negative ending
    "木村様\n\n面接の結果、二次面接にご案内することはかないませんでした。\n",
    "木村様\n\n検討の結果、最終面接のご案内をすることができなくなりました。\n",
    # 登載/選出 not reached
    "木村様\n\n職員採用試験の結果、採用候補者名簿への登載には至りませんでした。\n",
    # an offer not made, as a decision
    "木村さん\n\n面接ありがとうございました。今回は内定を出さないという結論になりました。\n",
    # the selection ended here
    "木村さん\n\n先日の面談の件、選考はこれにて終了とさせていただきます。\n",
    # hiring called difficult as a state
    "木村様\n\nドライバー求人へのご応募ありがとうございます。経験年数の条件により採用が難しい状況です。\n",
    # the job given to another person, said as asking them
    "木村様\n\n事務スタッフの件、別の方にお願いすることになりました。\n",
    # casual and public-employer endings of the same classes
    "木村様\n\n面接ありがとうございました。今回はお見送りで、ご了承ください。\n",
    "木村様\n\n職員採用試験の結果、合格者名簿に登載されませんでした。\n",
    "木村さん\n\n先日の面接の件、今回は採用なしとなりました。\n",
    "木村さん\n\n面接の件、申し訳ないですが今回のお話はなかったことにさせてください。\n",
    # a withdrawal denied is not a withdrawal
    "木村様\n\n辞退ではなく、当社の判断としてご連絡いたします。今回の営業職の採用は見送らせていただきます。\n",
    # a withdrawal named only as a possibility
    "木村様\n\n他社次第で辞退するかもしれないと伺っておりましたが、今回は見送らせていただきます。\n",
    # an agency's proposal of other openings after the client's no
    "木村様\n\nご紹介した営業職は、企業様より見送りとのことでした。他の求人をご提案させてください。\n",
    # a job title is not a topic
    "木村様\n\n受発注事務のお仕事は、他のスタッフの方で決定となりました。\n",
    # an acknowledgement subject gives way to the body's outcome
    "木村様\n\n書類を拝見しましたが、今回の面接は見送らせていただきます。\n",
    # the gate: the job said as work, a workplace, a place to fill, a portfolio
    "木村様\n\n先日は職場見学お疲れさまでした。今回は見送りとなりました。\n",
    "木村様\n\nポートフォリオをありがとうございました。今回は見送らせていただきます。\n",
]

JA_OTHERS = [
    # a scholarship names 採用 too
    "木村様\n\n奨学生の選考の結果、採用には至りませんでした。\n",
    "木村様\n\n奨学金のご応募ありがとうございました。今回は採用を見送らせていただきます。\n",
    # an entrance examination
    "木村様\n\n入学試験の結果、不合格となりました。面接へのご参加ありがとうございました。\n",
    # a draft between marker lines, under review
    "宇佐美さん\n\n通知文の下書きです。ご確認ください。\n---下書き---\n○○様\n面接の結果、今回は見送らせて"
    "いただきます。\n---ここまで---\n問題なければ送信します。\n",
    # a vendor's proposal named before the decline is still the topic
    "木村様\n\nご提案いただきありがとうございました。今回は採用管理システムの導入を見送らせていただきます。\n",
    # a withdrawal acknowledged
    "木村様\n\n選考辞退のご連絡、承知いたしました。今回はご一緒できず残念ですが、ご活躍をお祈りします。\n",
    # an interview date that is difficult is scheduling
    "木村様\n\nご希望の日時での面接のご案内は難しい状況です。別の日程をご提示いただけますか。\n",
    # a talk that did not happen is no outcome of one
    "木村様\n\n面接の日程調整のお話がなかったことは承知しました。来週の候補日をお送りください。\n",
    # an investment portfolio is no work sample
    "木村様\n\n運用会社のご紹介ありがとうございました。投資ポートフォリオの見直しは今回は見送らせていただきます。\n",
    # a plain 見送り inside a relative clause about others
    "宇佐美さん\n\n一次面接で見送りになった12名への連絡を明日送ります。\n",
]


@pytest.mark.parametrize("body", EN_REJECTIONS)
def test_english_round13_variants_are_rejections(body: str) -> None:
    v = verdict(body, "Your application")
    assert v.label == "rejection", reasons(v)


@pytest.mark.parametrize("body", EN_OTHERS)
def test_english_round13_traps_are_not_rejections(body: str) -> None:
    v = verdict(body, "Your application")
    assert v.label == "other", reasons(v)


@pytest.mark.parametrize("body", JA_REJECTIONS)
def test_japanese_round13_variants_are_rejections(body: str) -> None:
    v = verdict(body, "応募書類受領および選考結果のご連絡")
    assert v.label == "rejection", reasons(v)


@pytest.mark.parametrize("body", JA_OTHERS)
def test_japanese_round13_traps_are_not_rejections(body: str) -> None:
    v = verdict(body, "ご連絡")
    assert v.label == "other", reasons(v)


def test_cues_out_of_role_are_listed_with_why() -> None:
    possible = verdict("木村様\n\n辞退するかもしれないと伺いましたが、今回は見送ります。\n", "面接")
    thanks = verdict("Hi Kim,\n\nThank you for your time on the phone screen. We won't go on.\n", "Role")
    assert any(s.matched == "辞退" and s.note == "only a possibility" for s in possible.reasons), reasons(
        possible
    )
    assert any(
        s.matched == "phone screen" and s.note == "a stage the reader took part in, said as thanks"
        for s in thanks.reasons
    ), reasons(thanks)


def test_a_closed_topic_shuts_the_gate_even_with_a_job_word() -> None:
    v = verdict(
        "木村様\n\n奨学生の選考面接の結果、誠に残念ながら、今回は採用には至りませんでした。今後のご成功を心より"
        "お祈り申し上げます。\n",
        "選考結果のご連絡",
    )
    assert v.score >= 4, reasons(v)
    assert v.label == "other"
    assert any(s.pattern == "no job-application context" for s in v.reasons), reasons(v)
