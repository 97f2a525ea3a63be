"""Round 11 of the classifier (tuning on the former fifth held-out set): variants written by us, by
kind, for each round-11 frame; each trap beside them must stay "other" (precision first).

None of these sentences is taken from any labelled set: they are our own wording of each kind.
"""

from __future__ import annotations

import pytest
from classify_mail import reasons, verdict

WISH = "in a wish for the reader's future"


EN_REJECTIONS = [
    # passing on going forward, in plain words
    "Hi Kim,\n\nThanks for the design exercise. We've decided to pass on moving ahead with your "
    "candidacy for the role.\n",
    # not brought on board
    "Kim,\n\nThanks for applying for the warehouse shift. We're unable to take you on board this "
    "season, as we need forklift certification.\n",
    "Hi Kim,\n\nAppreciate you coming in for the barista trial. We can't bring you onboard right now.\n",
    # the places gone, and it did not work out
    "Hi Kim,\n\nThank you for interviewing with us. We had three openings and have filled all of them. "
    "I'm sorry it didn't work out.\n",
    # not found suitable, not processed further
    "Dear Applicant,\n\nWith reference to your application for the post of Clerk, you have not been "
    "found eligible as per the advertised criteria.\n",
    "Dear Applicant,\n\nThank you for applying for the Assistant post. Your application will not be "
    "processed further.\n",
    # not moved on to the next step, in other verbs
    "Dear Kim,\n\nWe are regretful that your application could not be moved to the next stage for the "
    "Analyst role.\n",
    # not moving forward to an offer, after a final round completed
    "Hi Kim,\n\nThanks for attending the final round. Unfortunately we won't be moving ahead to an "
    "offer with you for this role.\n",
    # an ATS status line
    "Hi Kim,\n\nThe status of your application for Junior Accountant (Finance, London office) at Acme "
    "Holdings has changed to: Not proceeding.\n",
    # the fit denied as an opinion, and the process stopped
    "Hi Kim,\n\nThanks for talking with us. We don't feel the position would be a good fit for you, so "
    "we'll close the process here.\n",
    # this one not working out; saying no to the reader
    "Hi Kim,\n\nThank you for applying. This one isn't going to work out, but do apply for future roles.\n",
    "Hi Kim,\n\nThanks for the chat. I'm afraid we're going to say no this time: we need more agency "
    "experience for this role.\n",
    # an agency relays the client's decision: "they" is the client, and the reader is "you"
    "Hi Kim,\n\nThanks for interviewing with Acme. They've let me know they have decided not to move "
    "forward with your application for the Analyst role.\n",
    # another direction; not what we are looking for
    "Hi Kim,\n\nThank you for the time you spent with us. We are going to move in another direction "
    "for this role.\n",
    "Hi Kim,\n\nThanks for your application. We've decided you're not quite what we're looking for "
    "right now, but we wish you luck.\n",
    # not going to move ahead with it
    "Hi Kim,\n\nThanks for applying for the Support Engineer role. We've looked at your application and "
    "we're not going to move forward with it. Best of luck in your search.\n",
]

EN_OTHERS = [
    # brought on board once something arrives; a trial shift offered
    "Hi Kim,\n\nThanks for applying for the crew role. We can't bring you on until your licence "
    "arrives; send it over when you have it.\n",
    # a tour or a date, not the team
    "Hi Kim,\n\nThanks for applying. We can't bring you on a site tour this week, but the interview on "
    "Monday stands.\n",
    # a policy about applications in general, not an outcome for the reader's
    "Hi Kim,\n\nThanks for applying. Please note that incomplete applications will not be processed "
    "further.\n",
    "Dear Kim,\n\nThank you for applying. Candidates not found suitable will not be contacted; "
    "shortlisted candidates will hear by May.\n",
    # a day or a venue, not the reader; a condition
    "Hi Kim,\n\nTuesday isn't going to work out for the panel. Could you do Thursday at 3pm instead?\n",
    "Hi Kim,\n\nThanks for applying. If this one doesn't work out, we have two more openings later "
    "this year.\n",
    "Hi Kim,\n\nThanks for applying. We had to say no to the venue, so the interview moves online; "
    "please confirm your availability.\n",
    # the process stopped only on request; both of some shifts filled, another offered
    "Hi Kim,\n\nThanks for applying. Our process has three stages; we'll stop the process here only if "
    "you ask us to.\n",
    "Hi Kim,\n\nThanks for your interest. We've filled both morning shifts but the evening shift is "
    "open; would you like it?\n",
    # the reader's own withdrawal acknowledged, with regret
    "Hi Kim,\n\nThanks for letting us know you're withdrawing. We're sorry it didn't work out this "
    "time and have closed your application as requested.\n",
    "Hi Kim,\n\nThanks for applying. If you're not what we're looking for, we'll keep your CV on file.\n",
    # processed further once the form arrives
    "Dear Applicant,\n\nYour application will not be processed further until we receive your signed "
    "consent form.\n",
    # a condition: not working out would be a future possibility
    "Hi Kim,\n\nIf the Tuesday interview doesn't work out, let me know and we'll find another time.\n",
    # a status delay that denies an outcome
    "Hi Kim,\n\nWe're running late on decisions for the Designer role. This doesn't mean we have "
    "decided not to move forward with your application; we'll write by Friday.\n",
    # mail between recruiters about a candidate
    "Hi Dana,\n\nWe've decided to proceed with another candidate for the Analyst role. Please send the "
    "letter to Kim today.\n",
    "Hi Dana,\n\nThe panel went with another candidate. Can you let the candidate know by Friday?\n",
    "Hi Dana,\n\nForwarding Kim's CV. She wasn't the right fit for the Ops role, but could suit your "
    "Support opening. Thanks!\n",
    "Hi Dana,\n\nKim wasn't selected for the Ops role. I'll send Kim the rejection email tomorrow.\n",
    # admissions: an application, but for a place on a course
    "Dear Kim,\n\nThank you for your application to the MA Film Studies programme. We are sorry to "
    "inform you that we are unable to offer you a place.\n",
    "Dear Kim,\n\nThank you for applying. Unfortunately we cannot offer you a place on the course this "
    "year, as the admissions round was oversubscribed.\n",
    # a vendor declined by a recruiting team
    "Hi Sam,\n\nThanks for your note about sponsorship packages for the careers fair. We've decided not "
    "to take a meeting this quarter.\n",
    "Hi Sam,\n\nThanks for the partnership proposal. Unfortunately we won't be moving ahead with it; "
    "please remove us from your mailing list.\n",
]

