"""Configuration: a TOML file becomes validated, frozen settings.

Operators edit this file by hand, so every mistake must come back as a sentence that names the key
(`smtp.listen: port 99999 is out of range`), all mistakes at once, and unknown keys are errors rather
than silently ignored typos. Secret values may be written as ``"env:NAME"`` and are then read from the
environment, so the file itself can be world-readable.

Nothing here touches the network or starts anything; the settings are passed into the parts that do.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from relay_smtp import config_types
from relay_smtp.config_sections import read_settings
from relay_smtp.config_types import *  # noqa: F403  (re-exported: every settings type)
from relay_smtp.config_types import AgencySettings, Company, ConfigError, HostPort, Settings
from relay_smtp.config_values import parse_host_port

# The settings types live in config_types, the readers in config_values and config_sections; the
# rest of the relay imports all of them from here.
__all__ = [
    "DEMO_AGENCY",
    "DEMO_COMPANY",
    "load_settings",
    "parse_host_port",
    "with_listeners",
]
__all__ += config_types.__all__


# --------------------------------------------------------------------------- the demo

#: With no configuration file the relay runs this company in `enforce` mode, taking every sender as
#: recruiting ("*"), so that a rejection sent to it comes out with the block and a working link.  Safe
#: only because the embedded next hop is the local Maildir (nothing leaves the machine) and the SMTP
#: port takes mail from loopback alone.
DEMO_COMPANY = Company(
    id="demo",
    name="デモ株式会社",
    locale="auto",
    mode="enforce",
    recruiting_senders=("*",),
    domains=("demo.example",),
)
DEMO_AGENCY = "Example Recruitment Agency (demo)"


def _demo(settings: Settings) -> Settings:
    """The embedded defaults as a demo: a company in `enforce` mode and a named partner agency.

    The demo's one visitor opens the link seconds after sending it, which in production is what a
    mail scanner does; so the demo has no scanner window (user agents of known scanners still count
    as bots), and the click shows in the funnel as the person's."""
    web = replace(settings.web, scanner_window_seconds=0)
    return replace(
        settings, companies=(DEMO_COMPANY,), agency=AgencySettings(name=DEMO_AGENCY), web=web, demo=True
    )


def with_listeners(settings: Settings, smtp: HostPort | None, web: HostPort | None) -> Settings:
    """`serve --listen/--web-listen`: other addresses than the file's (or the defaults', when 8025 is
    taken).  Without a file the links follow the web listener, so the demo's links still open."""
    if smtp is not None:
        settings = replace(settings, smtp=replace(settings.smtp, listen=smtp))
    if web is not None:
        public_url = f"http://{web}" if settings.source is None else settings.web.public_url
        settings = replace(settings, web=replace(settings.web, listen=web, public_url=public_url))
    return settings


def load_settings(path: Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Read `path` (or the embedded defaults when None) into Settings, or raise ConfigError."""
    environ = os.environ if env is None else env
    if path is None:
        return _demo(read_settings({}, environ, None))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: is not UTF-8"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    # Relative paths in the file (key files, maildir) are taken relative to the working directory,
    # as every other mail daemon does; operators are told to use absolute paths in production.
    return read_settings(data, environ, path)
