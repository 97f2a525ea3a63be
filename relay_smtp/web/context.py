"""The things every route needs, built once per app: settings, store, signer, mailer, clock, guards.

The settings are read through a `LiveConfig`, which a reload replaces (``ctx.config`` is its current
value); everything else here is built once and lives as long as the app.

Why this module exists: the routes are split by audience (candidates, the partner agency, the admin)
into modules of their own; this is what they share, so that `create_app` stays a short list of parts
and each route module is a function of one value.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request

from relay_smtp.links import LinkSigner
from relay_smtp.store.ledger import Ledger
from relay_smtp.web.bots import BotDetector
from relay_smtp.web.csrf import FormGuard
from relay_smtp.web.pages import Pages
from relay_smtp.web.ratelimit import MailThrottle, RateLimiter
from relay_smtp.web.settings import LiveConfig, WebConfig

log = logging.getLogger("relay_smtp.web")

#: send_mail(to, subject, body) -> whether the next hop accepted it.
SendMail = Callable[[str, str, str], Awaitable[bool]]
# Confirmation mails an hour: per link (someone retrying a typo) and per target address.
CONFIRMATIONS_PER_LINK = 3
CONFIRMATIONS_PER_ADDRESS = 3


@dataclass(frozen=True)
class WebContext:
    live: LiveConfig
    ledger: Ledger
    links: LinkSigner
    send_mail: SendMail
    clock: Callable[[], datetime]
    pages: Pages
    bots: BotDetector
    forms: FormGuard
    link_limiter: RateLimiter
    register_limiter: RateLimiter
    admin_failures: RateLimiter
    mail_throttle: MailThrottle

    @classmethod
    def build(
        cls,
        config: WebConfig | LiveConfig,
        ledger: Ledger,
        links: LinkSigner,
        send_mail: SendMail,
        clock: Callable[[], datetime],
    ) -> WebContext:
        live = config if isinstance(config, LiveConfig) else LiveConfig(config)
        # What is built from the configuration here is built from fields a reload keeps
        # (settings.FIXED_ON_RELOAD): the limiters' counts and the form key must outlive a reload.
        config = live.current

        def seconds() -> float:
            return clock().timestamp()

        return cls(
            live=live,
            ledger=ledger,
            links=links,
            send_mail=send_mail,
            clock=clock,
            pages=Pages(live),
            bots=BotDetector(config.bot_user_agents, config.scanner_window_seconds),
            forms=FormGuard(config.form_secret, config.form_max_age_seconds, seconds),
            link_limiter=RateLimiter(config.link_rate_per_minute, 60.0, seconds),
            register_limiter=RateLimiter(config.register_rate_per_minute, 60.0, seconds),
            admin_failures=RateLimiter(config.admin_failures_per_minute, 60.0, seconds),
            mail_throttle=MailThrottle(CONFIRMATIONS_PER_LINK, CONFIRMATIONS_PER_ADDRESS, 3600.0, seconds),
        )

    @property
    def config(self) -> WebConfig:
        """The configuration as of now: read it once per request for settings that must agree."""
        return self.live.current

    def now(self) -> float:
        return self.clock().timestamp()

    @property
    def https(self) -> bool:
        return self.config.public_url.startswith("https://")


def client_key(request: Request) -> str:
    """The rate-limit key of a request: the peer address (uvicorn's proxy_headers set it behind a proxy)."""
    return request.client.host if request.client else "unknown"
