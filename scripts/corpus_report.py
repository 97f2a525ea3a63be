"""Run the pipeline with --force over ../shared/corpus and count what it did, with reasons.

    .venv/bin/python scripts/corpus_report.py [CORPUS_DIR]

Prints how many messages got the block, how many were left untouched and why, and how many hit an
internal error (which must be zero: those are forwarded unchanged, but they are bugs).
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

from relay_smtp.links import PersonalLink
from relay_smtp.pipeline import Envelope, PipelineConfig, process
from relay_smtp.smtp.server import normalise_line_endings

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def main(argv: list[str]) -> int:
    corpus = Path(argv[1]) if len(argv) > 1 else DEFAULT_CORPUS
    manifest = corpus / "MANIFEST.tsv"
    if not manifest.is_file():
        print(f"no corpus at {corpus}", file=sys.stderr)
        return 2
    with manifest.open(encoding="utf-8", newline="") as f:
        files = [corpus / row["file"] for row in csv.DictReader(f, delimiter="\t")]
    config = PipelineConfig(
        link_for=lambda company, recipient, message_id: PersonalLink("https://relay.example/r/TOKEN")
    )
    envelope = Envelope("sender@example.org", ("candidate@example.org",))
    actions: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for path in files:
        outcome = process(normalise_line_endings(path.read_bytes()), envelope, config, force=True)
        actions[outcome.action] += 1
        if outcome.action != "injected":
            reasons[outcome.reason] += 1
    print(f"corpus: {len(files)} messages")
    for action, count in actions.most_common():
        print(f"  {action:10} {count}")
    print("left untouched, by reason:")
    for reason, count in reasons.most_common():
        print(f"  {count:5}  {reason}")
    return 1 if actions["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
