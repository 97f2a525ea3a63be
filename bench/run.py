"""Benchmark relay-smtp against a minimal pass-through proxy, on this machine, over loopback.

    .venv/bin/python bench/run.py [--quick] [--messages N] [--sessions N] [--workers N]
                                  [--scenarios ja-rejection,en-rejection,business,pdf-2mb]
                                  [--signing rsa,ed25519] [--json FILE]

What runs, each as its own process:

- the sink: Postfix's smtp-sink (C) when installed, else bench/sink.py (aiosmtpd); it counts what
  it receives, and every run checks that the count grew by exactly the number of messages sent, so a
  relay that loses mail cannot look fast;
- the relay under test: `relay-smtp serve --config <generated>` (next hop: the sink; one company in
  enforce mode; RSA-2048 or Ed25519 DKIM keys made with `relay-smtp dkim keygen`), and with
  `--workers N` when `relay-smtp serve` has that option;
- the baseline: bench/passthrough.py (aiosmtpd in, aiosmtplib out, before-queue, nothing else);
- the load: Postfix's smtp-source (C) when installed for the throughput runs, else bench/load.py;
  latency is always measured with bench/load.py at a quarter of the measured maximum rate, once
  through the relay (or the baseline) and once straight to the sink at the same rate: the added
  latency is the difference of the two percentiles.

Before measuring, one message of each scenario is sent through the relay to a capturing sink and
checked: rejections must carry the block marker and a DKIM signature that verifies with the
generated key; other mail must arrive byte for byte as sent.

Two cores: nothing is pinned. The relay (1 or N processes) and the baseline are the CPU-bound
processes; smtp-sink and smtp-source are C and use a few percent of one core at these rates (their
CPU per message is printed), so a one-process relay or the baseline effectively has one core to
itself and the sink and load share the other. With N=2 relay workers, the workers, the sink and the
load generator share both cores; the printed CPU figures say how much each took. With the Python
fallbacks (no Postfix), sink and load cost about as much CPU per message as the baseline and the
ratios are pessimistic for multi-worker runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import resource
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import make_messages  # noqa: E402

PYTHON = sys.executable
RELAY_BIN = (
    str(Path(PYTHON).parent / "relay-smtp") if (Path(PYTHON).parent / "relay-smtp").exists() else "relay-smtp"
)
SMTP_SINK = shutil.which("smtp-sink") or (
    "/usr/sbin/smtp-sink" if Path("/usr/sbin/smtp-sink").exists() else None
)
SMTP_SOURCE = shutil.which("smtp-source") or (
    "/usr/sbin/smtp-source" if Path("/usr/sbin/smtp-source").exists() else None
)
CLK_TCK = os.sysconf("SC_CLK_TCK")
CPUS = os.cpu_count() or 1
REJECTIONS = ("ja-rejection", "en-rejection")
ALGORITHMS = {"rsa": "rsa-sha256", "ed25519": "ed25519-sha256"}
DOMAIN = "acme.co.jp"


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_greeting(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(f"{what} did not answer on port {port} within {timeout:.0f}s")


# --------------------------------------------------------------------------- processes


def children(pid: int) -> list[int]:
    """All descendants of pid (workers), from /proc."""
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for kid in kids.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime (fields 14-17 of stat; index 11.. after the name)
        total += sum(int(x) for x in fields[11:15]) / CLK_TCK
    return total


def system_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used (every core, from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def reset_peak_rss(pids: list[int]) -> bool:
    ok = True
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tree(self) -> list[int]:
        return [self.pid, *children(self.pid)]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Sink(Proc):
    """smtp-sink -c or bench/sink.py: both print "mesg=N" as messages arrive; a thread keeps the last."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], port: int) -> None:
        super().__init__(name, popen, port)
        self._count = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        tail = b""
        while chunk := self.popen.stdout.read1(65536):
            text = tail + chunk
            found = re.findall(rb"mesg=(\d+)", text)
            if found:
                with self._lock:
                    self._count = max(self._count, int(found[-1]))
            tail = text[-32:]

    def count(self) -> int:
        with self._lock:
            return self._count

    def wait_for(self, expected: int, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while self.count() < expected and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.05)  # anything beyond the expected count would show now
        return self.count()


