#!/usr/bin/env python3
"""Measure the rejection classifier on the labelled sets and list every mistake with its reasons.

    python scripts/classify_report.py [--set tuning|heldout|all] [--data DIR] [--all] [--timing]

Two sets, reported separately: the TUNING set (tests/data/classify/*.eml with labels.tsv), which the
rules were written against, and the HELD-OUT set (tests/data/classify/heldout/), written by someone
who had not read the rules and never tuned on: only it says how the rules do on mail they were not
written from. Every message is classified as the relay would see it from a company's recruiting
sender whose own domain is the domain of the message's From address (as a company's configured
domains would be: hr@hokushin.example.co.jp sends for hokushin.example.co.jp, so a candidate at
example.com is outside; a public mail provider's domain, listed in
tests/data/classify/public_mail_domains.txt, is nobody's own), with the To and Cc addresses as
envelope recipients and the default ClassifierRules. (Until the third held-out set, the report
used the fixed parent domains example.co.jp and example.com for every sender, which made any
candidate address at example.com look internal; see docs/classifier.md.)

Prints, per set and language: messages, TP, FP, FN, TN, precision, recall; then the confusion list
(every mistake with its reasons) and the near misses (right, but by a margin of at most
NEAR_MARGIN points, or only thanks to the structure signal; or stopped only by the job-context gate).
Exits 1 when precision is below 1.00 or recall below 0.95 in any language of a reported set
(precision first: a referral block in an offer letter is worse than a missed rejection).
"""

from __future__ import annotations

import argparse
import csv
import email
import email.utils
import sys
import time
from dataclasses import dataclass, field
from email.policy import compat32
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from relay_smtp.mail.classify import ClassifierRules, Sender, Verdict, classify  # noqa: E402

DATA = REPO / "tests" / "data" / "classify"
HELDOUT = DATA / "heldout"
NEAR_MARGIN = 1
SENDER = Sender(is_recruiting=True, company_domains=("example.co.jp", "example.com"))
MIN_PRECISION = 1.00
MIN_RECALL = 0.95


@dataclass
class Result:
    file: str
    language: str
    expected: str
    kind: str
    verdict: Verdict


