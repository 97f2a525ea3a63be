"""Round 12 of the classifier (tuning on the former sixth held-out set): variants written by us, by
kind, for each round-12 principle; each trap beside them must stay "other" (precision first).

The principles: a topic or step word (next step, onboarding, the job advertisement, a time for
feedback, "we received your application", ご推薦, 掲載, 定員に達し) gives way to an outcome stated
about the reader's application; a negated offer or next stage states the outcome; English outcomes
are read by a grammar (who decides + a negated decision + taking the application further + you).
None of these sentences is taken from any labelled set: they are our own wording of each kind.
"""

from __future__ import annotations

import pytest
from classify_mail import reasons, verdict

from relay_smtp.mail.classify import NEGATED_OUTCOME
from relay_smtp.mail.phrasebook import parse_phrasebook

GIVES_WAY = "generic request, outweighed by an outcome statement"


EN_REJECTIONS = [
    # the grammar: who decides + a negated decision + taking the application further + the reader
    "Hi Kim,\n\nThanks for the portfolio review. The hiring manager has decided not to proceed with your "
    "candidacy for the Designer role.\n",
    "Hi Kim,\n\nThank you for applying. We won't be taking your application forward for the Buyer role.\n",
    "Hi Kim,\n\nThanks for the trial shift. We are not able to add you to the rota for the kitchen porter "
    "job this season.\n",
    "Kim,\n\nGood to talk. We're not going to proceed for the Planner role - we need more SAP experience.\n",
    "Hi Kim,\n\nWe had two places on the scheme and we won't be offering you one of them this year.\n",
    # the reader's application as the subject of a negated selection
    "Dear Kim,\n\nThank you for applying for the Analyst position. Your application has not been "
    "shortlisted.\n",
    "Dear Kim,\n\nThank you for applying for the Porter job. You did not meet the required score in the "
    "aptitude test.\n",
    # a negated offer or next stage states the outcome
    "Hi Kim,\n\nThanks for the final interview. We are unable to extend an offer for the Analyst role.\n",
    "Dear Kim,\n\nThank you for interviewing. We will not be moving you to the next stage for the role.\n",
    # topic words that give way: a next step in a survey request, a time for feedback, the job ad, the
    # opening acknowledgement, onboarding in a signature
    "Hi Kim,\n\nThanks for applying for the Tester role. We will not be progressing your application. As a "
    "next step, you can tell us about the process in a short survey.\n",
    "Hi Kim,\n\nThe panel has decided not to progress your application for the Engineer role. I'm happy "
    "to find a time for feedback if you like.\n",
    "Dear Kim,\n\nThank you for your interest in the Officer position. You have not been selected for "
    "interview. The role may be re-advertised; see the original job advertisement.\n",
    "Kim,\n\nWe received your application for the Guard position. We are not able to progress your "
    "application, as the role needs a licence.\n",
    "Hi Kim,\n\nThanks for signing up to drive with us. Your application did not pass our checks for the "
    "driver role.\n\nDriver Onboarding Team\n",
    # the choice of someone else, in plain words
    "Hi Kim,\n\nThanks for the cooking trial. We've decided to go with another cook who knows our menu "
    "for the chef position.\n",
]

EN_OTHERS = [
    # an invitation to the next stage, with the opening acknowledgement
    "Hi Kim,\n\nWe received your application for the Analyst role and we'd like to move you to the next "
    "stage. Please pick a time for a call.\n",
    # a negated offer that is only delayed, and a request before the application can go on
    "Hi Kim,\n\nThanks for the final interview. We are not able to extend an offer until your references "
    "are back for the role.\n",
    "Hi Kim,\n\nWe cannot progress your application without a signed consent form for the role. Please "
    "send it by Friday.\n",
    "Hi Kim,\n\nYou have not been selected yet for the role: the panel meets next week.\n",
    # a condition
    "Hi Kim,\n\nIf you have not been selected by 1 May, we will not be progressing your application for "
    "the role.\n",
    # an offer letter that declines a request inside it (a negotiation, not an outcome)
    "Hi Kim,\n\nWe are pleased to offer you the Analyst role. We can't offer you a higher salary, but the "
    "start date can move.\n",
    # a rejected candidate offered another role: the process continues
    "Hi Kim,\n\nWe won't be progressing your application for the Senior role, but we would like to offer "
    "you the Analyst position instead.\n",
    # ... or invited on to the next stage for another role: a topic word beside an invitation
    # addressed to the reader does not give way
    "Hi Kim,\n\nUnfortunately we will not be progressing your application for the Senior role. However, we "
    "would like to invite you to the next stage for the Mid-level role.\n",
    "Hi Kim,\n\nYour application has not been successful for the Manager role, but the hiring team would "
    "like to consider you for the Team Lead role. Please pick a time for a call.\n",
    # a document missing: the application waits, it is not turned down
    "Hi Kim,\n\nWe can't move forward with your application as it stands. Please send the missing "
    "transcript for the role.\n",
    "Hi Kim,\n\nWe won't be moving you to the next stage until we hear back from your references for the "
    "role.\n",
    # the candidate in the third person (a recruiter to a colleague)
    "Hi Sam,\n\nShe has not been selected for the Tester role; please send her the usual letter.\n",
    # mail about rejection mail: a column and a template named by its quoted wording
    "This week's reader question: \"They told me 'we will not be progressing your application' - is "
    'that final?" Read the full column on our site about the job hunt.\n',
    'Hi Sam,\n\nThe "you have not been selected" email for the Tester role needs a friendlier line.\n',
    # another kind of application: the gate refuses it (an arts fund; a flat from a housing trust)
    "Dear Kim,\n\nThank you for applying to the Riverside Housing Trust for a flat. Your application has "
    "not been successful.\n",
    "Dear Kim,\n\nThank you for applying to the Riverside Community Arts Fund. Your application has not "
    "been successful in this round.\n",
]