def start_sink(use_smtp_sink: bool, capture: Path | None = None, bulk: bool = False) -> Sink:
    port = free_port()
    if use_smtp_sink and SMTP_SINK and capture is None:
        cmd = [SMTP_SINK, "-c"]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]  # smtp-sink refuses to run as root otherwise
        cmd += [f"127.0.0.1:{port}", "1024"]
        name = "smtp-sink"
    else:
        cmd = [PYTHON, str(BENCH / "sink.py"), str(port)]
        if capture is not None:
            cmd += ["--capture", str(capture)]
        if bulk:
            cmd += ["--bulk"]
        name = "bench/sink.py"
    popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    sink = Sink(name, popen, port)
    wait_for_greeting(port, popen, name)
    return sink


def start_baseline(sink: Sink, workdir: Path) -> Proc:
    port = free_port()
    log_path = workdir / "passthrough.log"
    with log_path.open("wb") as out:
        popen = subprocess.Popen(
            [PYTHON, str(BENCH / "passthrough.py"), str(port), str(sink.port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    proc = Proc("passthrough", popen, port, log_path)
    wait_for_greeting(port, popen, "bench/passthrough.py")
    return proc


# --------------------------------------------------------------------------- the relay


def code_state() -> str:
    """The relay's code as measured: the commit, and whether relay_smtp/ had uncommitted changes."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return result.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "relay_smtp")
    return f"{commit}{' + uncommitted changes in relay_smtp/' if dirty else ''}"


def serve_help() -> str:
    result = subprocess.run([RELAY_BIN, "serve", "--help"], capture_output=True, text=True, check=False)
    return result.stdout + result.stderr


def workers_option() -> tuple[bool, int]:
    """Whether `relay-smtp serve` has --workers, and its default (1 unless the help says otherwise)."""
    text = serve_help()
    if "--workers" not in text:
        return False, 1
    at = text.rindex("--workers")
    # The option's own help, up to the next option, on one line.
    own = " ".join(re.split(r"\n\s+--?[a-z]", text[at:], maxsplit=1)[0].split())
    match = re.search(r"default[:=\s]+(\d+|[a-z ]*cpu|auto)", own, re.IGNORECASE)
    if match is None:
        return True, 1
    value = match.group(1)
    return True, int(value) if value.isdigit() else CPUS


def make_key(workdir: Path, algorithm: str) -> tuple[Path, str]:
    selector = f"bench-{algorithm}"
    path = workdir / f"{DOMAIN}.{selector}.key"
    if not path.exists():
        result = subprocess.run(
            [
                RELAY_BIN,
                "dkim",
                "keygen",
                "--domain",
                DOMAIN,
                "--selector",
                selector,
                "--algorithm",
                algorithm,
                "-o",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BenchError(f"relay-smtp dkim keygen failed: {result.stderr.strip()}")
    return path, selector


def relay_config(workdir: Path, name: str, sink_port: int, algorithm: str, sessions: int) -> tuple[Path, int]:
    key_file, selector = make_key(workdir, algorithm)
    port = free_port()
    state = workdir / name
    state.mkdir(exist_ok=True)
    text = f"""\
# generated by bench/run.py
[smtp]
listen = "127.0.0.1:{port}"
drain_timeout = 5.0

[upstream]
url = "smtp://127.0.0.1:{sink_port}"
tls = "none"
timeout = 30.0
# as many idle next-hop connections as the load has sessions (the baseline keeps one per session)
pool_size = {max(8, sessions)}

[web]
listen = "127.0.0.1:{free_port()}"
public_url = "https://relay.acme.co.jp"

[store]
url = "sqlite:///{state}/relay.db"

[links]
secrets = ["bench-link-secret-0123456789abcdef0123456789abcdef"]

[spool]
directory = "{state}/spool"

[log]
level = "warning"

[[companies]]
id = "acme"
name = "株式会社アクメ"
locale = "auto"
mode = "enforce"
recruiting_senders = ["{make_messages.SENDER_RECRUIT}"]
domains = ["{DOMAIN}"]

[[dkim.keys]]
domain = "{DOMAIN}"
selector = "{selector}"
key_file = "{key_file}"
algorithm = "{ALGORITHMS[algorithm]}"
"""
    path = workdir / f"{name}.toml"
    path.write_text(text)
    check = subprocess.run(
        [RELAY_BIN, "check-config", "--config", str(path)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise BenchError(f"generated config {path} is invalid:\n{check.stderr}")
    return path, port


def start_relay(config: Path, port: int, workers: int | None, workdir: Path, name: str) -> Proc:
    cmd = [RELAY_BIN, "serve", "--config", str(config)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as out:
        popen = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir
        )
    proc = Proc(f"relay {name}", popen, port, log_path)
    try:
        wait_for_greeting(port, popen, "relay-smtp serve")
    except BenchError as exc:
        proc.stop()
        raise BenchError(f"{exc}\n{proc.log_tail()}") from None
    if workers and workers > 1:  # give the workers a moment to all be listening
        deadline = time.monotonic() + 10
        while len(proc.tree()) < workers + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    return proc


# --------------------------------------------------------------------------- load


@dataclass
class Spec:
    name: str
    path: Path
    lf_path: Path  # for smtp-source, which appends CRLF to every line it reads
    sender: str
    size: int


def specs(names: list[str], workdir: Path) -> dict[str, Spec]:
    paths = make_messages.ensure(names)
    out = {}
    for name in names:
        _, sender, _ = make_messages.MESSAGES[name]
        data = paths[name].read_bytes()
        lf = workdir / f"{name}.lf.eml"
        lf.write_bytes(data.replace(b"\r\n", b"\n"))
        out[name] = Spec(name, paths[name], lf, sender, len(data))
    return out


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_load(
    port: int,
    spec: Spec,
    messages: int,
    sessions: int,
    *,
    rate: float = 0.0,
    use_smtp_source: bool = True,
) -> dict[str, Any]:
    """Send `messages` messages; return rate, latency (own client only), loader CPU and failures."""
    target = f"127.0.0.1:{port}"
    loader_cpu = children_cpu()
    started = time.perf_counter()
    if use_smtp_source and SMTP_SOURCE and not rate:
        cmd = [
            SMTP_SOURCE,
            "-d",
            "-s",
            str(sessions),
            "-m",
            str(messages),
            "-M",
            "bench.example",
            "-f",
            spec.sender,
            "-t",
            make_messages.RECIPIENT,
            "-F",
            str(spec.lf_path),
            target,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
        seconds = time.perf_counter() - started
        failed = 0 if result.returncode == 0 else -1
        out: dict[str, Any] = {
            "loader": "smtp-source",
            "sent": messages if failed == 0 else 0,
            "failed": failed,
            "seconds": seconds,
            "rate": messages / seconds,
            "first_error": (result.stdout + result.stderr).strip()[-300:],
        }
    else:
        cmd = [
            PYTHON,
            str(BENCH / "load.py"),
            "-s",
            str(sessions),
            "-m",
            str(messages),
            "-f",
            spec.sender,
            "-t",
            make_messages.RECIPIENT,
            "-F",
            str(spec.path),
        ]
        if rate:
            cmd += ["-R", f"{rate:.3f}"]
        result = subprocess.run([*cmd, target], capture_output=True, text=True, check=False, timeout=900)
        try:
            out = json.loads(result.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            raise BenchError(f"bench/load.py failed: {result.stderr.strip()[-500:]}") from None
        out["loader"] = "bench/load.py"
    out["loader_cpu"] = children_cpu() - loader_cpu
    return out


@dataclass
class Row:
    scenario: str
    signing: str
    workers: str
    default_workers: bool
    relay_rate: float = math.nan
    base_rate: float = math.nan
    relay_cpu_ms: float = math.nan
    base_cpu_ms: float = math.nan
    added_p50: float = math.nan
    added_p99: float = math.nan
    latency_rate: float = math.nan
    relay_p50: float = math.nan
    relay_p99: float = math.nan
    direct_p50: float = math.nan
    direct_p99: float = math.nan
    peak_rss: dict[int, float] = field(default_factory=dict)
    rss_scope: str = ""
    sink_ok: bool = True
    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.relay_rate / self.base_rate if self.base_rate else math.nan


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.sink: Sink | None = None
        self.procs: list[Proc] = []

    # ----------------------------------------------------------------- helpers

    def counts(self, spec: Spec, warm_rate: float) -> int:
        """Messages for a throughput run: --messages (a tenth for 2 MB), but no more than the warm-up
        rate says fit in --seconds (and never fewer than 200, 40 for 2 MB)."""
        if self.args.quick:
            return self.args.messages
        big = spec.size > 1_000_000
        most = max(20, self.args.messages // 10) if big else self.args.messages
        least = min(most, 20 if big else 200)
        return int(min(most, max(least, warm_rate * self.args.seconds)))

    def latency_count(self, spec: Spec, rate: float) -> int:
        if self.args.quick:
            return min(self.args.messages, 10)
        low, high = (10, 300) if spec.size > 1_000_000 else (100, 1200)
        return int(min(high, max(low, rate * self.args.latency_seconds)))

    def checked_load(self, port: int, spec: Spec, messages: int, *, rate: float = 0.0) -> dict[str, Any]:
        assert self.sink is not None
        before = self.sink.count()
        result = run_load(
            port, spec, messages, self.args.sessions, rate=rate, use_smtp_source=not self.args.own_load
        )
        got = self.sink.wait_for(before + messages) - before
        result["sink_received"] = got
        result["sink_ok"] = got == messages and result["failed"] == 0 and result["sent"] == messages
        if not result["sink_ok"]:
            log(
                f"  !! sent {result['sent']}/{messages}, failed {result['failed']}, sink received {got}: "
                f"{result.get('first_error', '')}"
            )
        return result

    def warm(self, port: int, spec: Spec) -> float:
        """Warm caches and pools; the rate it reached sizes the measured run."""
        n = 5 if self.args.quick else (10 if spec.size > 1_000_000 else 100)
        return float(self.checked_load(port, spec, n)["rate"])

    def throughput(
        self, port: int, spec: Spec, pids: list[int], sink_pid: int, warm_rate: float
    ) -> dict[str, Any]:
        n = self.counts(spec, warm_rate)
        per_pid = {pid: cpu_seconds([pid]) for pid in pids}
        cpu0, sink0, busy0 = cpu_seconds(pids), cpu_seconds([sink_pid]), system_busy_seconds()
        result = self.checked_load(port, spec, n)
        busy = system_busy_seconds() - busy0
        ours = cpu_seconds(pids) - cpu0 + cpu_seconds([sink_pid]) - sink0 + result["loader_cpu"]
        # CPU that other processes on this machine took meanwhile, in cores: noise in the figures.
        result["other_cores"] = max(0.0, (busy - ours) / result["seconds"])
        result["messages"] = n
        result["cpu_ms_per_msg"] = (cpu_seconds(pids) - cpu0) / n * 1000
        result["cpu_share"] = {pid: round(cpu_seconds([pid]) - before, 2) for pid, before in per_pid.items()}
        result["sink_cpu_ms_per_msg"] = (cpu_seconds([sink_pid]) - sink0) / n * 1000
        result["loader_cpu_ms_per_msg"] = result["loader_cpu"] / n * 1000
        return result

    def latency(self, port: int, spec: Spec, rate: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """(through `port`, straight to the sink), both at `rate`."""
        assert self.sink is not None
        n = self.latency_count(spec, rate)
        # Straight to the sink the figures hardly vary: half as many messages are enough.
        half = max(5 if spec.size > 1_000_000 else 30, n // 2)
        direct = self.checked_load(self.sink.port, spec, n if self.args.quick else half, rate=rate)
        through = self.checked_load(port, spec, n, rate=rate)
        return through, direct

    # ----------------------------------------------------------------- the run

    def probe(self, algorithm: str, specs_: dict[str, Spec]) -> list[str]:
        """Send one message of each scenario through the relay to a capturing sink and check the result."""
        from relay_smtp.config import DkimKey
        from relay_smtp.mail.dkim import load_key, verify_with_key

        capture = self.workdir / f"capture-{algorithm}"
        sink = start_sink(False, capture)
        problems = []
        relay = None
        try:
            config, port = relay_config(self.workdir, f"probe-{algorithm}", sink.port, algorithm, 2)
            relay = start_relay(config, port, None, self.workdir, f"probe-{algorithm}")
            key_file, selector = make_key(self.workdir, algorithm)
            txt = load_key(DkimKey(DOMAIN, selector, key_file, ALGORITHMS[algorithm])).dns_txt()  # type: ignore[arg-type]
            for number, spec in enumerate(specs_.values(), start=1):
                sent = spec.path.read_bytes()
                with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                    client.sendmail(spec.sender, [make_messages.RECIPIENT], sent)
                got_path = capture / f"{number:06d}.eml"
                deadline = time.monotonic() + 10
                while not got_path.exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
                if not got_path.exists():
                    problems.append(f"{spec.name}: nothing arrived at the sink")
                    continue
                got = got_path.read_bytes().split(b"\r\n", 2)[2]
                if spec.name in REJECTIONS:
                    if b"X-Career-Relay: injected" not in got.split(b"\r\n\r\n", 1)[0]:
                        problems.append(f"{spec.name}: no X-Career-Relay: injected header (not injected?)")
                    elif (
                        not got.startswith(b"DKIM-Signature:")
                        or f"a={ALGORITHMS[algorithm]}".encode() not in got[:400]
                    ):
                        problems.append(f"{spec.name}: not signed with {ALGORITHMS[algorithm]}")
                    elif not verify_with_key(got, txt):
                        problems.append(f"{spec.name}: DKIM signature does not verify")
                elif got != sent:
                    problems.append(f"{spec.name}: changed on the way although it is not a rejection")
        finally:
            if relay is not None:
                relay.stop()
            sink.stop()
        return problems

    def run(self) -> tuple[list[Row], dict[str, Any]]:
        args = self.args
        names = args.scenarios
        specs_ = specs(names, self.workdir)
        has_workers, default_workers = workers_option()
        info: dict[str, Any] = {
            "cpus": CPUS,
            "python": sys.version.split()[0],
            "sink": "smtp-sink" if SMTP_SINK and not args.own_sink else "bench/sink.py",
            "throughput_load": "smtp-source" if SMTP_SOURCE and not args.own_load else "bench/load.py",
            "latency_load": "bench/load.py",
            "workers_option": has_workers,
            "default_workers": default_workers,
            "sessions": args.sessions,
            "code": code_state(),
            "notes": [],
        }
        worker_runs: list[tuple[str, int | None, bool]] = []
        if has_workers:
            for n in sorted({1, args.workers}):
                worker_runs.append((str(n), n, n == default_workers))
        else:
            worker_runs.append(("1", None, True))
            info["notes"].append(
                f"`relay-smtp serve` has no --workers option yet: the {args.workers}-worker scenarios were "
                "skipped; every relay figure is one process."
            )

        busy0 = system_busy_seconds()
        time.sleep(1.0)
        idle_load = system_busy_seconds() - busy0
        if idle_load > 0.2:
            info["notes"].append(
                f"the machine was not idle at the start: other processes used {idle_load:.2f} cores; "
                "see the 'other' column"
            )
        log(f"sink: {info['sink']}; throughput load: {info['throughput_load']}; latency load: bench/load.py")
        for algorithm in args.signing:
            problems = self.probe(algorithm, specs_)
            info[f"probe_{algorithm}"] = problems or "ok"
            outcome = "; ".join(problems) if problems else "ok (injected, signed, verified)"
            log(f"probe ({algorithm}): {outcome}")

        self.sink = sink = start_sink(not args.own_sink)
        self.procs.append(sink)

        # The baseline, once per message.
        base: dict[str, dict[str, Any]] = {}
        baseline = start_baseline(sink, self.workdir)
        self.procs.append(baseline)
        for name, spec in specs_.items():
            log(f"baseline {name}")
            warm_rate = self.warm(baseline.port, spec)
            reset_peak_rss([baseline.pid])
            result = self.throughput(baseline.port, spec, [baseline.pid], sink.pid, warm_rate)
            result["peak_rss_mb"] = peak_rss_mb(baseline.pid)
            through, direct = self.latency(baseline.port, spec, result["rate"] / 4)
            result["latency"] = {"through": through, "direct": direct, "rate": result["rate"] / 4}
            base[name] = result
            added = (through["p50_ms"] - direct["p50_ms"], through["p99_ms"] - direct["p99_ms"])
            log(
                f"  {result['rate']:.0f} msg/s, {result['cpu_ms_per_msg']:.2f} ms CPU/msg; "
                f"added p50 {added[0]:.2f} ms, p99 {added[1]:.2f} ms"
            )
        baseline.stop()
        self.procs.remove(baseline)

        rows: list[Row] = []
        for workers_label, workers, is_default in worker_runs:
            for index, algorithm in enumerate(args.signing):
                todo = [n for n in names if n in REJECTIONS or index == 0]
                if not todo:
                    continue
                name = f"relay-{algorithm}-w{workers_label}"
                config, port = relay_config(self.workdir, name, sink.port, algorithm, args.sessions)
                relay = start_relay(config, port, workers, self.workdir, name)
                self.procs.append(relay)
                try:
                    for scenario in todo:
                        rows.append(
                            self.relay_row(
                                relay, specs_[scenario], algorithm, workers_label, is_default, base[scenario]
                            )
                        )
                finally:
                    relay.stop()
                    self.procs.remove(relay)
                    if relay.popen.returncode not in (0, None):
                        info["notes"].append(
                            f"{name} exited with {relay.popen.returncode}: {relay.log_tail(5)}"
                        )
        info["baseline"] = base
        return rows, info

    def relay_row(
        self, relay: Proc, spec: Spec, algorithm: str, workers: str, is_default: bool, base: dict[str, Any]
    ) -> Row:
        assert self.sink is not None
        signing = algorithm if spec.name in REJECTIONS else "-"
        log(f"relay {spec.name} sign={signing} workers={workers}")
        row = Row(
            spec.name,
            signing,
            workers,
            is_default,
            base_rate=base["rate"],
            base_cpu_ms=base["cpu_ms_per_msg"],
        )
        warm_rate = self.warm(relay.port, spec)
        pids = relay.tree()
        row.rss_scope = "this scenario" if reset_peak_rss(pids) else "since start"
        result = self.throughput(relay.port, spec, pids, self.sink.pid, warm_rate)
        row.peak_rss = {pid: rss for pid in pids if (rss := peak_rss_mb(pid)) is not None}
        row.relay_rate = result["rate"]
        row.relay_cpu_ms = result["cpu_ms_per_msg"]
        row.sink_ok = bool(result["sink_ok"])
        if not row.sink_ok:
            row.problems.append(f"sink received {result['sink_received']} of {result['messages']}")
        row.latency_rate = result["rate"] / 4
        through, direct = self.latency(relay.port, spec, row.latency_rate)
        row.relay_p50, row.relay_p99 = through["p50_ms"], through["p99_ms"]
        row.direct_p50, row.direct_p99 = direct["p50_ms"], direct["p99_ms"]
        row.added_p50 = through["p50_ms"] - direct["p50_ms"]
        row.added_p99 = through["p99_ms"] - direct["p99_ms"]
        if not (through["sink_ok"] and direct["sink_ok"]):
            row.sink_ok = False
            row.problems.append("latency run lost messages")
        row.extra = {"throughput": result, "latency_through": through, "latency_direct": direct}
        log(
            f"  {row.relay_rate:.0f} msg/s ({row.ratio:.2f}x), {row.relay_cpu_ms:.2f} ms CPU/msg, "
            f"added p50 {row.added_p50:.2f} ms p99 {row.added_p99:.2f} ms at {row.latency_rate:.0f} msg/s, "
            f"peak RSS {max(row.peak_rss.values(), default=0):.0f} MB, "
            f"CPU s per process {result['cpu_share']}"
        )
        return row

    def close(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop()
        self.procs.clear()


# --------------------------------------------------------------------------- report


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def table(rows: list[Row], info: dict[str, Any]) -> str:
    head = (
        "scenario",
        "sign",
        "wkr",
        "relay/s",
        "base/s",
        "ratio",
        "CPU ms/msg r|b",
        "added p50",
        "added p99",
        "@ msg/s",
        "peak RSS MB/proc",
        "other",
        "sink",
    )
    lines = []
    for r in rows:
        rss = ",".join(f"{v:.0f}" for v in r.peak_rss.values()) or "-"
        lines.append(
            (
                r.scenario,
                r.signing,
                r.workers + ("*" if r.default_workers else ""),
                fmt(r.relay_rate, 0),
                fmt(r.base_rate, 0),
                fmt(r.ratio, 2),
                f"{fmt(r.relay_cpu_ms, 2)}|{fmt(r.base_cpu_ms, 2)}",
                fmt(r.added_p50, 2),
                fmt(r.added_p99, 2),
                fmt(r.latency_rate, 0),
                rss,
                fmt(r.extra.get("throughput", {}).get("other_cores", math.nan), 2),
                "ok" if r.sink_ok else "LOST",
            )
        )
    for name, b in info.get("baseline", {}).items():
        lat = b["latency"]
        lines.append(
            (
                name,
                "-",
                "base",
                "-",
                fmt(b["rate"], 0),
                "1.00",
                f"-|{fmt(b['cpu_ms_per_msg'], 2)}",
                fmt(lat["through"]["p50_ms"] - lat["direct"]["p50_ms"], 2),
                fmt(lat["through"]["p99_ms"] - lat["direct"]["p99_ms"], 2),
                fmt(lat["rate"], 0),
                fmt(b.get("peak_rss_mb") or math.nan, 0),
                fmt(b.get("other_cores", math.nan), 2),
                "ok" if b["sink_ok"] else "LOST",
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=False)]
    out = ["  ".join(str(x).ljust(w) for x, w in zip(head, widths, strict=False))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=False)) for line in lines]
    return "\n".join(out)


def targets(rows: list[Row], info: dict[str, Any]) -> list[str]:
    default = [r for r in rows if r.default_workers and r.sink_ok]
    out = []

    def verdict(name: str, checks: list[tuple[str, bool]]) -> None:
        if not checks:
            out.append(f"[n/a ] {name}: no scenario measured")
            return
        ok = all(passed for _, passed in checks)
        out.append(f"[{'MET ' if ok else 'MISS'}] {name}: " + "; ".join(text for text, _ in checks))

    verdict(
        "rejection + RSA-2048, default workers >= 0.8x baseline",
        [
            (f"{r.scenario} {r.ratio:.2f}x", r.ratio >= 0.8)
            for r in default
            if r.scenario in REJECTIONS and r.signing == "rsa"
        ],
    )
    verdict(
        "non-rejection pass-through, default workers >= 1.3x baseline",
        [(f"{r.scenario} {r.ratio:.2f}x", r.ratio >= 1.3) for r in default if r.scenario not in REJECTIONS],
    )
    verdict(
        "p99 added latency < 10 ms, 20 KB rejections at 1/4 max rate",
        [
            (f"{r.scenario}/{r.signing}/w{r.workers} {r.added_p99:.2f} ms", r.added_p99 < 10)
            for r in rows
            if r.scenario in REJECTIONS and r.sink_ok
        ],
    )
    rss_rows = [r for r in rows if r.scenario == "pdf-2mb" and r.sink_ok]
    rss_note = "" if info["sessions"] == 20 else f" (measured with {info['sessions']} sessions, not 20)"
    verdict(
        "peak RSS < 150 MB per worker, 2 MB scenario, 20 sessions" + rss_note,
        [
            (
                f"w{r.workers} {max(r.peak_rss.values(), default=math.nan):.0f} MB",
                max(r.peak_rss.values(), default=math.inf) < 150,
            )
            for r in rss_rows
        ],
    )
    return out


def placement_note(rows: list[Row], info: dict[str, Any]) -> str:
    cpu_bits = []
    for r in rows:
        t = r.extra.get("throughput", {})
        if t:
            shares = list(t.get("cpu_share", {}).values())
            total = r.relay_cpu_ms + t["sink_cpu_ms_per_msg"] + t["loader_cpu_ms_per_msg"]
            busy = total * r.relay_rate / 1000
            cpu_bits.append(
                f"  {r.scenario}/{r.signing}/w{r.workers}: relay {r.relay_cpu_ms:.2f} + sink "
                f"{t['sink_cpu_ms_per_msg']:.2f} + load {t['loader_cpu_ms_per_msg']:.2f} ms CPU/msg "
                f"= {busy:.2f} of {info['cpus']} cores busy"
                + (f"; CPU s per process {'/'.join(f'{v:.1f}' for v in shares)}" if len(shares) > 1 else "")
            )
    for name, b in info.get("baseline", {}).items():
        total = b["cpu_ms_per_msg"] + b["sink_cpu_ms_per_msg"] + b["loader_cpu_ms_per_msg"]
        cpu_bits.append(
            f"  {name}/baseline: proxy {b['cpu_ms_per_msg']:.2f} + sink {b['sink_cpu_ms_per_msg']:.2f} + "
            f"load {b['loader_cpu_ms_per_msg']:.2f} ms CPU/msg = {total * b['rate'] / 1000:.2f} of "
            f"{info['cpus']} cores busy"
        )
    return "\n".join(cpu_bits)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="relay-smtp vs a pass-through proxy (loopback)")
    parser.add_argument("--quick", action="store_true", help="small counts, no stage profile (smoke test)")
    parser.add_argument("--messages", type=int, help="messages per 20 KB throughput run (2 MB: a tenth)")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent SMTP sessions (default 20)")
    parser.add_argument("--workers", type=int, default=CPUS, help=f"N for the N-worker runs (default {CPUS})")
    parser.add_argument(
        "--scenarios",
        default=",".join(make_messages.MESSAGES),
        help="comma-separated: " + ",".join(make_messages.MESSAGES),
    )
    parser.add_argument("--signing", default="rsa,ed25519", help="comma-separated: rsa,ed25519")
    parser.add_argument("--seconds", type=float, default=6.0, help="about how long each throughput run lasts")
    parser.add_argument(
        "--latency-seconds", type=float, default=5.0, help="about how long each latency run lasts"
    )
    parser.add_argument(
        "--own-load", action="store_true", help="use bench/load.py even if smtp-source exists"
    )
    parser.add_argument("--own-sink", action="store_true", help="use bench/sink.py even if smtp-sink exists")
    parser.add_argument("--no-profile", action="store_true", help="skip bench/profile_stages.py")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (configs, logs)")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    args.signing = [s.strip() for s in args.signing.split(",") if s.strip()]
    for name in args.scenarios:
        if name not in make_messages.MESSAGES:
            parser.error(f"unknown scenario {name!r}")
    for name in args.signing:
        if name not in ALGORITHMS:
            parser.error(f"unknown signing {name!r}")
    if args.messages is None:
        args.messages = 20 if args.quick else 2000
    return args


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    try:
        yield path
    finally:
        if keep:
            log(f"work directory kept: {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    with workdir(args.keep) as work:
        bench = Bench(args, work)
        try:
            rows, info = bench.run()
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
        finally:
            bench.close()
    print()
    print(
        f"relay-smtp benchmark: {CPUS} cores, Python {info['python']}, sink {info['sink']}, "
        f"throughput load {info['throughput_load']} ({args.sessions} sessions, connections reused), "
        f"latency load bench/load.py; relay code {info['code']}"
    )
    print(table(rows, info))
    print(
        "  wkr: relay processes (* = the default); ratio = relay/s / baseline/s; added = p(relay) - "
        "p(direct to sink) at '@ msg/s' (1/4 of the max rate); peak RSS = VmHWM per process;\n"
        "  other = cores that other processes on this machine used during the throughput run (noise)"
    )
    print()
    for line in targets(rows, info):
        print(line)
    probes = {k: v for k, v in info.items() if k.startswith("probe_")}
    for key, value in probes.items():
        print(f"probe {key[6:]}: {value if isinstance(value, str) else '; '.join(value)}")
    for note in info["notes"]:
        print(f"note: {note}")
    print("CPU per message during the throughput runs (2 cores shared by relay, sink and load):")
    print(placement_note(rows, info))
    if args.json:
        args.json.write_text(
            json.dumps({"info": info, "rows": [r.__dict__ for r in rows]}, indent=1, default=str)
        )
    if not args.quick and not args.no_profile:
        print()
        subprocess.run(
            [PYTHON, str(BENCH / "profile_stages.py"), "--scenarios", ",".join(args.scenarios)], check=False
        )
    log(f"done in {time.monotonic() - started:.0f}s")
    lost = [r for r in rows if not r.sink_ok] + [
        b for b in info.get("baseline", {}).values() if not b["sink_ok"]
    ]
    bad_probe = any(not isinstance(v, str) for v in probes.values())
    return 1 if lost or bad_probe else 0


if __name__ == "__main__":
    sys.exit(main())
