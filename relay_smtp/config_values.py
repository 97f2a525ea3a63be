"""Reading one TOML value: the converters that turn it into a checked Python value or a sentence.

Why this module exists: each converter raises TypeError/ValueError with the message an operator sees
after the key's name (`smtp.listen: port 99999 is out of range`); `Table` takes keys off one TOML
table, collects those messages and reports unknown keys. The section readers in `config_sections`
are built from these.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from relay_smtp.config_types import (
    HostPort,
    IPNetwork,
    MaildirUpstream,
    SmtpUpstream,
)

T = TypeVar("T")


class Table:
    """One TOML table being read: takes keys off it, records problems, reports leftovers."""

    def __init__(self, data: Mapping[str, Any], prefix: str, problems: list[str]) -> None:
        self._data = dict(data)
        self._prefix = prefix
        self._problems = problems

    def key(self, name: str) -> str:
        return f"{self._prefix}.{name}" if self._prefix else name

    def problem(self, name: str, message: str) -> None:
        self._problems.append(f"{self.key(name)}: {message}")

    def names(self) -> list[str]:
        return list(self._data)

    def holds_table(self, name: str) -> bool:
        return isinstance(self._data.get(name), dict)

    def get(self, name: str, default: T, convert: Callable[[Any], T]) -> T:
        """Take `name` off the table and convert it; on a bad value note it and keep the default."""
        if name not in self._data:
            return default
        raw = self._data.pop(name)
        try:
            return convert(raw)
        except (TypeError, ValueError) as exc:
            self.problem(name, str(exc))
            return default

    def table(self, name: str) -> Table:
        raw = self._data.pop(name, {})
        if not isinstance(raw, dict):
            self.problem(name, "must be a table")
            raw = {}
        return Table(raw, self.key(name), self._problems)

    def tables(self, name: str) -> list[Table]:
        raw = self._data.pop(name, [])
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            self.problem(name, "must be an array of tables ([[...]])")
            return []
        return [Table(item, f"{self.key(name)}[{i}]", self._problems) for i, item in enumerate(raw)]

    def finish(self) -> None:
        for name in self._data:
            self.problem(name, "unknown key")


def as_string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, not {toml_type(value)}")
    return value


def nonempty_string(value: Any) -> str:
    text = as_string(value)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"must be true or false, not {toml_type(value)}")
    return value


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"must be an integer, not {toml_type(value)}")
    if value <= 0:
        raise ValueError(f"must be positive, not {value}")
    return value


def positive_seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"must be a number of seconds, not {toml_type(value)}")
    if value <= 0:
        raise ValueError(f"must be positive, not {value}")
    return float(value)


def strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"must be an array of strings, not {toml_type(value)}")
    return tuple(as_string(item) for item in value)


def choice(*allowed: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> str:
        text = as_string(value)
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, not {text!r}")
        return text

    return convert


def toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def host_port(value: Any) -> HostPort:
    text = as_string(value)
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not host:port")
    host = host.removeprefix("[").removesuffix("]")
    if not port_text.isdigit():
        raise ValueError(f"port {port_text!r} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range")
    return HostPort(host, port)


parse_host_port = host_port


def network(value: Any) -> IPNetwork:
    text = as_string(value)
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not a network (e.g. 10.0.0.0/8)") from None


def networks(value: Any) -> tuple[IPNetwork, ...]:
    return tuple(network(item) for item in strings(value))


def proxies(value: Any) -> str:
    """Reverse proxies: addresses or networks, as a list or comma-separated; never "*".

    With "*" anyone could name their own address in X-Forwarded-For (the left-most entry would be
    believed): /metrics would open and per-client rate limits be evaded by rotating the header.
    """
    items = [i.strip() for i in value.split(",")] if isinstance(value, str) else list(strings(value))
    if not items or any(not i for i in items):
        raise ValueError("must name at least one address or network")
    if "*" in items:
        raise ValueError('"*" is not allowed: name the proxies\' addresses or networks')
    return ",".join(str(network(item)) for item in items)


def readable_file(value: Any) -> Path:
    path = Path(nonempty_string(value))
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a readable file")
    return path


def secret(env: Mapping[str, str]) -> Callable[[Any], str]:
    """A secret written inline or as ``env:NAME``; the value is never echoed in an error."""

    def convert(value: Any) -> str:
        text = nonempty_string(value)
        if not text.startswith("env:"):
            return text
        name = text.removeprefix("env:")
        if name not in env or not env[name]:
            raise ValueError(f"environment variable {name} is not set")
        return env[name]

    return convert


def upstream_target(value: Any) -> SmtpUpstream | MaildirUpstream:
    text = as_string(value)
    if text.startswith("maildir:"):
        path = text.removeprefix("maildir:")
        if not path:
            raise ValueError("maildir: needs a directory, e.g. maildir:./outbox")
        return MaildirUpstream(Path(path))
    parts = urlsplit(text)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"{text!r} must start with smtp://, smtps:// or maildir:")
    if not parts.hostname:
        raise ValueError(f"{text!r} has no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} has a port out of range") from None
    implicit = parts.scheme == "smtps"
    default_port = 465 if implicit else 25
    return SmtpUpstream(parts.hostname, port or default_port, implicit_tls=implicit)


def public_url(value: Any) -> str:
    text = nonempty_string(value).rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{text!r} must be an http:// or https:// URL")
    return text


def store_url(value: Any) -> str:
    text = nonempty_string(value)
    if not text.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
        raise ValueError(f"{text!r} must be a sqlite:/// or postgresql+psycopg:// URL")
    return text
