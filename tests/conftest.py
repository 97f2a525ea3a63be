"""Shared test helpers: where the real-world corpus lives and how to list it."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from smtp_fixtures import LoopThread, Sink

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


@pytest.fixture(autouse=True, scope="session")
def _temporary_files_under_pytest(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep what tests create with `tempfile` (spool directories ...) under pytest's own tmp tree."""
    import tempfile

    tempfile.tempdir = str(tmp_path_factory.mktemp("tempfile"))


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    """An event loop in a background thread, for the relay and the sink."""
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture
def sink(loop_thread: LoopThread) -> Iterator[Sink]:
    """A recording next hop on a free loopback port."""
    s = Sink(loop_thread).start()
    yield s
    s.stop()
