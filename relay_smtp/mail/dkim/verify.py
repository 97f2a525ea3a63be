"""DKIM verification against a given key: the self-check after signing, and the tests' verifier.

Why this module exists: the relay proves, when ``dkim.self_check`` is on, that the signature it just
made verifies, before sending the message; that proof must come from an independent implementation,
so it is dkimpy's verifier, with its DNS lookup answered from the key in memory.  dkimpy checks
Ed25519 with PyNaCl; where PyNaCl is missing, ``cryptography`` stands in for it.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import re
from typing import Any

import dkim
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from dkim.util import InvalidTagValueList, parse_tag_value

_DKIM_SIGNATURE = b"dkim-signature"

#: dkimpy verifies Ed25519 with PyNaCl when it is installed; otherwise _Verifier stands in for it.
_HAVE_NACL = importlib.util.find_spec("nacl") is not None


class _Ed25519Check:
    """Stands in for PyNaCl's VerifyKey inside dkimpy, using ``cryptography``.

    dkimpy calls ``pk.verify(digest, signature)`` and takes "no exception" as success; the failure
    exception it expects is PyNaCl's, so this records the outcome instead of raising.
    """

    def __init__(self, raw_public_key: bytes) -> None:
        self._key = ed25519.Ed25519PublicKey.from_public_bytes(raw_public_key)
        self.valid = False

    def verify(self, data: bytes, signature: bytes) -> None:
        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            self.valid = False
        else:
            self.valid = True


class _Verifier(dkim.DKIM):  # type: ignore[misc]
    """dkimpy's verifier; Ed25519 keys are checked with ``cryptography`` when PyNaCl is missing."""

    def verify_sig(self, sig: Any, include_headers: Any, sig_header: Any, dnsfunc: Any) -> bool:
        if _HAVE_NACL:
            return bool(super().verify_sig(sig, include_headers, sig_header, dnsfunc))
        name = sig[b"s"] + b"._domainkey." + sig[b"d"] + b"."
        record = dnsfunc(name)
        try:
            tags = parse_tag_value(record if isinstance(record, bytes) else record.encode("ascii"))
        except (InvalidTagValueList, UnicodeEncodeError):
            return False
        if tags.get(b"k") != b"ed25519":
            return bool(super().verify_sig(sig, include_headers, sig_header, dnsfunc))
        try:
            check = _Ed25519Check(base64.b64decode(tags.get(b"p", b"")))
        except (ValueError, binascii.Error):
            return False
        self.pk, self.keysize, self.ktag, self.seqtlsrpt = check, 256, b"ed25519", False
        return bool(self.verify_sig_process(sig, include_headers, sig_header, dnsfunc)) and check.valid


def verify_with_key(message: bytes, public_key_txt: str) -> bool:
    """True when some DKIM-Signature of ``message`` verifies against this TXT record value.

    dkimpy does the work; its DNS lookup is answered with ``public_key_txt`` whatever the name, so
    this is the self-check after signing and the tests' verifier, never a check of real DNS.  Only
    signatures whose algorithm fits the record's key type (k=) are tried.
    """
    try:
        key_type = parse_tag_value(public_key_txt.encode("ascii")).get(b"k", b"rsa")
        verifier = _Verifier(message, minkey=1024)
    except (InvalidTagValueList, UnicodeEncodeError, dkim.DKIMException, IndexError):
        return False

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return public_key_txt.encode("ascii")

    signatures = [value for name, value in verifier.headers if name.lower() == _DKIM_SIGNATURE]
    for idx, value in enumerate(signatures):
        algorithm = re.search(rb"(?:^|;)\s*a\s*=\s*([a-z0-9-]+)", value)
        if algorithm is None or not algorithm.group(1).startswith(key_type + b"-"):
            continue
        try:
            if verifier.verify(idx=idx, dnsfunc=dnsfunc):
                return True
        except (dkim.DKIMException, ValueError):  # PyNaCl raises its own ValueError on a bad length
            continue
    return False
