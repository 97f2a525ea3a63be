"""The outcome-sentence signal (mail/outcome_model.py): how the text is cut into sentences, which
sentences are set aside, when the signal may add, and that it catches an outcome the rules have no
phrase for while the traps (an offer, a condition, a delay, another domain's refusal) stay "other"."""

from __future__ import annotations

import importlib.resources

import pytest

from relay_smtp.mail.classify import ClassifierRules, Sender, Verdict, classify
from relay_smtp.mail.model import TextModel
from relay_smtp.mail.outcome_model import OutcomeModels, default_outcome_models, set_aside
from relay_smtp.mail.phrase_index import Forms
from relay_smtp.mail.sentences import sentence_spans
from relay_smtp.mail.textform import nfkc
from relay_smtp.mail.weigh import sentence_set_aside

SENDER = Sender(is_recruiting=True, company_domains=("corp.example",))
SHIPPED = ClassifierRules()
RULES_ALONE = ClassifierRules(outcome_model=None)
# A model that reads every sentence holding "won't" or 別の as an outcome (p = sigmoid(5) = 0.993), so
# the tests of when the signal may add do not depend on the shipped weights.
EAGER = ClassifierRules(
    outcome_model=OutcomeModels(
        TextModel("ja", {"別の": 10.0}, -5.0, max_chars=300, threshold=0.95, weight=4),
        TextModel("en", {"won't": 10.0}, -5.0, max_chars=300, threshold=0.95, weight=4),
    )
)


def mail(body: str, subject: str) -> bytes:
    return (
        f"From: hr@corp.example\r\nTo: dana@example.net\r\nSubject: {subject}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n")
    ).encode()


def run(body: str, subject: str, rules: ClassifierRules = SHIPPED) -> Verdict:
    return classify(mail(body, subject), rules, SENDER, ["dana@example.net"])


def outcome(verdict: Verdict) -> list[str]:
    return [str(s) for s in verdict.reasons if s.where == "outcome"]


def form(text: str, japanese: bool) -> str:
    forms = Forms.of(nfkc(text))
    return forms.ja if japanese else forms.en


# --- sentences --------------------------------------------------------------------------------


def test_sentences_end_where_the_other_checks_end_them() -> None:
    ja = form("田中様\n\nご応募ありがとうございました。残念ですが、今回は…!また機会があれば?", True)
    assert [ja[a:b] for a, b in sentence_spans(ja, True)] == [
        "田中様ご応募ありがとうございました",
        "残念ですが今回は...",
        "また機会があれば",
    ]
    en = form("Hi Dana,\n\nThanks for coming in; we've gone with someone else.\n\nBest,\nMo", False)
    assert [en[a:b] for a, b in sentence_spans(en, False)] == [
        "hi dana,",
        "thanks for coming in",
        "we've gone with someone else",
        "best, mo",
    ]
    assert sentence_spans(" . ... ", False) == []


@pytest.mark.parametrize(
    ("sentence", "japanese", "reason"),
    [
        ("if we go with another candidate we won't be able to take you on", False, "conditional"),
        ("this doesn't mean we won't be taking you forward", False, "conditional"),
        ("we won't be moving anyone forward until the references are back", False, "delayed"),
        ("we have not made a final decision yet", False, "delayed"),
        ("we won't be taking your application further", False, ""),
        ("万が一別の方にお願いすることになりましたらご連絡いたします", True, "conditional"),
        ("不採用が決まったわけではございません", True, "conditional"),
        ("結果は確定次第ご連絡いたします", True, "delayed"),
        ("まだ別の方に決まったわけでは", True, "delayed"),
        ("今回は別のスタッフさんにお願いすることになりました", True, ""),
    ],
)
def test_a_whole_sentence_is_set_aside_by_the_rules_own_context_checks(
    sentence: str, japanese: bool, reason: str
) -> None:
    assert sentence_set_aside(sentence, japanese) == reason


def test_a_wish_and_a_quoted_example_are_set_aside_too() -> None:
    ja = form("田中様なら別のお店でもきっと素敵なスタッフになれると、陰ながら応援しております。", True)
    (span,) = sentence_spans(ja, True)
    assert set_aside(ja, *span, True) == "in a wish for the reader's future"
    en = form(
        "Rejection email templates, part 3. Try: \"We won't be taking your application further at"
        ' this time" and keep it short.',
        False,
    )
    quoted = next(s for s in sentence_spans(en, False) if "won't" in en[s[0] : s[1]])
    assert set_aside(en, *quoted, False) == "quoted example in mail about rejection mail"


