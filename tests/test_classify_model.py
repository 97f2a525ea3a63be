"""The learned signal (mail/model.py): it loads, explains itself, and never overrides the rules'
safeguards (the job-context gate, a "something else" phrase, wording set aside as conditional or
quoted)."""

from __future__ import annotations

import importlib.resources

import pytest

from relay_smtp.mail.classify import ClassifierRules, Sender, Verdict, classify
from relay_smtp.mail.model import TextModel, default_models, en_folded_features

RULES = ClassifierRules()
# The phrase rules alone: without this model and without the outcome-sentence signal.
RULES_ALONE = ClassifierRules(text_model=None, outcome_model=None)
SENDER = Sender(is_recruiting=True, company_domains=("corp.example",))


def mail(body: str, subject: str) -> bytes:
    return (
        f"From: hr@corp.example\r\nTo: sam@example.net\r\nSubject: {subject}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n")
    ).encode()


def run(body: str, subject: str, rules: ClassifierRules = RULES) -> Verdict:
    return classify(mail(body, subject), rules, SENDER, ["sam@example.net"])


def model_signals(verdict: Verdict) -> list[str]:
    return [str(s) for s in verdict.reasons if s.where == "model"]


def test_the_shipped_models_load_and_stay_small() -> None:
    models = default_models()
    assert models.ja is not None and models.en is not None
    assert (models.ja.language, models.en.language) == ("ja", "en")
    for language in ("ja", "en"):
        resource = importlib.resources.files("relay_smtp.mail").joinpath("phrases", f"model_{language}.json")
        assert len(resource.read_bytes()) < 300_000
    # n-grams of the kind each language uses
    assert any(len(g) == 3 and not g.isascii() for g in models.ja.weights)
    assert any(" " in g for g in models.en.weights)


JA_WEAK = "山田様\n\n営業職の件、今回は他の方にお任せすることとなりました。\n"
EN_WEAK = "Sam,\n\nThanks for applying for the analyst role. We found a closer match this time.\n"


@pytest.mark.parametrize(("body", "subject"), [(JA_WEAK, "営業職"), (EN_WEAK, "Analyst role")])
def test_the_model_backs_weak_rejection_wording_and_says_why(body: str, subject: str) -> None:
    assert run(body, subject, RULES_ALONE).label == "other"
    verdict = run(body, subject)
    assert verdict.label == "rejection", [str(s) for s in verdict.reasons]
    (signal,) = [s for s in verdict.reasons if s.where == "model"]
    assert signal.weight == 4 and signal.pattern == "reads like a rejection"
    assert "p=" in signal.matched and "top n-grams: " in signal.matched
    listed = signal.matched.split("top n-grams: ")[1].rstrip(")").split(", ")
    assert len(listed) == 5 and all(item.rsplit(" ", 1)[1].startswith("+") for item in listed)
    as_json = verdict.to_dict()["signals"]
    assert isinstance(as_json, list)
    assert any(s["where"] == "model" and "top n-grams" in s["matched"] for s in as_json)


def test_the_job_context_gate_still_decides() -> None:
    # The same wording about an enquiry: the model reads a rejection, the gate finds no job.
    verdict = run("山田様\n\nお問い合わせの件、今回は他の方にお任せすることとなりました。\n", "ご連絡")
    assert model_signals(verdict), [str(s) for s in verdict.reasons]
    assert verdict.label == "other"
    assert any(s.pattern == "no job-application context" for s in verdict.reasons)