JA_REJECTIONS = [
    # the hiring class named by its date in the subject is the job, not an onboarding
    "木村様\n\n二次面接にお越しいただきありがとうございました。誠に残念ながら、次の選考へのご案内は"
    "見合わせることとなりました。\n",
    # 採用は見送
    "木村様\n\n面接にお越しいただきありがとうございました。残念ですが今回は採用は見送りといたします。\n",
    # the next stage not offered, said as a result
    "木村様\n\n一次面接お疲れさまでした。今回は二次面接へのご案内には至りませんでした。\n",
    # お断りのご連絡
    "木村様\n\n先日はありがとうございました。誠に恐縮ながら、お断りのご連絡を差し上げます。\n",
    # ご参加いただけない, for an internship
    "木村様\n\nサマーインターンシップにお申し込みいただきありがとうございました。"
    "選考の結果、今回はご参加いただけないこととなりました。\n",
    # the hiring called off
    "木村様\n\n営業職にご応募いただきありがとうございました。社内事情により募集を取りやめることとなり、"
    "選考を進めることができなくなりました。\n",
    # joining called difficult, as a decision; the selection closed
    "木村様\n\n面接の結果、今回ご入社いただくことは難しいという判断になりました。\n",
    "木村様\n\nエンジニア職へのご応募ありがとうございました。募集人数に達したため、"
    "選考を締め切らせていただきました。\n",
    # 見送りという結論
    "木村様\n\n先日は面接ありがとうございました。大変申し上げにくいのですが、今回は見送りという結論に"
    "なりました。\n",
    # ご採用の運び
    "木村様\n\n選考の結果、誠に残念ながらご採用の運びとはなりませんでした。\n",
    # an agency relays the client's decision: the client's 担当者 is not addressed
    "木村様\n\nご応募いただいた経理職につき、企業ご担当者様のご判断により今回はお見送りとなりました。"
    "ご期待に沿えず申し訳ございません。\n",
    # 内定 negated, and 内定 in a wish (encouragement) for the reader
    "木村様\n\n最終面接ありがとうございました。誠に残念ながら、今回は内定をお出しすることができません。"
    "木村様ならきっと良い内定に出会えると信じています。\n",
    "木村様\n\n面接ありがとうございました。残念ながら今回は次の面接へのご案内には至りませんでした。"
    "木村様ならきっと良い内定先に巡り合えると思いますので、就職活動を頑張ってください。\n",
    # 合格 of an exam is a qualification someone holds, not this selection
    "木村様\n\n面接にお越しいただきありがとうございました。今回は簿記検定合格者の方を優先して採用する"
    "こととなり、お断りのご連絡を差し上げることとなりました。\n",
]