def test_the_reading_names_the_best_sentence_that_is_not_set_aside() -> None:
    models = EAGER.outcome_model
    assert models is not None
    text = form("If it's a no, we won't call. We won't be hiring you. Thanks!", False)
    reading = models.read("en", text)
    assert reading is not None
    assert (reading.sentence, reading.weight) == ("we won't be hiring you", 4)
    assert reading.probability == pytest.approx(0.9933, abs=1e-4)
    assert reading.explanation == "p=0.993; top n-grams: won't +10.00"
    assert models.read("en", form("If it's a no, we won't call. Thanks!", False)) is None
    assert models.read("en", form("We will be in touch.", False)) is None
    assert OutcomeModels().read("ja", "今回は別の方に") is None


# --- when it may add --------------------------------------------------------------------------

CAFE = "Hi Dana,\n\nThanks for coming by the café on Saturday for the trial shift.\n\n{}\n\nTake care,\nMo"


def test_it_adds_where_the_rules_found_no_outcome_and_says_which_sentence() -> None:
    body = CAFE.format("We won't be bringing you onto the team.")
    assert run(body, "Barista role", RULES_ALONE).label == "other"
    verdict = run(body, "Barista role", EAGER)
    assert verdict.label == "rejection"
    (signal,) = [s for s in verdict.reasons if s.where == "outcome"]
    assert (signal.pattern, signal.weight) == ("states an outcome (learned)", 4)
    assert signal.matched == "we won't be bringing you onto the team"
    assert signal.note.startswith("p=0.993; top n-grams: won't")
    assert signal.to_dict() in verdict.to_dict()["signals"]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("body", "subject"),
    [
        # an offer counts against: the signal is not read
        (
            CAFE.format("We'd love to offer you the barista job, and we won't be looking any further."),
            "Barista role",
        ),
        # an outcome that is only a condition, a delay, a denial
        (CAFE.format("If the owners pick someone else, we won't be bringing you on."), "Barista role"),
        (CAFE.format("We won't be bringing anyone onto the team until the owners have met."), "Barista role"),
        (CAFE.format("This doesn't mean we won't be bringing you onto the team."), "Barista role"),
        # another domain's refusal: the job-context gate still decides after the sum
        (
            "Hi Dana,\n\nThanks for viewing the allotment plot. The committee won't be giving it to you"
            " this season.\n\nMo",
            "Allotment plot",
        ),
        (
            "佐藤様\n\n先日は面接ありがとうございました。ぜひ内定をお出ししたく、別の日程で入社日をご相談させてください。",
            "面接の件",
        ),
        (
            "佐藤様\n\nもし別のスタッフさんにお願いすることになりましたら、改めてご連絡いたします。",
            "販売スタッフ",
        ),
        ("佐藤様\n\n別のスタッフさんにお願いするかは店長と相談次第ご連絡いたします。", "販売スタッフ"),
        ("佐藤様\n\n家庭菜園の区画は、今年は別の方にお貸しすることになりました。", "区画のお申し込み"),
    ],
)
def test_traps_stay_other_whatever_the_model_reads(body: str, subject: str) -> None:
    verdict = run(body, subject, EAGER)
    assert verdict.label == "other", [str(s) for s in verdict.reasons]


def test_it_is_not_read_where_the_rules_decide() -> None:
    # the rules stated an outcome (a counted +4 phrase): their sum decides, the signal adds nothing
    stated = CAFE.format("We won't be bringing you on; we have decided not to proceed with your application.")
    assert outcome(run(stated, "Barista role", EAGER)) == []
    # a request counted (-3): the mail asks for something, it is not a final answer
    asked = CAFE.format("We won't be bringing you onto the team. Please reply to confirm your address.")
    assert any(s.where == "body" and s.weight == -3 for s in run(asked, "Barista role", EAGER).reasons)
    assert outcome(run(asked, "Barista role", EAGER)) == []
    # the sum could not reach the threshold even with the signal (a subject against, -8)
    offered = CAFE.format("We won't be bringing you onto the team.")
    assert outcome(run(offered, "Job offer", EAGER)) == []
    assert outcome(run(offered, "Barista role", EAGER)) != []


