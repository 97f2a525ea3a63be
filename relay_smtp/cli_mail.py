"""The `relay-smtp rewrite`, `preview` and `classify` commands: one message through the pipeline, offline.

Why this module exists: these are the commands a person uses to see what the relay would do with a
given message, without a running relay or a store; kept out of `cli` so that module stays a readable
list of commands.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path
from typing import Any

from relay_smtp.cli_settings import ConfigOption, with_settings
from relay_smtp.config import Company, Settings
from relay_smtp.devsecrets import with_development_secrets
from relay_smtp.exitcodes import EXIT_FAILURE, EXIT_OK
from relay_smtp.links import LinkSigner, PersonalLink
from relay_smtp.mail.classify import Sender, classify
from relay_smtp.mail.mime import parse_mime
from relay_smtp.pipeline import (
    Envelope,
    Outcome,
    PipelineConfig,
    find_company,
    from_address,
    process,
    recipients_of,
)
from relay_smtp.relay import pipeline_config
from relay_smtp.smtp.server import normalise_line_endings


def _read_input(path: str | None) -> bytes:
    if path is None or path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def _describe_verdict(outcome: Outcome) -> list[str]:
    lines = [f"action: {outcome.action} ({outcome.reason})"]
    if outcome.company:
        lines.append(f"company: {outcome.company}")
    verdict = outcome.verdict
    if verdict is not None:
        lines.append(f"verdict: {verdict.label} (score {verdict.score}, locale {verdict.locale})")
        lines.extend(f"  {reason}" for reason in verdict.reasons)
    return lines


def _offline_envelope(raw: bytes, recipient: str | None) -> Envelope:
    """As the relay sees a message for one recipient: --recipient, else the first To/Cc address."""
    recipients = recipients_of(raw)
    chosen = recipient or (recipients[0] if recipients else "candidate@example.invalid")
    return Envelope(from_address(raw, parse_mime(raw)), (chosen,))


def _offline_pipeline(settings: Settings, *, issues_links: bool) -> PipelineConfig:
    """The pipeline as the relay runs it, without the warnings that concern only a running relay.

    Links are signed with the installation's development secrets when a relay made them here (so
    the demo's web side opens them); never is a secrets file made by an offline command.
    """
    settings = with_development_secrets(settings, create=False)
    if settings.links.secrets:
        links = LinkSigner.from_settings(settings.links)
    else:
        if issues_links:
            print(
                "relay-smtp: links.secrets is not set and no relay has run here yet: the link in the "
                "output is signed with a throwaway secret and will not open",
                file=sys.stderr,
            )
        links = LinkSigner([secrets.token_urlsafe(32)], settings.links.max_age_days)
    return pipeline_config(settings, links, quiet=True)


@with_settings
def cmd_rewrite(args: argparse.Namespace, settings: Settings) -> int:
    raw = normalise_line_endings(_read_input(args.input))
    envelope = _offline_envelope(raw, args.recipient)
    outcome = process(raw, envelope, _offline_pipeline(settings, issues_links=True), force=args.force)
    for line in _describe_verdict(outcome):
        print(line, file=sys.stderr)
    if outcome.signing:
        print(f"dkim: {outcome.signing}", file=sys.stderr)
    data = outcome.outgoing[0].data
    if args.output and args.output != "-":
        Path(args.output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return EXIT_FAILURE if outcome.action == "failed" else EXIT_OK


@with_settings
def cmd_preview(args: argparse.Namespace, settings: Settings) -> int:
    raw = normalise_line_endings(Path(args.file).read_bytes())
    envelope = _offline_envelope(raw, args.recipient)
    outcome = process(raw, envelope, _offline_pipeline(settings, issues_links=False), force=args.force)
    print("\n".join(_describe_verdict(outcome)))
    print(f"dkim: {outcome.signing or 'unchanged mail keeps its own signatures'}")
    print("parts:")
    notes = {report.path: report for report in outcome.parts}
    for part in parse_mime(raw).walk():
        depth = part.path.count(".") + (1 if part.path else 0)
        details = [part.content_type]
        if part.charset:
            details.append(f"charset={part.charset}")
        if not part.is_multipart:
            details.append(f"cte={part.cte}")
            details.append(f"{part.body_end - part.body_start} octets")
        report = notes.get(part.path or "1") if not part.is_multipart else None
        note = ""
        if report is not None:
            note = f"  -> block {report.note}" if report.changed else f"  -- left alone: {report.note}"
        print(f"{'  ' * depth}[{part.path or 'root'}] {' '.join(details)}{note}")
    return EXIT_OK


def _no_links(company: Company, recipient: str, message_id: str) -> PersonalLink:
    raise RuntimeError("`relay-smtp classify` issues no links")


@with_settings
def cmd_classify(args: argparse.Namespace, settings: Settings) -> int:
    """One verdict per file, as the relay would judge it (recruiting sender as configured)."""
    # No links, no keys: only the verdict (a link asked for here would be a bug).
    config = PipelineConfig(companies=settings.companies, link_for=_no_links)
    results = []
    for name in args.files:
        raw = normalise_line_endings(Path(name).read_bytes())
        envelope = _offline_envelope(raw, None)
        company, recruiting = find_company(config.companies, envelope.mail_from, envelope.mail_from)
        sender = Sender(
            is_recruiting=recruiting or not config.companies,
            company_domains=company.domains if company else (),
        )
        verdict = classify(raw, config.rules_for(company), sender, envelope.recipients)
        results.append((name, verdict))
    if args.json:
        print(json.dumps([{"file": n, **v.to_dict()} for n, v in results], ensure_ascii=False, indent=2))
        return EXIT_OK
    for name, verdict in results:
        print(f"{name}: {verdict.label} (score {verdict.score}, locale {verdict.locale})")
        for reason in verdict.reasons:
            print(f"  {reason}")
    return EXIT_OK


def add_parsers(sub: Any, config_option: ConfigOption) -> None:
    rewrite = sub.add_parser("rewrite", help="run the pipeline on one message, offline")
    config_option(rewrite)
    rewrite.add_argument("--force", action="store_true", help="treat the message as a rejection")
    rewrite.add_argument("--recipient", help="personalise for this address (default: To and Cc)")
    rewrite.add_argument("input", nargs="?", help="message file (default: standard input)")
    rewrite.add_argument("-o", "--output", help="where to write the result (default: standard output)")
    rewrite.set_defaults(func=cmd_rewrite)

    preview = sub.add_parser("preview", help="show what the relay would do with a message")
    config_option(preview)
    preview.add_argument("--force", action="store_true", help="treat the message as a rejection")
    preview.add_argument("--recipient", help="personalise for this address")
    preview.add_argument("file", help="message file")
    preview.set_defaults(func=cmd_preview)

    classify_ = sub.add_parser("classify", help="say whether messages are rejections, and why")
    config_option(classify_)
    classify_.add_argument("--json", action="store_true", help="one JSON array of verdicts")
    classify_.add_argument("files", nargs="+", help="message files")
    classify_.set_defaults(func=cmd_classify)
