"""Development secrets: made once per installation, shared by every worker, kept across restarts.

Why this module exists: without `links.secrets` (the embedded defaults, a first try) each process used
to make its own random secret, so with two workers a link issued by one was "forged" to the other and
every link died with a restart.  Instead the secrets the configuration leaves unset (link signing,
recipient hashing, the registration form's CSRF key) are made once, written to a 0600 file next to
the SQLite store, and read back by every later start.  The supervisor does this before it forks, so
all workers inherit the very same values.

The file is created with ``O_EXCL`` semantics (written under a temporary name, then hard-linked into
place), so two relays starting at once in one directory still end up with one set of secrets.
Production configurations set the secrets themselves (`relay-smtp init` writes them); then nothing
here is used.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import stat
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.engine import make_url

from relay_smtp.config import Settings

log = logging.getLogger(__name__)

DEFAULT_FILE = Path("relay-smtp.secrets")
_KEYS = ("link_secret", "hash_secret", "form_secret")


class DevSecretsError(OSError):
    """The secrets file exists but cannot be read as ours; never silently replaced."""


@dataclass(frozen=True)
class DevSecrets:
    link_secret: str
    hash_secret: str
    form_secret: str

    @classmethod
    def fresh(cls) -> DevSecrets:
        return cls(*(secrets.token_urlsafe(32) for _ in _KEYS))


def secrets_path(store_url: str) -> Path:
    """Next to a SQLite store file (``relay-smtp.db`` -> ``relay-smtp.secrets``); else the working dir."""
    try:
        url = make_url(store_url)
    except Exception:  # a malformed URL is config.py's to report; keep a usable place
        return DEFAULT_FILE
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return DEFAULT_FILE
    store = Path(database)
    return store.with_name(f"{store.stem}.secrets")


def needs_development_secrets(settings: Settings) -> bool:
    return not settings.links.secrets or settings.web.form_secret is None


def load_or_create(path: Path) -> DevSecrets:
    """The secrets in `path`, made (mode 0600) if the file does not exist yet."""
    existing = _read(path)
    if existing is not None:
        return existing
    fresh = DevSecrets.fresh()
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({key: getattr(fresh, key) for key in _KEYS}, out)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temp, path)  # fails if another process made the file first: then use theirs
        except FileExistsError:
            made = _read(path)
            if made is None:
                raise DevSecretsError(f"{path}: vanished while being created") from None
            return made
        log.info("development secrets made once for this installation: %s (mode 0600)", path)
        return fresh
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _read(path: Path) -> DevSecrets | None:
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise DevSecretsError(f"{path}: cannot read the development secrets: {exc}") from None
    try:
        data = json.loads(text)
        values = [data[key] for key in _KEYS]
    except (ValueError, KeyError, TypeError):
        raise DevSecretsError(f"{path}: not a relay-smtp secrets file (move it away to renew it)") from None
    if not all(isinstance(v, str) and len(v) >= 16 for v in values):
        raise DevSecretsError(f"{path}: holds an empty or short secret (move it away to renew it)")
    if stat.S_IMODE(mode) & 0o077:
        log.warning("%s was readable by others; its mode is now 0600", path)
        os.chmod(path, 0o600)
    return DevSecrets(*values)


def with_development_secrets(settings: Settings, *, create: bool = True) -> Settings:
    """`settings` with every secret it leaves unset taken from the installation's secrets file.

    With ``create=False`` (offline commands) an absent file is not made; the unset secrets then stay
    unset and the caller decides what to do.
    """
    if not needs_development_secrets(settings):
        return settings
    path = secrets_path(settings.store.url)
    values = load_or_create(path) if create else _read(path)
    if values is None:
        return settings
    links, web = settings.links, settings.web
    if not links.secrets:
        # The hash key comes with the signing key: a configured secret keeps deriving its own.
        hash_secret = links.hash_secret or values.hash_secret
        links = replace(links, secrets=(values.link_secret,), hash_secret=hash_secret)
        log.log(
            logging.WARNING if create else logging.DEBUG,
            "links.secrets is not set: links are signed with the development secret in %s "
            "(shared by all workers, kept across restarts); set links.secrets in production",
            path,
        )
    if web.form_secret is None:
        web = replace(web, form_secret=values.form_secret)
    return replace(settings, links=links, web=web)
