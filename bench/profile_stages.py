"""Where the time goes for one message: each pipeline stage timed on its own, in microseconds.

    .venv/bin/python bench/profile_stages.py [--scenarios ja-rejection,...] [--cprofile N]

Stages (timeit-style: repeated calls, best and median of three repeats, per call):

- parse     relay_smtp.mail.mime.parse_mime (the byte-offset MIME walk)
- classify  relay_smtp.mail.classify.classify for this sender, from the raw bytes (parse included)
            and on the parsed message, as the pipeline calls it
- choose    choose_parts and the already-injected check (rejections)
- render    the personal link and the jinja2 block (rejections)
- splice    where the block goes in every target part (once per message) and the first copy made
            (rejections); each further copy (one per extra recipient: the block encoded into the
            prepared parts, the edits applied); and per part, prepared and filled: text / html
- sign      DkimSigner.sign of the spliced message, RSA-2048 and Ed25519
- pipeline  relay_smtp.pipeline.process end to end: without a signer, with RSA, with Ed25519
- forward   one aiosmtplib transaction (MAIL, RCPT, DATA) to the sink on a reused connection:
            wall time, and the client's CPU time; with aiosmtplib's own data() (what the baseline
            proxy does) and with the relay's one-pass payload (relay_smtp.smtp.wire.send_data)
- receive   CPU an SMTP server (bench/sink.py) spends per message it receives (fed by smtp-source
            or bench/load.py; measured from /proc): stock aiosmtpd (the baseline's server side) and
            with the relay's bulk DATA reader (relay_smtp.smtp.protocol)

With --cprofile N, also prints the N most expensive functions (cumulative) of process() with RSA.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import pstats
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import aiosmtplib  # noqa: E402
import make_messages  # noqa: E402
import run as bench_run  # noqa: E402

from relay_smtp import personalise as ps  # noqa: E402
from relay_smtp import pipeline as pl  # noqa: E402
from relay_smtp.config import load_settings  # noqa: E402
from relay_smtp.mail.choose import choose_parts  # noqa: E402
from relay_smtp.mail.classify import Sender, classify  # noqa: E402
from relay_smtp.mail.message import ParsedMessage  # noqa: E402
from relay_smtp.mail.mime import get_header, parse_mime  # noqa: E402
from relay_smtp.mail.own_block import carries_own_block  # noqa: E402
from relay_smtp.mail.snippets import RenderedBlock  # noqa: E402
from relay_smtp.relay import pipeline_config  # noqa: E402
from relay_smtp.smtp.wire import send_data  # noqa: E402


def measure(fn: Callable[[], Any], budget: float = 0.1, repeat: int = 3) -> tuple[float, float]:
    """(best, median) microseconds per call."""
    fn()  # warm caches (templates, regexes, lazy imports)
    # CPU time of this process, not wall time: the machine is often shared, and a descheduled
    # process would count other processes' time as its own.
    timer = timeit.Timer(fn, timer=time.process_time)
    number, _ = timer.autorange()
    number = max(1, int(number * budget / 0.2))
    runs = [t / number * 1e6 for t in timer.repeat(repeat=repeat, number=number)]
    return min(runs), statistics.median(runs)


def configs(workdir: Path) -> dict[str, pl.PipelineConfig]:
    out = {}
    for algorithm in ("rsa", "ed25519"):
        path, _ = bench_run.relay_config(workdir, f"profile-{algorithm}", 25, algorithm, 20)
        out[algorithm] = pipeline_config(load_settings(path))
    out["none"] = dataclasses.replace(out["rsa"], signer=None)
    return out


def stage_times(name: str, raw: bytes, cfgs: dict[str, pl.PipelineConfig]) -> dict[str, tuple[float, float]]:
    _, sender, _ = make_messages.MESSAGES[name]
    envelope = pl.Envelope(sender, (make_messages.RECIPIENT,))
    cfg = cfgs["rsa"]
    times: dict[str, tuple[float, float]] = {}
    root = parse_mime(raw)
    times["parse"] = measure(lambda: parse_mime(raw))
    header_from = pl.from_address(raw, root)
    company, recruiting = pl.find_company(cfg.companies, envelope.mail_from, header_from)
    who = Sender(is_recruiting=recruiting, company_domains=company.domains if company else ())
    times["classify"] = measure(lambda: classify(raw, cfg.rules, who, envelope.recipients))
    # As the pipeline calls it: on the message it parsed (a fresh ParsedMessage, so nothing decoded
    # is reused from the previous call).
    times["  classify (parsed)"] = measure(
        lambda: classify(ParsedMessage(raw, root), cfg.rules, who, envelope.recipients)
    )
    verdict = classify(raw, cfg.rules, who, envelope.recipients)
    if verdict.label == "rejection" and company is not None:

        def choose() -> None:  # as the pipeline does it, on a message nothing was read from yet
            message = ParsedMessage(raw, root)
            selection = choose_parts(raw, root, message.decoded)
            carries_own_block(message, selection.targets, cfg.own_link)

        times["choose"] = measure(choose)
        selection = choose_parts(raw, root)
        message_id = get_header(raw, root, "Message-ID") or ""
        locale = verdict.locale if company.locale == "auto" else company.locale

        def render() -> RenderedBlock:
            link = cfg.link_for(company, make_messages.RECIPIENT, message_id)
            return cfg.renderer.render(locale=locale, company_name=company.name, link=link.url)

        times["render"] = measure(render)
        block = render()
        targets, skipped, placeholder = selection.targets, selection.skipped, cfg.rules.placeholder

        def splice() -> tuple[bytes, list[pl.PartReport]]:
            plan = ps.make_plan(raw, targets, skipped, (), placeholder)  # once per message
            return ps.render_copy(raw, plan, block)  # the first copy

        times["splice"] = measure(splice)
        plan = ps.make_plan(raw, targets, skipped, (), placeholder)
        times["  splice each further copy"] = measure(lambda: ps.render_copy(raw, plan, block))
        for part in selection.targets:
            kind = "html" if part.content_type == "text/html" else "text"
            times[f"  splice {kind} ({part.cte})"] = measure(
                lambda part=part: ps.splice_part(raw, part, block, cfg.rules.placeholder)
            )
        spliced, _ = ps.render_copy(raw, plan, block)
        for algorithm in ("rsa", "ed25519"):
            signer = cfgs[algorithm].signer
            assert signer is not None
            times[f"sign {algorithm}"] = measure(lambda signer=signer: signer.sign(spliced))
    for label, key in (
        ("pipeline (no signer)", "none"),
        ("pipeline rsa", "rsa"),
        ("pipeline ed25519", "ed25519"),
    ):
        if key == "ed25519" and verdict.label != "rejection":
            continue
        times[label] = measure(lambda key=key: pl.process(raw, envelope, cfgs[key]))
    return times


async def _send(client: aiosmtplib.SMTP, sender: str, raw: bytes, one_pass: bool) -> None:
    if not one_pass:
        await client.sendmail(sender, [make_messages.RECIPIENT], raw)
        return
    await client.mail(sender)
    await client.rcpt(make_messages.RECIPIENT)
    await send_data(client, raw)


async def forward_times(
    port: int, raw: bytes, sender: str, count: int, one_pass: bool
) -> tuple[float, float]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    for _ in range(3):
        await _send(client, sender, raw, one_pass)
    walls, cpus = [], []
    for _ in range(count):
        wall, cpu = time.perf_counter(), time.process_time()
        await _send(client, sender, raw, one_pass)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    await client.quit()
    return statistics.median(walls) * 1e6, sum(cpus) / len(cpus) * 1e6


def receive_cpu(spec: bench_run.Spec, count: int, bulk: bool) -> float:
    """CPU microseconds bench/sink.py (aiosmtpd, or with the bulk reader) spends per message received."""
    sink = bench_run.start_sink(False, bulk=bulk)
    try:
        pid = sink.pid
        bench_run.run_load(sink.port, spec, 20, 4)
        before = bench_run.cpu_seconds([pid])
        bench_run.run_load(sink.port, spec, count, 4)
        return (bench_run.cpu_seconds([pid]) - before) / count * 1e6
    finally:
        sink.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="per-stage profile of one message, in microseconds")
    parser.add_argument("--scenarios", default=",".join(make_messages.MESSAGES))
    parser.add_argument("--cprofile", type=int, default=0, metavar="N", help="also print the N top functions")
    args = parser.parse_args(argv)
    names = [n for n in args.scenarios.split(",") if n]
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="relay-profile-") as tmp:
        work = Path(tmp)
        cfgs = configs(work)
        specs = bench_run.specs(names, work)
        sink = bench_run.start_sink(True)
        try:
            for name in names:
                raw = specs[name].path.read_bytes()
                print(f"profiling {name} ...", file=sys.stderr, flush=True)
                times = stage_times(name, raw, cfgs)
                big = len(raw) > 1_000_000
                for one_pass, label in ((False, "aiosmtplib"), (True, "one-pass")):
                    sent = forward_times(sink.port, raw, specs[name].sender, 20 if big else 300, one_pass)
                    wall, cpu = asyncio.run(sent)
                    times[f"forward {label} (wall)"] = (wall, wall)
                    times[f"forward {label} (client CPU)"] = (cpu, cpu)
                for bulk, label in ((False, "aiosmtpd"), (True, "bulk DATA")):
                    received = receive_cpu(specs[name], 50 if big else 1000, bulk)
                    times[f"receive ({label} CPU)"] = (received, received)
                results[name] = times
                if args.cprofile:
                    envelope = pl.Envelope(specs[name].sender, (make_messages.RECIPIENT,))
                    profile = cProfile.Profile()
                    profile.enable()
                    for _ in range(3 if big else 30):
                        pl.process(raw, envelope, cfgs["rsa"])
                    profile.disable()
                    print(f"\n--- cProfile, process() with RSA, {name} ---")
                    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.cprofile)
        finally:
            sink.stop()
    stages: list[str] = []
    for times in results.values():
        for stage in times:
            if stage not in stages:
                stages.append(stage)
    # Sub-stages (indented) right after their stage.
    subs = [s for s in stages if s.startswith("  ")]
    stages = [s for s in stages if not s.startswith("  ")]
    for sub in reversed(subs):
        parent = sub.split()[0]
        stages.insert(stages.index(parent) + 1 if parent in stages else len(stages), sub)
    width = max(len(s) for s in stages)
    print("per-stage time of one message, microseconds (best of 3 repeats; median in brackets)")
    print(" " * width + "".join(f"  {n:>22}" for n in names))
    for stage in stages:
        cells = []
        for name in names:
            value = results[name].get(stage)
            cells.append(f"  {'-':>22}" if value is None else f"  {value[0]:>10,.0f} [{value[1]:>9,.0f}]")
        print(stage.ljust(width) + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
