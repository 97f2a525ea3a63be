"""The shape of a rejection (thanks -> outcome -> wish) and the issue-16 outcome frames and traps."""

from __future__ import annotations

import base64

import pytest

from relay_smtp.mail.classify import ClassifierRules, Sender, Verdict, classify

RULES = ClassifierRules()
RECRUITER = Sender(is_recruiting=True, company_domains=("example.com",))


def mail(body: str, subject: str = "Your application") -> bytes:
    encoded = "=?UTF-8?B?" + base64.b64encode(subject.encode()).decode() + "?="
    head = (
        "From: HR <hr@example.com>\r\nTo: C <c@example.net>\r\n"
        f"Subject: {encoded}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    return (head + base64.encodebytes(body.encode()).decode()).encode()


def verdict(body: str, subject: str = "Your application") -> Verdict:
    return classify(mail(body, subject), RULES, RECRUITER, ["c@example.net"])


def structure(v: Verdict) -> list[str]:
    return [str(s) for s in v.reasons if s.where == "structure"]


def test_thanks_outcome_wish_adds_the_full_shape_and_says_what_it_saw() -> None:
    v = verdict(
        "Hi Alex,\n\nThank you for interviewing for the support role. We ended up hiring "
        "someone else.\n\nWishing you every success.\n"
    )
    assert v.label == "rejection"
    [shape] = [s for s in v.reasons if s.where == "structure"]
    assert (shape.pattern, shape.weight) == ("thanks → outcome → wish", 2)
    assert "thank you" in shape.matched and "hiring someone else" in shape.matched


def test_no_shape_without_thanks_before_the_outcome() -> None:
    v = verdict("We ended up hiring someone else for the support role.")
    assert structure(v) == []


def test_a_request_for_a_reply_or_a_time_cancels_the_shape_and_the_verdict() -> None:
    # "Unfortunately we must move your interview" style traps: outcome-like words plus an ask.
    v = verdict(
        "Thank you for applying for the analyst role. We have chosen another candidate for the "
        "first slot, so could you let us know which of these times works: Monday 10am or Tuesday 2pm?"
    )
    assert v.label == "other"
    assert structure(v) == []
    assert any(s.weight == -3 for s in v.reasons)


@pytest.mark.parametrize(
    "body",
    [
        "Thanks for applying. We have chosen another candidate for the role.",
        "Thank you for applying. The warehouse associate position has gone to another applicant.",
        "Thank you for your time. The team decided to fill the designer role with an internal candidate.",
        "Your application for the clerk job was reviewed and was not taken forward. Thank you.",
        "Thank you for applying for the nurse vacancy. Your application is no longer under consideration.",
        "Thank you for interviewing. The role has been offered to a candidate with more experience.",
        "Thank you for applying. Yours was not among those chosen for an interview for this position.",
    ],
)
def test_english_outcome_frames_are_rejections(body: str) -> None:
    assert verdict(body).label == "rejection", body


@pytest.mark.parametrize(
    "body",
    [
        "Thanks for applying. We considered several other candidates, and we have chosen you for the role.",
        "Thank you for applying to the Data Engineer position. We would like to take it further with a "
        "short exercise. Please confirm by Friday.",
        "The Operations Lead role is on hold while budgets are set. Your application is still under "
        "consideration and we will be in touch.",
    ],
)
def test_english_traps_with_outcome_words_stay_other(body: str) -> None:
    assert verdict(body).label == "other", body


@pytest.mark.parametrize(
    "body",
    [
        "石川様\nご応募ありがとうございました。今回は他の方の採用が決まりましたので、ご連絡いたします。",
        "エンジニア職へのご応募ありがとうございました。今回は社内の候補者で充足することとなりました。",
        "マーケティングの役割へのあなたの応募をありがとうございました。このたび他の候補者と前進することを決定しました。",
        "ポジションに興味を持っていただき、ありがとうございます。残念ながらあなたの申請は今回選択されませんでした。",
    ],
)
def test_japanese_outcome_frames_are_rejections(body: str) -> None:
    assert verdict(body, "選考結果のお知らせ").label == "rejection", body


def test_an_offer_named_inside_a_wish_is_the_readers_future_not_ours() -> None:
    v = verdict(
        "このたびは当社の技術職にご応募いただき、誠にありがとうございました。検討を重ねましたが、"
        "今回はご希望に添いかねる結果となりました。一日も早く内定を手にされますよう、心より応援しております。",
        "選考結果のご連絡",
    )
    assert v.label == "rejection"
    [offer] = [s for s in v.reasons if s.matched == "内定" and s.note != "job context"]
    assert offer.weight == 0 and offer.note == "in a wish for the reader's future"


def test_an_offer_outside_a_wish_still_counts() -> None:
    v = verdict(
        "このたびは当社の技術職にご応募いただき、ありがとうございました。他の候補者とも比較しましたが、"
        "あなたに内定をお出しすることに決定しました。今後のご活躍をお祈りしております。",
        "選考結果のご連絡",
    )
    assert v.label == "other"


def test_japanese_reschedule_with_a_polite_decline_and_a_new_date_is_not_a_rejection() -> None:
    v = verdict(
        "ご指定の日は面接官の予定が合わず、残念ながら見送らせていただきたく存じます。"
        "代わりに3月18日(水)の15時はいかがでしょうか。ご返信をお待ちしております。",
        "Re: 面接日程のご案内",
    )
    assert v.label == "other"
