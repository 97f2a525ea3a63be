"""The systemd unit verifies, and the relay speaks sd_notify to a socket like systemd's."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_unit_file_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    unit = (REPO / "systemd" / "relay-smtp.service").read_text(encoding="utf-8")
    assert "Type=notify" in unit and "ExecReload=" in unit and "CapabilityBoundingSet=\n" in unit
    installed = tmp_path / "relay-smtp.service"
    installed.write_text(unit.replace("/opt/relay-smtp", str(REPO)), encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(installed)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "relay-smtp.service" not in result.stderr, result.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ready_and_stopping_are_notified(tmp_path: Path, workers: str) -> None:
    notify_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(20)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "relay.toml"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        web_port = probe.getsockname()[1]
    config.write_text(
        f'[smtp]\nlisten = "127.0.0.1:{port}"\n[spool]\ndirectory = "{tmp_path / "spool"}"\n'
        f'[upstream]\nurl = "maildir:{tmp_path / "outbox"}"\n'
        f'[web]\nlisten = "127.0.0.1:{web_port}"\n[store]\nurl = "sqlite:///{tmp_path / "r.db"}"\n',
        encoding="utf-8",
    )
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "relay_smtp.cli", "serve", "--config", str(config), "--workers", workers],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert b"READY=1" in listener.recv(4096)
        proc.send_signal(signal.SIGTERM)
        assert b"STOPPING=1" in listener.recv(4096)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        listener.close()
