"""relay-smtp: an SMTP relay that adds a Career Relay referral block to rejection mail."""

__version__ = "0.1.0"
