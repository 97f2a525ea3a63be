"""Smoke test of the benchmark (bench/run.py): it starts, relays a few messages and prints its table.

The benchmark itself is not part of the suite (it takes minutes); this only keeps it runnable.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "bench" / "run.py"


def test_quick_benchmark_prints_its_table() -> None:
    if not RUN.exists() or not (Path(sys.executable).parent / "relay-smtp").exists():
        pytest.skip("bench/run.py or the relay-smtp command is not installed here")
    command = [
        sys.executable,
        str(RUN),
        "--quick",
        "--messages",
        "20",
        "--sessions",
        "2",
        "--scenarios",
        "en-rejection",
        "--signing",
        "rsa",
        "--workers",
        "1",
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=REPO)
    except subprocess.TimeoutExpired:
        pytest.fail("bench/run.py --quick did not finish within 120 s")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert re.search(r"^en-rejection +rsa +\d", result.stdout, re.M), output[-3000:]
    assert re.search(r"^en-rejection +- +base ", result.stdout, re.M), output[-3000:]
    assert "probe rsa: ok" in result.stdout, output[-3000:]
