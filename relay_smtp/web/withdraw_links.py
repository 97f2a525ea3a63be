"""The withdrawal link's token: a registration's public id, signed with the link secrets.

Why this module exists: the candidate pages put the link into the confirmation mail and the "sent"
page, and the withdrawal routes read it back; both need the same three small functions, and neither
route module should import the other for them.  The token holds no personal data (the public id is
random) and does not expire: the right to stop the use of one's data does not.
"""

from __future__ import annotations

from relay_smtp.links import LinkError
from relay_smtp.web.context import WebContext
from relay_smtp.web.settings import PageLocale

PURPOSE = "withdraw"


def withdraw_token(ctx: WebContext, public_id: str) -> str:
    return ctx.links.seal(PURPOSE, public_id)


def withdraw_url(ctx: WebContext, public_id: str, locale: PageLocale) -> str:
    return f"{ctx.config.public_base}/w/{withdraw_token(ctx, public_id)}?lang={locale}"


def registration_of(ctx: WebContext, token: str) -> str | None:
    """The public registration id a withdrawal token stands for, or None if it is not ours."""
    try:
        return ctx.links.unseal(PURPOSE, token)
    except LinkError:
        return None
