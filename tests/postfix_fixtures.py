"""A private Postfix instance on loopback ports, configured from docs/postfix.md, and relay-smtp as a process.

Used by tests/test_postfix_e2e.py. The instance lives entirely under one directory (its own main.cf and
master.cf, queue, data and log file), listens only on 127.0.0.1 ports given to it, and is driven with
`postfix -c DIR`, `postqueue -c DIR`: the machine's own Postfix instance and port 25 are never touched.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "postfix.md"

#: The Postfix services a sending host needs (Debian's master.cf without port 25, local delivery and the
#: pipe transports; pickup stays because `postqueue -f` takes its absence for a stopped mail system), all
#: unchrooted so that they work from a temporary directory.
BASE_MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def postfix_command(name: str) -> str:
    """The path of a Postfix command (`postfix`, `postconf`, `postqueue`): on PATH, or in an sbin
    directory, which a non-login PATH may lack; just `name` when it is nowhere."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
    return shutil.which(name, path=search) or name


def postfix_version() -> tuple[int, ...] | None:
    """The installed Postfix's version, or None when there is no usable `postfix`/`postconf`."""
    if not all(os.path.isabs(postfix_command(name)) for name in ("postfix", "postconf", "postqueue")):
        return None
    try:
        out = subprocess.run(
            [postfix_command("postconf"), "-h", "-d", "mail_version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", out.strip())
    return tuple(int(n) for n in match.groups(default="0")) if match else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    what: str, check: Callable[[], bool], timeout: float = 60.0, detail: Callable[[], str] = str
) -> None:
    """Poll `check` until it holds; fail naming `what` (and `detail()`) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{detail()}")
        time.sleep(0.1)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- the doc's recipes


def doc_blocks(heading: str) -> dict[str, str]:
    """The fenced code blocks of the `## heading…` section of docs/postfix.md, by their first line.

    The recipes' blocks start with the file they belong in (`# /etc/postfix/main.cf`), which is also a
    valid comment line in that file, so a block can be used as it stands.
    """
    section: list[str] = []
    inside = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line[3:].startswith(heading)
        elif inside:
            section.append(line)
    blocks: dict[str, str] = {}
    fence = False
    current: list[str] = []
    for line in section:
        if line.startswith("```"):
            if fence and current:
                blocks[current[0].strip()] = "\n".join(current) + "\n"
            fence, current = not fence, []
        elif fence:
            current.append(line)
    if not blocks:
        raise AssertionError(f"docs/postfix.md has no code blocks under a heading starting {heading!r}")
    return blocks


def with_ports(text: str, *, filter_port: int, reinject_port: int) -> str:
    """A snippet with the doc's ports (10025 relay, 10026 reinjection) replaced by the test's."""
    return text.replace(":10025", f":{filter_port}").replace(":10026", f":{reinject_port}")


def master_service(master_cf: str, name: str) -> list[str]:
    """The lines of one service (its first line and its `-o` continuation lines) in a master.cf text."""
    lines: list[str] = []
    for line in master_cf.splitlines():
        if line.startswith(name + " "):
            lines = [line]
        elif lines and line[:1].isspace():
            lines.append(line)
        elif lines:
            break
    if not lines:
        raise AssertionError(f"no {name!r} service in the doc's master.cf snippet")
    return lines


# --------------------------------------------------------------------------- Postfix


def run_with_terminal(command: list[str], timeout: float = 60.0) -> tuple[int, str]:
    """Run a Postfix administration command and return its exit code and what it said.

    Postfix commands report to stderr only when it is a terminal (otherwise only to the log, which does
    not exist yet when the configuration is wrong), so the command gets a pseudo-terminal.
    """
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal)
    finally:
        os.close(terminal)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # EIO: every holder of the terminal closed it
                    chunk = b""
                if chunk:
                    output += chunk
                    continue
            if proc.poll() is not None and (not ready or not chunk):
                break
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise AssertionError(
                    f"{' '.join(command)} did not finish in {timeout:.0f} s: {output.decode()}"
                )
    finally:
        os.close(controller)
    return proc.wait(), output.decode("utf-8", "replace").replace("\r\n", "\n")


def postfix_root() -> Path:
    """A new directory for an instance, which Postfix's unprivileged daemons can reach.

    The master opens its lock file in data_directory as the `postfix` user, so every directory above it
    must be searchable by others; pytest's own tmp tree is private to root, hence a directory in /tmp.
    """
    root = Path(tempfile.mkdtemp(prefix="relay-smtp-postfix-e2e-", dir="/tmp"))
    root.chmod(0o755)
    return root


class PostfixInstance:
    """A Postfix instance under `root`, listening on loopback ports only, delivering to a relayhost.

    `main_cf` and `master_cf` are appended to the instance's own settings and base services (the
    recipe's snippets); start() and stop() run `postfix -c DIR`; remove() deletes `root`.
    """

    def __init__(self, root: Path, *, relayhost_port: int, main_cf: str, master_cf: str) -> None:
        self.root = root
        self.config_dir = root / "etc"
        self.queue_dir = root / "queue"
        self.data_dir = root / "data"
        self.log_file = root / "maillog"
        version = postfix_version() or (3, 4)
        compatibility_level = "3.6" if version >= (3, 6) else "2"
        self.main_cf = (
            f"# A private test instance: everything under {root}, loopback only.\n"
            f"compatibility_level = {compatibility_level}\n"
            f"config_directory = {self.config_dir}\n"
            f"queue_directory = {self.queue_dir}\n"
            f"data_directory = {self.data_dir}\n"
            f"maillog_file = {self.log_file}\n"
            f"maillog_file_prefixes = {root}\n"
            "myhostname = mx.postfix-e2e.test\n"
            "mydestination =\n"
            "local_recipient_maps =\n"
            "alias_maps =\n"
            "alias_database =\n"
            "inet_interfaces = 127.0.0.1\n"
            "inet_protocols = ipv4\n"
            "mynetworks = 127.0.0.0/8\n"
            "smtpd_relay_restrictions = permit_mynetworks, reject\n"
            f"relayhost = [127.0.0.1]:{relayhost_port}\n"
            "smtp_host_lookup = native\n"
            "smtp_dns_support_level = disabled\n"
            "smtpd_peername_lookup = no\n"
            "biff = no\n"
            "# The recipe:\n" + main_cf
        )
        self.master_cf = BASE_MASTER_CF + "# The recipe:\n" + master_cf
        self.started = False

    def write(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.queue_dir.mkdir(exist_ok=True)
        (self.config_dir / "main.cf").write_text(self.main_cf, encoding="utf-8")
        (self.config_dir / "master.cf").write_text(self.master_cf, encoding="utf-8")

    def start(self) -> None:
        self.write()
        self.started = True  # from here on, stop() is worth trying whatever start() says
        code, said = run_with_terminal([postfix_command("postfix"), "-c", str(self.config_dir), "start"])
        if code != 0:
            raise AssertionError(f"postfix -c {self.config_dir} start failed ({code}):\n{said}\n{self.log()}")

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        code, _ = run_with_terminal([postfix_command("postfix"), "-c", str(self.config_dir), "stop"])
        if code == 0:
            return
        # Still running after a failed stop: end our own master (and its children) by its pid file.
        pid_file = self.queue_dir / "pid" / "master.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if Path(f"/proc/{pid}").exists():
            os.killpg(pid, signal.SIGKILL)

    def config_warnings(self) -> list[str]:
        """What `postconf -n` warns about in the written configuration (unknown `-o` parameters ...)."""
        result = subprocess.run(
            [postfix_command("postconf"), "-c", str(self.config_dir), "-n"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return [line for line in result.stderr.splitlines() if "warning" in line or "fatal" in line]

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def postqueue(self, *args: str) -> str:
        result = subprocess.run(
            [postfix_command("postqueue"), "-c", str(self.config_dir), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise AssertionError(f"postqueue {' '.join(args)} failed:\n{result.stderr}\n{self.log()}")
        return result.stdout + result.stderr

    def queue(self) -> str:
        """`postqueue -p`: the queue listing ("Mail queue is empty" when it is)."""
        return self.postqueue("-p")

    def flush(self) -> None:
        self.postqueue("-f")

    def log(self) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no Postfix log yet)"


# --------------------------------------------------------------------------- relay-smtp


class RelayProcess:
    """`relay-smtp serve --config FILE --workers 1` as a child process, on a port given in its config."""

    def __init__(self, config: Path, port: int, log_file: Path) -> None:
        self.config = config
        self.port = port
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "relay_smtp.cli", "serve", "--config", str(self.config)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_SMTP")}
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [*command, "--workers", "1"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.log_file.parent,
            )
        proc = self.proc
        wait_for(
            f"relay-smtp to listen on 127.0.0.1:{self.port}",
            lambda: proc.poll() is not None or listening(self.port),
            timeout=30,
            detail=self.log,
        )
        if proc.poll() is not None:
            raise AssertionError(f"relay-smtp exited with {proc.returncode}:\n{self.log()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log(self) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no relay log)"


def send(port: int, sender: str, recipients: list[str], data: bytes) -> str:
    """Send one message to 127.0.0.1:port; return the server's reply to DATA (e.g. "queued as ...")."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.ehlo("client.test")
        code, reply = client.mail(sender)
        assert code == 250, (code, reply)
        for rcpt in recipients:
            code, reply = client.rcpt(rcpt)
            assert code == 250, (rcpt, code, reply)
        code, reply = client.data(data)
        assert code == 250, (code, reply)
        return reply.decode("utf-8", "replace")
