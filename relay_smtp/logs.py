"""Log lines a mail admin can follow: the queue id on every line of a transaction, text or JSON.

The queue id is given at MAIL FROM (as Postfix does) and kept in a context variable, so every line
logged while that transaction is handled, in the SMTP session's task or in the pipeline's worker
thread (asyncio.to_thread copies the context), carries it without being passed around.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from typing import ClassVar

current_queue_id: ContextVar[str] = ContextVar("current_queue_id", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(queue_id)s] %(message)s"


class QueueIdFilter(logging.Filter):
    """Adds `queue_id` to every record (a filter on the handler, so library loggers get it too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "queue_id"):
            record.queue_id = current_queue_id.get()
        return True


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
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(QueueIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiosmtpd logs every command at INFO; the relay writes its own line per transaction.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
