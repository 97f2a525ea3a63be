"""The ATS rejection signal as the pipeline sees it: data in, a verdict out.

Why this module exists: an applicant tracking system knows that a rejection is being sent before the
mail arrives, whatever its wording; it tells the relay through ``POST /api/v1/companies/{id}/rejections``
(``web/ats_api.py``), which stores only the keyed recipient hash and an expiry (``store/signals.py``).
The edge (the SMTP orchestrator) looks the envelope recipients up before the pipeline runs and passes
the answer in as an :class:`AtsSignals` value; this module decides what the answer means, purely:

* mail from the company's recruiting senders to recipients that all carry an active signal of that
  company is a rejection with the reason ``ats-signal``, whatever the text says;
* unless the classifier's strong negatives say it is an offer, a pass, an interview or scheduling
  (a phrase of weight <= ``STRONG_NEGATIVE``): then the mail passes unchanged and the outcome names
  the conflict, so the log shows it. The ATS may have sent the wrong template; the text wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from relay_smtp.mail.classify import Signal, Verdict

#: A phrase at least this negative means "offer, pass, interview or scheduling" (see phrases/*.toml).
STRONG_NEGATIVE = -6
REASON = "ats-signal"


@dataclass(frozen=True)
class AtsSignals:
    """Active signals for the recipients of one message: (company id, address as given) pairs."""

    active: frozenset[tuple[str, str]] = frozenset()

    def covers(self, company: str, recipients: Sequence[str]) -> bool:
        """Whether every recipient carries an active signal of this company (and there is one)."""
        wanted = {(company, r.strip().lower()) for r in recipients}
        have = {(c, r.strip().lower()) for c, r in self.active}
        return bool(wanted) and wanted <= have


NO_SIGNALS = AtsSignals()


@dataclass(frozen=True)
class AtsDecision:
    verdict: Verdict
    conflict: bool = False


def apply_signal(
    verdict: Verdict,
    company: str | None,
    recruiting: bool,
    recipients: Sequence[str],
    internal: Sequence[str],
    signals: AtsSignals,
) -> AtsDecision:
    """The verdict once the ATS signal is taken into account (``internal``: the company's domains,
    whose recipients need no signal: an HR copy does not make a rejection something else)."""
    if company is None or not recruiting or verdict.explicit is not None or not signals.active:
        return AtsDecision(verdict)
    outside = [r for r in recipients if not _in_domains(r, internal)]
    if not signals.covers(company, outside):
        return AtsDecision(verdict)
    strong = [s for s in verdict.reasons if s.weight <= STRONG_NEGATIVE]
    if strong:
        note = f"conflict: the text reads as something else ({strong[0].matched or strong[0].pattern})"
        return AtsDecision(_with(verdict, Signal("ats", REASON, 0, "", note)), conflict=True)
    mark = Signal("ats", REASON, 0, "", "the company's ATS announced this rejection")
    return AtsDecision(replace(_with(verdict, mark), label="rejection"))


def _with(verdict: Verdict, signal: Signal) -> Verdict:
    return replace(verdict, reasons=(*verdict.reasons, signal))


def _in_domains(address: str, domains: Sequence[str]) -> bool:
    domain = address.strip().strip("<>").rstrip(".").lower().rpartition("@")[2]
    own = [d.lower().strip(".") for d in domains if d.strip(".")]
    return any(domain == d or domain.endswith("." + d) for d in own)
