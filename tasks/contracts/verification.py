"""The verifier's verdict on every claim: checked against the findings and the evidence."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

ClaimStatus = Literal["verified", "unsupported", "contradicted", "unverified"]
CheckKind = Literal[
    "evidence_exists",
    "evidence_matches",
    "fact_exists",
    "literal_number",
    "timeline_time",
    "top_suspect",
    "onset_order",
    "self_analysis",
    "blameless",
]


class Check(BaseModel):
    kind: CheckKind
    ok: bool
    detail: str


class ClaimVerdict(BaseModel):
    """`unverified` is for causal claims about the analyst's own dependencies: a person decides."""

    claim_id: str
    status: ClaimStatus
    reason: str = Field(description="One sentence a reviewer reads next to the claim.")
    checks: list[Check] = Field(default_factory=list)


class Verification(BaseModel):
    incident_id: str
    verdicts: list[ClaimVerdict] = Field(default_factory=list)
    grounding_rate: float = Field(0.0, description="Share of claims verified.")
    unsupported_rate: float = 0.0
    contradicted_rate: float = 0.0
    degraded: bool = False
    self_analysis: bool = False
    warnings: list[str] = Field(default_factory=list)
    placeholders: list[str] = Field(
        default_factory=list,
        description="Claims that only ask the responders to write (no assertion): left out of the rates.",
    )

    def verdict(self, claim_id: str) -> ClaimVerdict | None:
        return next((v for v in self.verdicts if v.claim_id == claim_id), None)
