"""Shared test helpers: where the real-world corpus lives and how to list it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def corpus_files() -> list[Path]:
    """Every message listed in ../shared/corpus/MANIFEST.tsv (empty where the corpus is absent)."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(encoding="utf-8", newline="") as f:
        return [CORPUS / row["file"] for row in csv.DictReader(f, delimiter="\t")]


def corpus_rows() -> list[dict[str, str]]:
    """MANIFEST rows (file, category, charsets, ...) for tests that filter by category."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture
def corpus() -> list[Path]:
    files = corpus_files()
    if not files:
        pytest.skip("../shared/corpus is absent")
    return files
