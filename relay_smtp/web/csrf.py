"""CSRF protection of the hosted registration form: a signed double-submit token bound to the link.

Why this module exists: the form creates a registration and sends mail, so another site must not be
able to post it in a candidate's browser.  When the form is shown, the browser gets a random nonce in a
cookie (SameSite=Strict, HttpOnly) and the form a hidden field that holds the same nonce and a hash of
the link token, signed with itsdangerous and dated.  A post is accepted only when the field's signature
is ours and recent, names this link, and carries the cookie's nonce: another site can neither read the
cookie nor forge the field, and a field copied from one link does not work on another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import itsdangerous

COOKIE_NAME = "cr_form"
FIELD_NAME = "csrf"
_SALT = "career-relay-registration-form-v1"


@dataclass(frozen=True)
class FormToken:
    cookie: str  # the nonce, for the cookie
    field: str  # the signed value, for the hidden field


class FormGuard:
    def __init__(self, secret: str | None, max_age_seconds: int, clock: Callable[[], float]) -> None:
        key = secret or secrets.token_urlsafe(32)
        self._max_age = max_age_seconds
        self._serializer = itsdangerous.URLSafeTimedSerializer(key, salt=_SALT, signer=_clocked_signer(clock))

    def issue(self, link_token: str, cookie_nonce: str | None = None) -> FormToken:
        """A token for the form of `link_token`; reuses the browser's nonce when it already has one."""
        nonce = (
            cookie_nonce if cookie_nonce and _looks_like_nonce(cookie_nonce) else secrets.token_urlsafe(18)
        )
        field = self._serializer.dumps({"l": _link_digest(link_token), "n": nonce})
        return FormToken(nonce, field)

    def accepts(self, link_token: str, field: str | None, cookie_nonce: str | None) -> bool:
        if not field or not cookie_nonce:
            return False
        try:
            data = self._serializer.loads(field, max_age=self._max_age)
        except itsdangerous.BadData:
            return False
        if not isinstance(data, dict):
            return False
        link_ok = hmac.compare_digest(str(data.get("l", "")), _link_digest(link_token))
        nonce_ok = hmac.compare_digest(
            str(data.get("n", "")).encode(), cookie_nonce.encode("utf-8", "replace")
        )
        return link_ok and nonce_ok


def _clocked_signer(clock: Callable[[], float]) -> type[itsdangerous.TimestampSigner]:
    """A timestamp signer whose notion of "now" is the app's clock (tests move it)."""

    class ClockedSigner(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return ClockedSigner


def _link_digest(link_token: str) -> str:
    return hashlib.sha256(link_token.encode("utf-8")).hexdigest()[:32]


def _looks_like_nonce(value: str) -> bool:
    return 16 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value) and value.isascii()