@pytest.mark.parametrize(
    ("body", "subject"),
    [
        # a request counted: the mail asks for something, whatever it sounds like
        (
            "山田様\n\n営業職の件、今回は他の方にお任せすることとなりました。面接日程をご返信ください。\n",
            "営業職",
        ),
        # another kind of application
        ("山田様\n\nご融資の件、今回は他の方にお任せすることとなりました。\n", "ご連絡"),
        (
            "Sam,\n\nAbout the grant you applied for: other applicants were a closer match this time.\n",
            "Grant",
        ),
        # a scholarship's rejection that names 採用
        (
            "木村様\n\n奨学金へのご応募ありがとうございました。選考の結果、今回は採用を見送らせていただきます。\n",
            "選考結果",
        ),
        # rejection wording quoted in mail about rejection mail
        (
            "採用担当各位\n\n今週の不採用通知は「今回は採用を見送らせていただきます」の文例でお送りください。\n",
            "社内連絡",
        ),
        # a job still being filled
        (
            "木村様\n\nご応募ありがとうございます。本求人は募集を締め切りましたが、木村様の選考は引き続き"
            "進めております。\n",
            "選考結果",
        ),
        # no rejection wording the rules count: the model alone never decides
        (
            "Dear Sam,\n\nThanks for applying for the role. We did not put you forward for the Monday panel "
            "because you asked for Tuesday; see you then.\n",
            "Your application",
        ),
    ],
)
def test_the_model_never_adds_against_the_rules_safeguards(body: str, subject: str) -> None:
    verdict = run(body, subject)
    assert verdict.label == "other", [str(s) for s in verdict.reasons]
    assert not any(s.weight > 0 for s in verdict.reasons if s.where == "model")


TOY = TextModel(
    "en",
    {"regret": 2.0, "we regret": 1.0, "offer": -3.0, "pleased": -1.0},
    bias=0.0,
    threshold=0.9,
    weight=4,
    low_threshold=0.1,
    low_weight=2,
)


def test_a_reading_names_the_ngrams_that_pushed_it_most_that_way() -> None:
    up = TOY.read("we regret to tell you")  # 2 + 1
    assert up.weight == 4 and up.probability == pytest.approx(0.9526, abs=1e-4)
    assert up.top == (("regret", 2.0), ("we regret", 1.0))
    down = TOY.read("we are pleased to offer you the job")
    assert down.weight == -2
    assert [g for g, _ in down.top] == ["offer", "pleased"]
    assert down.explanation == "reads unlike a rejection (p=0.018; top n-grams: offer -3.00, pleased -1.00)"
    assert TOY.read("hello there").weight == 0


def test_a_model_file_round_trips_and_a_bad_one_is_refused() -> None:
    again = TextModel.from_json(TOY.to_json())
    assert again.to_json() == TOY.to_json()
    broken = {**TOY.to_json(), "weights": {"regret": "a lot"}}
    with pytest.raises(ValueError, match="n-grams to numbers"):
        TextModel.from_json(broken)


def test_folded_english_reads_one_statement_alike_in_its_wordings() -> None:
    stop = frozenset({"we", "your", "the", "be"})
    a = en_folded_features("we won't be moving your application forward", 300, stop)
    b = en_folded_features("we will not be moving the applications forwards", 300, stop)
    c = en_folded_features("we aren't moving it on; she's moved on", 300, stop)
    # a contraction as its words, an ending cut, a pair across the left-out words
    assert {"will not", "not be", "be mov", "mov", "forward", "~mov application"} <= a & b
    assert "won't" not in a and "moving" not in b and "applications" not in b
    assert {"are not", "not mov", "she", "mov on"} <= c and "she's" not in c
    # not folded: the words as written
    assert {"won't", "moving", "won't be"} <= TextModel("en", {}, 0.0).features("we won't be moving")


def test_a_folded_model_file_round_trips_and_an_unfolded_one_is_written_as_before() -> None:
    folded = TextModel("en", {"~mov application": 1.5}, -1.0, folded=True, stop_words=frozenset({"the", "a"}))
    data = folded.to_json()
    assert data["folded"] is True and data["stop_words"] == ["a", "the"]
    again = TextModel.from_json(data)
    assert again.folded and again.stop_words == frozenset({"the", "a"})
    assert again.probability("moving the application") == folded.probability("moving the application")
    assert "folded" not in TOY.to_json() and "stop_words" not in TOY.to_json()
    assert not TextModel.from_json(TOY.to_json()).folded
