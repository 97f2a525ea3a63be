"""Log lines a mail admin can follow: the queue id on every line of a transaction, text or JSON.

The queue id is given at MAIL FROM (as Postfix does) and kept in a context variable, so every line
logged while that transaction is handled, in the SMTP session's task or in the pipeline's worker
thread (asyncio.to_thread copies the context), carries it without being passed around.

Log lines quote what clients send (request paths, SMTP commands, addresses, header values). So that
nothing a client sends can forge a line or put a control character into the log, the formatters
escape control characters (C0, DEL, C1, and the Unicode line and paragraph separators) in every
message, whichever logger wrote it (aiosmtpd and uvicorn included), and indent traceback lines.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from typing import ClassVar, TextIO

current_queue_id: ContextVar[str] = ContextVar("current_queue_id", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(queue_id)s] %(message)s"


class QueueIdFilter(logging.Filter):
    """Adds `queue_id` to every record (a filter on the handler, so library loggers get it too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "queue_id"):
            record.queue_id = current_queue_id.get()
        return True


_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """`text` with every control character written as a visible escape (\\n, \\x00, \\u2028)."""
    return _UNSAFE.sub(_escape_one, text)


class SafeTextFormatter(logging.Formatter):
    """The text format, one line per message: control characters escaped, tracebacks indented."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = escape_controls(self.formatMessage(record))  # extra fields (queue_id) too
        extra = []
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            extra.append(record.exc_text)
        if record.stack_info:
            extra.append(self.formatStack(record.stack_info))
        for text in extra:
            # An exception's message may quote client data: its lines can never start a log line.
            line += "".join(f"\n    {escape_controls(part)}" for part in text.splitlines())
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields given with `extra=` (action, reply, ...) become keys."""

    _STANDARD: ClassVar[frozenset[str]] = frozenset(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {k: v for k, v in vars(record).items() if k not in self._STANDARD}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # json.dumps escapes C0 controls; C1 and U+2028/2029 (line breaks to some viewers) too.
        return _UNSAFE.sub(
            lambda m: f"\\u{ord(m.group()):04x}", json.dumps(entry, ensure_ascii=False, default=str)
        )


def make_handler(stream: TextIO, log_format: str) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.addFilter(QueueIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else SafeTextFormatter(TEXT_FORMAT))
    return handler


def setup_logging(level: str, log_format: str) -> None:
    handler = make_handler(sys.stderr, log_format)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiosmtpd logs every command at INFO; the relay writes its own line per transaction.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