JA_REJECTIONS = [
    # a negated offer or next stage
    "木村様\n\n面接にお越しいただきありがとうございました。誠に残念ながら、次の選考へのご案内はできかねます。\n",
    "木村様\n\n最終面接の結果、今回は内定をお出しすることができないという結論になりました。\n",
    "木村様\n\n書類選考の結果、面接へのご案内をしないこととなりました。\n",
    "木村様\n\nあなたの応募は次のステップに進まないことに決定いたしました。\n",
    # topic words that give way: an agency's past recommendation, the job ad, the job's quota
    "木村様\n\n先日ご推薦いたしました経理職の件、先方より今回は見送りとのご連絡がありました。\n",
    "木村様\n\nご応募ありがとうございました。求人サイトの掲載は続いておりますが、木村様の選考を進めることが"
    "できません。\n",
    "木村様\n\n販売スタッフへのご応募ありがとうございます。今期の募集はすでに定員に達しましたので、締め切り"
    "とさせていただきました。\n",
    # the reader's request not met
    "木村様\n\nご応募いただいた書類を拝見しましたが、今回はご要望にお応えすることが叶いませんでした。\n",
]

JA_OTHERS = [
    # 内定 with a negation about something else
    "内定者の皆さま\n\n研修は2月に行います。欠席されても内定に影響はございません。\n",
    # a delay
    "木村様\n\n現時点ではまだ次の選考のご案内ができません。来週中にご連絡いたします。\n",
    # a condition
    "木村様\n\n書類に不備がある場合、内定をお出しすることができない場合もございます。\n",
    # a rejected candidate offered another role: the process continues
    "木村様\n\n営業職としての採用は見送りとなりましたが、企画職として引き続き選考を進めさせていただきたく"
    "存じます。面談の日程をご相談させてください。\n",
    # a recruiter's draft of the result mail
    "中野さん\n\n一次面接の結果通知メールの文案です。「残念ながら今回はご期待に添いかねる結果となりました」"
    "でよいでしょうか。\n",
    # a session that is full
    "木村様\n\n会社説明会へのお申し込みありがとうございます。ご希望の回は定員に達したため、お申し込みを"
    "お受けできませんでした。別日程をご予約ください。\n",
    # a pass
    "木村様\n\n書類選考の結果、次の選考にお進みいただきます。ご都合のよい日時をご返信ください。\n",
]


@pytest.mark.parametrize("body", EN_REJECTIONS)
def test_english_round12_variants_are_rejections(body: str) -> None:
    v = verdict(body, "Your application")
    assert v.label == "rejection", reasons(v)


@pytest.mark.parametrize("body", EN_OTHERS)
def test_english_round12_traps_are_not_rejections(body: str) -> None:
    v = verdict(body, "Your application")
    assert v.label == "other", reasons(v)


@pytest.mark.parametrize("body", JA_REJECTIONS)
def test_japanese_round12_variants_are_rejections(body: str) -> None:
    v = verdict(body, "選考結果のご連絡")
    assert v.label == "rejection", reasons(v)


@pytest.mark.parametrize("body", JA_OTHERS)
def test_japanese_round12_traps_are_not_rejections(body: str) -> None:
    v = verdict(body, "ご連絡")
    assert v.label == "other", reasons(v)


def test_a_negated_offer_is_listed_as_an_outcome_and_a_delayed_one_is_not() -> None:
    stated = verdict(
        "Hi Kim,\n\nAfter the panel, we are not going to extend an offer for the role.\n", "Your application"
    )
    delayed = verdict(
        "Hi Kim,\n\nWe can't extend an offer until the budget is signed for the role.\n", "Role"
    )
    assert [(s.weight, s.note) for s in stated.reasons if s.matched == "extend an offer"] == [
        (4, NEGATED_OUTCOME)
    ]
    assert [(s.weight, s.note) for s in delayed.reasons if s.matched == "extend an offer"] == [(0, "negated")]


def test_a_topic_word_gives_way_only_to_an_outcome() -> None:
    """The next stage counts against a mail with no outcome, and gives way where one is stated."""
    outcome = verdict(
        "Hi Kim,\n\nWe will not be progressing your application. Next steps: a survey.\n", "Role"
    )
    bare = verdict("Hi Kim,\n\nThanks for applying for the role. Next steps: a survey.\n", "Role")
    assert any(s.matched == "next steps" and s.note == GIVES_WAY for s in outcome.reasons), reasons(outcome)
    assert any(s.matched == "next steps" and s.weight == -8 for s in bare.reasons), reasons(bare)


def test_a_negated_phrase_inside_a_counted_outcome_adds_nothing() -> None:
    """内定には至りませんでした is one statement: its frame counts, the negated 内定 adds nothing."""
    v = verdict("木村様\n\n誠に残念ながら内定には至りませんでした。\n", "選考結果")
    counted = {(s.weight, s.note) for s in v.reasons if s.matched == "内定" and s.note != "job context"}
    assert counted == {(0, "negated")}, reasons(v)


def test_negated_weight_is_only_for_a_negative_phrase() -> None:
    with pytest.raises(ValueError, match="negated"):
        parse_phrasebook("[[body]]\npattern = 'x'\nweight = 4\nnegated = 4\n", "t.toml")
    book = parse_phrasebook("[[body]]\npattern = 'x'\nweight = -8\nnegated = 4\n", "t.toml")
    assert book.body[0].negated == 4