JA_OTHERS = [
    # difficult as a condition, not a decision; the opening closed to new applicants
    "木村様\n\nご提示の日程でのご参加が難しい場合は、別日程をご返信ください。\n",
    "木村様\n\nご応募ありがとうございます。本求人は募集を締め切りましたが、木村様の選考は引き続き"
    "進めております。\n",
    # a status delay: 不採用 denied, or named as one of two outcomes
    "木村様\n\n面接の結果のご連絡が遅れております。不採用が決まったわけではございませんので、"
    "今しばらくお待ちください。\n",
    "木村様\n\n一次面接ありがとうございました。採用・不採用にかかわらず、結果は来週までにご連絡いたします。\n",
    "木村様\n\n面接ありがとうございました。合否(採用・不採用のいずれか)は一週間以内にメールでお知らせします。\n",
    # the decision still open: a possibility is not an outcome
    "木村様\n\n応募書類に不備がある場合、採用は見送られる可能性がございます。期日までにご提出ください。\n",
    "木村様\n\nインターンシップにご参加いただけない場合は、マイページからご連絡ください。\n",
    # the reader's own withdrawal acknowledged; ご縁がなかった is the reader's word quoted back
    "木村様\n\n選考辞退のご連絡を承りました。今回はご縁がなかったとのこと、残念ですが承知いたしました。\n",
    # mail between recruiters about a candidate
    "各位\n\n営業職の候補者への合否連絡は本日中に送付予定です。不採用の方には定型文を使用します。\n",
    "田中さん\n\n井上様はお見送りとのこと、承知しました。候補者へのご連絡は人事から明日お送りします。\n",
    "田中さん\n\n山本様の件、見送りとなりました。候補者に通知をお願いできますでしょうか。\n",
    "田中部長\n\n前回ご紹介いただいた3名はいずれも見送りとなりましたが、今回の方は要件に近いと考えております。\n",
    # an offer wished for is still an offer when it is ours: an offer mail stays other
    "木村様\n\n最終面接ありがとうございました。ぜひ内定をお出ししたく、ご連絡いたしました。\n",
    # a pass notice that names the next interview
    "木村様\n\n書類選考の結果、合格となりました。二次面接へのご案内をお送りします。\n",
]


@pytest.mark.parametrize("body", EN_REJECTIONS)
def test_english_round11_variants_are_rejections(body: str) -> None:
    v = verdict(body, "Your application")
    assert v.label == "rejection", reasons(v)


@pytest.mark.parametrize("body", EN_OTHERS)
def test_english_round11_traps_are_not_rejections(body: str) -> None:
    v = verdict(body, "Your application")
    assert v.label == "other", reasons(v)


@pytest.mark.parametrize("body", JA_REJECTIONS)
def test_japanese_round11_variants_are_rejections(body: str) -> None:
    v = verdict(body, "【選考結果】総合職(2027年4月入社)")
    assert v.label == "rejection", reasons(v)


@pytest.mark.parametrize("body", JA_OTHERS)
def test_japanese_round11_traps_are_not_rejections(body: str) -> None:
    v = verdict(body, "選考結果")
    assert v.label == "other", reasons(v)


def test_a_subject_naming_onboarding_still_counts_against() -> None:
    """Only a date before 入社 names the hiring class; 入社 itself (onboarding) still subtracts."""
    body = "木村様\n\n残念ながら今回は見送らせていただきます。\n"
    onboarding = verdict(body, "入社手続きのご案内").reasons
    hiring_class = verdict(body, "総合職(2027年4月入社)")
    assert any(s.where == "subject" and s.matched == "入社" and s.weight == -6 for s in onboarding)
    assert not any(s.where == "subject" and s.weight < 0 for s in hiring_class.reasons), reasons(hiring_class)


def test_an_offer_in_an_encouragement_is_listed_with_why_it_did_not_count() -> None:
    body = (
        "木村様\n\n面接ありがとうございました。残念ながら今回は見送らせていただきます。\n"
        "木村様ならきっと良い内定に出会えると思います。頑張ってください。\n"
    )
    v = verdict(body, "選考結果")
    assert v.label == "rejection", reasons(v)
    assert any(s.matched == "内定" and s.weight == 0 and s.note == WISH for s in v.reasons), reasons(v)


def test_a_denied_outcome_is_listed_with_why_it_did_not_count() -> None:
    v = verdict("木村様\n\n不採用が決まったわけではありません。もう少しお待ちください。\n", "選考結果")
    assert [(s.matched, s.weight, s.note) for s in v.reasons if s.matched == "不採用"] == [
        ("不採用", 0, "conditional")
    ]


def test_the_gate_refuses_a_bare_application_when_a_course_is_named() -> None:
    """The same outcome wording passes the gate for a job application, not for a place on a course."""
    outcome = "We are sorry to inform you that we are unable to offer you"
    job = f"Dear Kim,\n\nThank you for your application. {outcome} the role.\n"
    course = (
        f"Dear Kim,\n\nThank you for your application to the MSc Data Science programme. {outcome} a place.\n"
    )
    assert verdict(job, "Your application").label == "rejection"
    v = verdict(course, "Your application")
    gate = [s.pattern for s in v.reasons if s.weight == 0 and not s.note]
    assert v.label == "other" and "no job-application context" in gate, reasons(v)