def test_the_body_itself_must_name_a_job_or_an_application() -> None:
    # a recruiting team declines a vendor's trial: the subject's "recruiting" is the sender's side
    body = "Hi Dana,\n\nThanks for the demo. We won't be going ahead with the trial.\n\nMo"
    verdict = run(body, "Recruiting tools", EAGER)
    assert verdict.label == "other", [str(s) for s in verdict.reasons]
    (signal,) = [s for s in verdict.reasons if s.where == "outcome"]
    assert signal.weight == 0 and signal.note.endswith("not counted: the body names no job or application")
    named = CAFE.format("We won't be bringing you onto the team.")  # the trial shift: a job's step
    verdict = run(named, "Recruiting", EAGER)
    assert verdict.label == "rejection" and [s.weight for s in verdict.reasons if s.where == "outcome"] == [4]


# --- the shipped models -----------------------------------------------------------------------


def test_the_shipped_models_load_and_stay_small() -> None:
    models = default_outcome_models()
    assert models.ja is not None and models.en is not None
    assert (models.ja.language, models.en.language) == ("ja", "en")
    for language in ("ja", "en"):
        name = f"outcome_{language}.json"
        resource = importlib.resources.files("relay_smtp.mail").joinpath("phrases", name)
        assert len(resource.read_bytes()) < 300_000


# Written for this test in wording no phrase of the data files has: the rules alone read nothing.
EN_CAUGHT = (
    "Hi Dana,\n\nThanks for coming by the café on Saturday for the trial shift.\n\n"
    "The owners have talked it over and we'll be hiring a barista with more latte-art experience,"
    " so we won't be bringing you onto the team.\n\nTake care,\nMo"
)
JA_CAUGHT = (
    "佐藤様\n\nこのたびは販売スタッフにご応募いただきありがとうございました。\n\n"
    "店長と相談した結果、今回は別のスタッフさんにお願いすることになりました。\n\n"
    "またの機会がありましたらよろしくお願いします。"
)


# Read folded: "isn't" as "is not"; unfolded, this sentence read p 0.92, below the threshold.
EN_CAUGHT_FOLDED = (
    "Hi Sam,\n\nThanks for dropping off your CV for the bike mechanic job at the shop.\n\n"
    "We've had a think and the workshop's going to stay at two mechanics for now, so there isn't a spot"
    " for you with us.\n\nAll the best,\nMo"
)


@pytest.mark.parametrize(
    ("body", "subject", "said"),
    [
        (EN_CAUGHT, "Your application for the Barista role", "won't be bringing you"),
        (EN_CAUGHT_FOLDED, "Bike mechanic job", "there isn't a spot for you"),
        (JA_CAUGHT, "販売スタッフのご応募", "別のスタッフさん"),
    ],
)
def test_the_shipped_signal_catches_an_outcome_no_phrase_has(body: str, subject: str, said: str) -> None:
    alone = run(body, subject, RULES_ALONE)
    assert alone.label == "other" and alone.score < 4
    verdict = run(body, subject)
    assert verdict.label == "rejection", [str(s) for s in verdict.reasons]
    (signal,) = [s for s in verdict.reasons if s.where == "outcome"]
    assert signal.weight == 4 and said in signal.matched
    assert "top n-grams: " in signal.note


@pytest.mark.parametrize(
    ("body", "subject"),
    [
        (
            CAFE.format(
                "If the owners hire a barista with more latte-art experience, we won't be bringing you"
                " onto the team."
            ),
            "Barista role",
        ),
        (
            CAFE.format("We won't be able to move your application forward until your references are back."),
            "Barista role",
        ),
        (
            "佐藤様\n\nもし今回は別のスタッフさんにお願いすることになりましたら、改めてご連絡いたします。",
            "販売スタッフ",
        ),
        (
            "佐藤様\n\nマルシェへの出店のお申し込みありがとうございました。運営委員で相談した結果、今回は別の店舗さんに"
            "お願いすることになりました。",
            "出店のお申し込み",
        ),
    ],
)
def test_the_shipped_signal_leaves_its_traps_alone(body: str, subject: str) -> None:
    verdict = run(body, subject)
    assert verdict.label == "other" and outcome(verdict) == [], [str(s) for s in verdict.reasons]
