"""DKIM keys: loading and checking the configured ones, generating new ones, their DNS records.

Why this module exists: a key is read once, when the signer's table is built, and every way it can be
unusable (unreadable, encrypted, too short, the wrong algorithm, a selector that is not a DNS name) is
reported there with the file's name, not when the first rejection is signed.  ``relay-smtp init`` and
``relay-smtp dkim keygen`` write new keys here too, with the TXT record that publishes them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from relay_smtp.config import DkimKey
from relay_smtp.durable import fsync_directory

Algorithm = Literal["rsa-sha256", "ed25519-sha256"]
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

#: RSA keys shorter than this are refused (RFC 8301 section 3.2 asks for at least 1024 bits; the large
#: receivers treat 1024 as weak, and 2048 is what every DNS host can publish).
MIN_RSA_BITS = 2048

_SELECTOR = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


class DkimKeyError(Exception):
    """A configured key cannot be used; names the key file and says why."""

    def __init__(self, key: DkimKey, reason: str) -> None:
        super().__init__(f"DKIM key {key.key_file} ({key.selector}._domainkey.{key.domain}): {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class LoadedKey:
    """A configured key with its private key loaded (once, when the table is built)."""

    domain: str
    selector: str
    algorithm: Algorithm
    key_file: Path
    private_key: PrivateKey = field(repr=False, compare=False)

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a SHA-256 digest of the canonicalised header data.

        RSA is RSASSA-PKCS1-v1_5 over that digest (RFC 6376 section 3.3.1); Ed25519 signs the 32
        digest bytes themselves as its message (RFC 8463 section 3), which is what "PureEdDSA over
        the hash" means there.
        """
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return self.private_key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        return self.private_key.sign(digest)

    def dns_txt(self) -> str:
        """The TXT record value that publishes this key's public half."""
        return _dns_txt(self.private_key)

    @property
    def record_name(self) -> str:
        return dns_record_name(self.selector, self.domain)


def load_key(key: DkimKey) -> LoadedKey:
    """Read and check one configured key, or raise DkimKeyError naming the file."""
    try:
        data = key.key_file.read_bytes()
    except OSError as exc:
        raise DkimKeyError(key, f"cannot read: {exc.strerror}") from None
    private_key = _parse_private_key(key, data)
    if key.algorithm == "rsa-sha256":
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise DkimKeyError(key, "algorithm is rsa-sha256 but the file holds an Ed25519 key")
        if private_key.key_size < MIN_RSA_BITS:
            bits = private_key.key_size
            raise DkimKeyError(key, f"RSA key has {bits} bits; at least {MIN_RSA_BITS} are required")
    elif not isinstance(private_key, ed25519.Ed25519PrivateKey):
        raise DkimKeyError(key, "algorithm is ed25519-sha256 but the file holds an RSA key")
    if not _SELECTOR.fullmatch(key.selector):
        raise DkimKeyError(key, f"selector {key.selector!r} is not a DNS name (letters, digits, -, _ and .)")
    domain = normalise_domain(key.domain)
    if not domain.isascii():
        raise DkimKeyError(key, f"domain {key.domain!r} is not a valid domain name")
    return LoadedKey(domain, key.selector, key.algorithm, key.key_file, private_key)


def normalise_domain(domain: str) -> str:
    """Lowercase, no trailing dot, internationalised names as A-labels (d= carries the A-label form,
    RFC 6376 section 3.5), so From domains and configured domains compare equal however written."""
    domain = domain.strip().lower().rstrip(".")
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def _parse_private_key(key: DkimKey, data: bytes) -> PrivateKey:
    text = data.strip()
    if not text.startswith(b"-----BEGIN"):
        return _parse_raw_ed25519(key, text)
    try:
        loaded = serialization.load_pem_private_key(text, password=None)
    except TypeError:
        raise DkimKeyError(key, "the PEM key is encrypted; store it without a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        raise DkimKeyError(key, "not a readable PEM private key") from None
    if not isinstance(loaded, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise DkimKeyError(key, f"unsupported key type {type(loaded).__name__}")
    return loaded


def _parse_raw_ed25519(key: DkimKey, text: bytes) -> ed25519.Ed25519PrivateKey:
    """dkimpy's ``dknewkey --ktype ed25519`` writes the 32-byte seed in base64, not PEM.

    libsodium's 64-byte secret key (seed followed by the public key) is accepted too.
    """
    try:
        raw = base64.b64decode(b"".join(text.split()), validate=True)
    except binascii.Error:
        raise DkimKeyError(key, "neither PEM nor a base64 Ed25519 seed") from None
    if len(raw) not in (32, 64):
        raise DkimKeyError(key, f"a base64 Ed25519 key must hold 32 bytes, not {len(raw)}")
    private_key = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
    if len(raw) == 64 and _raw_public(private_key) != raw[32:]:
        raise DkimKeyError(key, "the 64-byte Ed25519 key's public half does not match its seed")
    return private_key


def _raw_public(private_key: ed25519.Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _dns_txt(private_key: PrivateKey) -> str:
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        # RFC 8463 section 4.2: p= is the bare 32-byte public key, not a SubjectPublicKeyInfo.
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(_raw_public(private_key)).decode()}"
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def check_key(key: DkimKey) -> str | None:
    """None when the key file is usable for its algorithm, else one sentence for check-config."""
    try:
        load_key(key)
    except DkimKeyError as exc:
        return str(exc)
    return None


def dns_record_name(selector: str, domain: str) -> str:
    """Where the public key is published (RFC 6376 section 3.6.2.1)."""
    return f"{selector}._domainkey.{domain.rstrip('.')}"


def txt_strings(value: str, size: int = 255) -> list[str]:
    """Split a TXT value into the <=255-octet character-strings one DNS TXT record is made of.

    An RSA-2048 record is about 400 characters; DNS hosts want it as several quoted strings, which
    verifiers concatenate without separators (RFC 6376 section 3.6.2.2).
    """
    return [value[i : i + size] for i in range(0, len(value), size)] or [""]


def generate_key(algorithm: Literal["rsa", "ed25519"], bits: int = 2048) -> tuple[bytes, str]:
    """A new private key as PEM and the TXT record value that publishes it.

    RSA keys are written as PKCS#1 ("BEGIN RSA PRIVATE KEY"), the form OpenDKIM, dkimpy and
    rspamd all read; Ed25519 keys as PKCS#8, the only PEM form there is for them.
    """
    private_key: PrivateKey
    if algorithm == "rsa":
        if bits < MIN_RSA_BITS:
            raise ValueError(f"RSA keys need at least {MIN_RSA_BITS} bits, not {bits}")
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem_format = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        private_key = ed25519.Ed25519PrivateKey.generate()
        pem_format = serialization.PrivateFormat.PKCS8
    pem = private_key.private_bytes(serialization.Encoding.PEM, pem_format, serialization.NoEncryption())
    return pem, _dns_txt(private_key)


def write_private_key(path: Path, pem: bytes, *, overwrite: bool = False) -> None:
    """Write a private key readable by its owner only, all at once or not at all.

    The file is created 0600 with O_EXCL beside its final name and renamed into place, so no reader
    ever sees a partial key and the key is never world-readable, whatever the umask.  A missing
    parent directory is created 0700.  An existing key is kept unless ``overwrite`` is true: the live
    key's TXT record would stop matching.
    """
    path = Path(path)
    if not path.parent.exists():
        path.parent.mkdir(parents=True)
        os.chmod(path.parent, 0o700)  # mkdir's mode is filtered by the umask
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; refusing to replace a key that may be published")
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # exactly 0600, whatever the umask
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    fsync_directory(path.parent)