@dataclass
class Confusion:
    """Counts of a rejection verdict against its label: what every measure of the classifier prints
    (this report, and the learned signals' trainers)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def messages(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def count(self, predicted: bool, expected: bool) -> None:
        if predicted and expected:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif expected:
            self.fn += 1
        else:
            self.tn += 1

    def __str__(self) -> str:
        figures = f"TP {self.tp} FP {self.fp} FN {self.fn} TN {self.tn}"
        return f"P {self.precision:.3f} R {self.recall:.3f} ({figures})"


@dataclass
class Stats(Confusion):
    mistakes: list[Result] = field(default_factory=list)

    def add(self, result: Result) -> None:
        predicted = result.verdict.label == "rejection"
        expected = result.expected == "rejection"
        self.count(predicted, expected)
        if predicted != expected:
            self.mistakes.append(result)


def recipients_of(raw: bytes) -> list[str]:
    """To and Cc addresses: the envelope recipients the relay would see for the set."""
    msg = email.message_from_bytes(raw, policy=compat32)
    values = [str(v) for name in ("To", "Cc") for v in msg.get_all(name, [])]
    return [addr for _, addr in email.utils.getaddresses(values) if addr]


def _public_mail_domains() -> frozenset[str]:
    lines = (DATA / "public_mail_domains.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


PUBLIC_MAIL_DOMAINS = _public_mail_domains()


def sender_of(raw: bytes) -> Sender:
    """The company's recruiting sender, its own domain taken from the From address; a public mail
    provider's domain is nobody's own (a pub landlord writing from a free-mail account to a candidate
    at the same provider is not internal mail)."""
    msg = email.message_from_bytes(raw, policy=compat32)
    addresses = email.utils.getaddresses([str(v) for v in msg.get_all("From", [])])
    domains = tuple(addr.rpartition("@")[2].lower() for _, addr in addresses if "@" in addr)
    own = tuple(d for d in domains if d not in PUBLIC_MAIL_DOMAINS)
    return Sender(is_recruiting=True, company_domains=own)


def run(data: Path = DATA, rules: ClassifierRules | None = None) -> list[Result]:
    rules = rules or ClassifierRules()
    with (data / "labels.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    results = []
    for row in rows:
        raw = (data / row["file"]).read_bytes()
        verdict = classify(raw, rules, sender_of(raw), recipients_of(raw))
        results.append(Result(row["file"], row["language"], row["label"], row["kind"], verdict))
    return results


def evaluate(results: list[Result]) -> dict[str, Stats]:
    stats: dict[str, Stats] = {}
    for result in results:
        stats.setdefault(result.language, Stats()).add(result)
    return stats


def passes(stats: dict[str, Stats]) -> bool:
    return all(s.precision >= MIN_PRECISION and s.recall >= MIN_RECALL for s in stats.values())


def print_verdict(result: Result) -> None:
    v = result.verdict
    print(f"  {result.file} [{result.kind}] expected {result.expected}, got {v.label} ({v.score})")
    for reason in v.reasons:
        print(f"      {reason}")


def near_miss(result: Result, threshold: int) -> str:
    """Why a correct verdict was a close call ("" when it was not)."""
    v = result.verdict
    if v.label != result.expected or v.explicit is not None:
        return ""
    structure = sum(s.weight for s in v.reasons if s.where == "structure")
    if v.label == "rejection":
        if v.score - threshold < NEAR_MARGIN:
            return f"score {v.score}, threshold {threshold}"
        if structure and v.score - structure < threshold:
            return "a rejection only with the structure signal"
        return ""
    if any(s.pattern == "no job-application context" for s in v.reasons):
        return "reached the threshold; stopped only by the job-context gate"
    if v.score >= threshold - NEAR_MARGIN:
        return f"score {v.score}, threshold {threshold}"
    return ""


def report(stats: dict[str, Stats], title: str = "", results: list[Result] | None = None) -> None:
    if title:
        print(f"== {title}")
    print(f"{'lang':<5}{'msgs':>6}{'TP':>5}{'FP':>5}{'FN':>5}{'TN':>5}{'precision':>11}{'recall':>8}")
    for language, s in sorted(stats.items()):
        print(
            f"{language:<5}{s.messages:>6}{s.tp:>5}{s.fp:>5}{s.fn:>5}{s.tn:>5}"
            f"{s.precision:>11.2f}{s.recall:>8.2f}"
        )
    for language, s in sorted(stats.items()):
        if s.mistakes:
            print(f"\nmisclassified ({language}):")
            for result in s.mistakes:
                print_verdict(result)
    threshold = ClassifierRules().threshold
    near = [(r, why) for r in results or [] if (why := near_miss(r, threshold))]
    if near:
        print("\nnear misses:")
        for result, why in near:
            print(f"  -- {why}")
            print_verdict(result)
    print()


def timing(data: Path) -> None:
    """Classification time per message over the set (reading and parsing included)."""
    rules = ClassifierRules()
    raws = [p.read_bytes() for p in sorted(data.glob("*.eml"))]
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        for raw in raws:
            classify(raw, rules, SENDER, ["candidate@example.net"])
    per = (time.perf_counter() - start) / (rounds * len(raws))
    print(f"\ntiming: {per * 1e6:.0f} us per message (mean over {len(raws)} messages)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("tuning", "heldout", "all"), default="all", dest="which")
    parser.add_argument("--data", type=Path, help="one directory with labels.tsv instead of the sets")
    parser.add_argument("--all", action="store_true", help="print every verdict, not only mistakes")
    parser.add_argument("--timing", action="store_true", help="also measure time per message")
    args = parser.parse_args(argv)

    if args.data:
        sets = [(str(args.data), args.data)]
    else:
        sets = [("tuning set", DATA), ("held-out set", HELDOUT)]
        sets = [(t, d) for t, d in sets if args.which in ("all", "tuning" if d == DATA else "heldout")]
    # Between rounds there is no held-out set: it is named as missing, not silently left out. A run that
    # measured nothing, or that was asked for a missing set by name (--set heldout), fails.
    present = [(t, d) for t, d in sets if (d / "labels.tsv").is_file()]
    ok = bool(present) and (args.which == "all" or len(present) == len(sets))
    for title, data in sets:
        if (title, data) not in present:
            print(f"== {title}: none ({data / 'labels.tsv'} does not exist)\n")
            continue
        results = run(data)
        stats = evaluate(results)
        report(stats, title, results)
        if args.all:
            print("all verdicts:")
            for result in results:
                print_verdict(result)
        ok = ok and passes(stats)
    if args.timing and present:
        timing(present[0][1])
    print(f"{'PASS' if ok else 'FAIL'}: precision >= {MIN_PRECISION:.2f}, recall >= {MIN_RECALL:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
