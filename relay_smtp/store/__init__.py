"""The store: clicks, registrations and credits in SQLite or PostgreSQL (see ledger.py for the rules)."""
