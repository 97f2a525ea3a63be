"""Tell a person's click from a machine's: mail scanners, link previewers and scripts.

Why this module exists: corporate mail gateways (Outlook SafeLinks, Proofpoint, Mimecast, Barracuda ...)
fetch every link of a message the moment it arrives, often with a browser-like User-Agent.  Counting
those as interest would flatter the funnel, so each click is recorded with a suspicion and its reason.
Nothing is blocked: a person whose browser looks odd still gets the page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ClickVerdict:
    suspected_bot: bool
    reason: str = ""


class BotDetector:
    """Judges a click by its method, its User-Agent and how soon after the link's issue it came."""

    def __init__(self, user_agent_patterns: Sequence[str], scanner_window_seconds: int) -> None:
        self._patterns = [(p, re.compile(p, re.IGNORECASE)) for p in user_agent_patterns]
        self._window = scanner_window_seconds

    def judge(self, method: str, user_agent: str | None, issued_at: int, now: float) -> ClickVerdict:
        if method.upper() == "HEAD":
            return ClickVerdict(True, "head-request")
        if not user_agent or not user_agent.strip():
            return ClickVerdict(True, "no-user-agent")
        pattern = self._matching_pattern(user_agent)
        if pattern is not None:
            return ClickVerdict(True, f"user-agent:{pattern}")
        age = now - issued_at
        if age < self._window:
            return ClickVerdict(True, f"within-{self._window}s-of-issue")
        return ClickVerdict(False)

    def _matching_pattern(self, user_agent: str) -> str | None:
        for text, pattern in self._patterns:
            if pattern.search(user_agent):
                return text
        return None
