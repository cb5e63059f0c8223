"""The AI's claims as a reader sees them: facts filled in from the findings, status beside each.

The analyst writes `{F:checkout.error_rate.incident}` where a number belongs; the value shown is
the one in the evidence pack (which took it from the findings), so no number in the draft comes
from the model. A reference to a fact the pack does not have is shown as such, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tasks.contracts import Analysis, Claim, ClaimVerdict, EvidencePack, Verification
from tasks.contracts.pack import FACT_REFERENCE

STATUS_LABELS = {
    "verified": "verified",
    "unsupported": "UNSUPPORTED",
    "contradicted": "CONTRADICTED",
    "unverified": "needs a person to confirm",
    "for the responders": "to be written",
}

# The order of the draft's sections, and which claim sections feed each.
SECTIONS: dict[str, tuple[str, ...]] = {
    "summary": ("summary",),
    "impact": ("impact",),
    "root_cause": ("root_cause", "trigger", "contributing_factor"),
    "detection": ("detection",),
    "resolution": ("resolution",),
    "timeline": ("timeline",),
    "went_well": ("went_well",),
    "went_poorly": ("went_poorly",),
    "lucky": ("lucky",),
    "lessons": ("lesson",),
    "action_items": ("action_item",),
}


@dataclass
class ClaimView:
    claim: Claim
    text: str  # facts filled in, still untrusted text (the template escapes it)
    status: str  # verified | unsupported | contradicted | unverified | not checked
    label: str
    reason: str
    facts: list[tuple[str, str]] = field(default_factory=list)  # (fact ID, shown value)


def fill_facts(text: str, pack: EvidencePack | None) -> tuple[str, list[tuple[str, str]]]:
    """Replace each {F:...} with its value from the pack; unknown IDs are marked, not guessed."""
    used: list[tuple[str, str]] = []

    def value(match: re.Match[str]) -> str:
        fact = pack.fact(match[1]) if pack else None
        shown = fact.display if fact else f"[unknown fact {match[1]}]"
        used.append((match[1], shown))
        return shown

    return FACT_REFERENCE.sub(value, text), used


def claim_views(
    analysis: Analysis | None, verification: Verification | None, pack: EvidencePack | None
) -> dict[str, list[ClaimView]]:
    """Claims grouped by the draft's sections, each with its verification status."""
    grouped: dict[str, list[ClaimView]] = {name: [] for name in SECTIONS}
    if analysis is None:
        return grouped
    section_of = {s: name for name, sources in SECTIONS.items() for s in sources}
    for claim in analysis.claims:
        verdict: ClaimVerdict | None = verification.verdict(claim.id) if verification else None
        text, facts = fill_facts(claim.text, pack)
        status = verdict.status if verdict else "not checked"
        if verification and claim.id in verification.placeholders:
            status = "for the responders"
        grouped[section_of.get(claim.section, "summary")].append(
            ClaimView(
                claim=claim,
                text=text,
                status=status,
                label=STATUS_LABELS.get(status, status),
                reason=verdict.reason if verdict else "The verifier did not run.",
                facts=facts,
            )
        )
    return grouped
