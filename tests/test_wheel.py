"""The package as a mail admin installs it: a wheel, a fresh venv, `relay-smtp serve` far from the checkout.

One test, kept fast and offline: the wheel is built without build isolation (setuptools comes with the
test extras) and installed with ``--no-index --no-deps``; the dependencies, which are not what this
test is about, are lent from the environment running the tests through a path entry (a plain path: its
``.pth`` files, among them this checkout's editable install, are not processed).  relay-smtp itself,
its templates and the sample rejection come from the wheel alone, which the test checks.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import signal
import site
import subprocess
import sys
import time
import urllib.request
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ports import accepting, free_port

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(rb"http://127\.0\.0\.1:[0-9]+/r/[A-Za-z0-9_.-]+")
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def build_wheel(tmp: Path) -> Path:
    source = tmp / "src"
    source.mkdir()
    shutil.copytree(REPO / "relay_smtp", source / "relay_smtp", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    dist = tmp / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(source)],
        check=True,
        capture_output=True,
    )
    [wheel] = dist.glob("relay_smtp-*.whl")
    return wheel


def fresh_venv(tmp: Path, wheel: Path) -> Path:
    home = tmp / "venv"
    venv.create(home, with_pip=False)
    python = home / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "--python", str(python)]
    subprocess.run([*pip, "install", "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    lent = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "zz_test_dependencies.pth").write_text("\n".join(lent) + "\n", encoding="utf-8")
    return home


def clean_env(home: Path) -> dict[str, str]:
    keep = ("LANG", "LC_ALL", "TMPDIR", "HOME")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = f"{home / 'bin'}:/usr/bin:/bin"
    return env


@contextmanager
def serving(home: Path, cwd: Path, env: dict[str, str], ports: tuple[int, int]) -> Iterator[None]:
    """`relay-smtp serve` with no configuration file; other ports than 10025/8025 only because the
    machine running the tests may be using those (the demo's links follow --web-listen)."""
    smtp, web = ports
    command = [str(home / "bin" / "relay-smtp"), "serve", "--workers", "2"]
    command += ["--listen", f"127.0.0.1:{smtp}", "--web-listen", f"127.0.0.1:{web}"]
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not (accepting(smtp) and accepting(web)):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the relay did not start listening"
            time.sleep(0.05)
        time.sleep(0.5)  # both workers accepting, not only the first
        yield
        proc.send_signal(signal.SIGTERM)
        _, log = proc.communicate(timeout=30)
        assert proc.returncode == 0, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def get(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"User-Agent": BROWSER, "Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_the_wheel_runs_the_demo_outside_the_checkout(tmp_path: Path) -> None:
    ports = smtp, web = free_port(), free_port()
    home = fresh_venv(tmp_path, build_wheel(tmp_path))
    env = clean_env(home)
    work = tmp_path / "somewhere-else"
    work.mkdir()
    where = subprocess.run(
        [str(home / "bin" / "python"), "-c", "import relay_smtp; print(relay_smtp.__file__)"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(home)), where  # the wheel's copy, not the checkout's

    with serving(home, work, env, ports):
        command = [str(home / "bin" / "relay-smtp"), "send-sample", "--server", f"127.0.0.1:{smtp}"]
        sent = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith("sent from <saiyo@demo.example> to taro.yamada@example.org: 250 ")
        [delivered] = (work / "outbox" / "new").iterdir()
        data = delivered.read_bytes()
        assert b"X-Career-Relay: injected\r\n" in data
        text = email.message_from_bytes(data, policy=email.policy.default)
        plain = text.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "なお、デモ株式会社は「Career Relay」と提携しております。" in plain
        assert "career-relay" not in plain  # no visible machine tag
        links = set(LINK.findall(data))
        assert len(links) == 1, links  # the same personal link in the text and the HTML part
        url = links.pop().decode("ascii")
        answers = [get(url)[0] for _ in range(10)]
        assert answers == [200] * 10  # whichever worker answers knows the link
        assert url.startswith(f"http://127.0.0.1:{web}/r/")
        status, admin = get(f"http://127.0.0.1:{web}/admin")  # the demo's /admin: loopback, no token
        assert status == 200 and "デモ株式会社" in admin

    secrets_file = work / "relay-smtp.secrets"
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    with serving(home, work, env, ports):
        assert get(url)[0] == 200  # a restart keeps the links working

    credits = subprocess.run(
        [str(home / "bin" / "relay-smtp"), "credits", "--json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert credits.returncode == 0, credits.stderr
    [funnel] = json.loads(credits.stdout)
    assert (funnel["company"], funnel["links_issued"], funnel["clicks"]) == ("demo", 1, 11)
