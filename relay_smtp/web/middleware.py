"""What every HTTP response gets: strict security headers, a token-free access log, a safe 500.

Why this module exists: the candidate pages carry a secret in their URL (the link token) and handle
personal data, so three things must hold for every route, including ones added later:

- Security headers: a Content-Security-Policy that allows only our own origin (no inline script or
  style, no framing), ``Referrer-Policy: no-referrer`` so the token never reaches the partner agency in
  a Referer, ``X-Frame-Options: DENY``, ``nosniff``, and HSTS when the public URL is https.
- The access log names routes, not URLs: ``/r/<token>`` is logged as ``/r/…``, query strings are
  dropped, and client addresses are not logged at all.  (Run uvicorn with ``access_log=False``.)
- An unexpected exception becomes a plain 500 and one log line with the traceback's frames but not the
  exception's message, which may quote SQL parameters, i.e. personal data.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
from collections.abc import Iterable
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("relay_smtp.web.access")
error_log = logging.getLogger("relay_smtp.web")

PAGE_CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# FastAPI's /docs page loads Swagger UI from a CDN and starts it with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
_SECRET_SEGMENTS = re.compile(r"^/(r|confirm|w)/[^/]+")


def redact_path(path: str) -> str:
    """The path with link and confirmation tokens replaced, for logs."""
    return _SECRET_SEGMENTS.sub(lambda m: f"/{m.group(1)}/…", path)


def security_headers(path: str, https: bool) -> list[tuple[bytes, bytes]]:
    csp = DOCS_CSP if path == "/docs" else PAGE_CSP
    headers = [
        ("content-security-policy", csp),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ]
    if https:
        headers.append(("strict-transport-security", "max-age=31536000"))
    if not path.startswith("/static/"):
        headers.append(("cache-control", "no-store"))
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def _merge(
    existing: Iterable[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    merged = list(existing)
    present = {k.lower() for k, _ in merged}
    merged.extend((k, v) for k, v in extra if k not in present)
    return merged


class WebGuard:
    """ASGI middleware: security headers, the redacted access log, and the last-resort 500."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        extra = security_headers(path, self.https)
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = {**message, "headers": _merge(message.get("headers", []), extra)}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            _log_failure(scope, exc)
            if status == 0:
                status = 500
                await _plain_500(send_with_headers)
        finally:
            ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %s ms=%.1f", scope.get("method", "-"), redact_path(path), status, ms)


def _log_failure(scope: Scope, exc: Exception) -> None:
    frames = " <- ".join(
        f"{Path(f.filename).name}:{f.lineno} {f.name}"
        for f in reversed(traceback.extract_tb(exc.__traceback__))
    )
    error_log.error(
        "%s %s failed with %s (message withheld: it may hold personal data) at %s",
        scope.get("method", "-"),
        redact_path(str(scope.get("path", ""))),
        type(exc).__qualname__,
        frames,
    )


async def _plain_500(send: Send) -> None:
    body = "Internal error / エラーが発生しました".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
