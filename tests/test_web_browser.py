"""The pages in a real browser: `scripts/screenshots.py` renders them in headless Chromium.

Skipped where Chromium is not installed (``apt-get install chromium fonts-noto-cjk``).  The script
itself fails when a page logs anything to the console (a CSP violation, a missing stylesheet) or does
not render its main heading; this test also checks that every PNG was written and is a real picture.
"""

from __future__ import annotations

import importlib.util
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "screenshots.py"
EXPECTED = {
    "landing-ja-mobile": 390,
    "landing-en-desktop": 1280,
    "sent-ja-mobile": 390,
    "confirm-en-mobile": 390,
    "invalid-link-mobile": 390,
    "admin-desktop": 1280,
    "admin-company-ja-desktop": 1280,
    "admin-operator-company-ja-desktop": 1280,
    "admin-company-en-desktop": 1280,
}


def load_script() -> object:
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_console_lines_that_count_as_errors() -> None:
    pattern = load_script().CONSOLE_ERROR  # type: ignore[attr-defined]
    csp = '[1:1:1122/204921.515648:INFO:CONSOLE:1] "Applying inline style violates the following Content'
    missing = '[1:1:1122/1.1:INFO:CONSOLE(0)] "Failed to load resource: the server responded with 404"'
    assert pattern.search(csp) and pattern.search(missing)
    assert not pattern.search("[1:1:1122/1.1:WARNING:ui/base/idle/idle_linux.cc:111] None of the known D-Bus")


def test_pages_render_in_headless_chromium(tmp_path: Path) -> None:
    chromium = load_script().find_chromium()  # type: ignore[attr-defined]
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name, width in EXPECTED.items():
        png = tmp_path / f"{name}.png"
        assert png.is_file(), result.stdout
        assert png.stat().st_size > 5_000, f"{png.name} looks empty"
        assert png_size(png)[0] == width
