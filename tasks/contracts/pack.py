"""The evidence pack: the redacted, token-budgeted digest of the findings that the analyst reads.

Numbers by reference: every figure the pack shows has a fact ID (`F:checkout.error_rate.incident`),
and the analyst writes `{F:...}` where a number or time belongs. The renderer fills in the value
from the findings, so the AI never writes a number of its own.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

_FACT_ID = r"F:[A-Za-z0-9._:/-]+"
FACT_ID_PATTERN = rf"^{_FACT_ID}$"
# A fact cited in a claim's text, `{F:checkout.error_rate.incident}`; group 1 is the ID. The one
# definition for every reader of claims (the renderer fills them in, the verifier checks them).
FACT_REFERENCE = re.compile(rf"\{{\s*({_FACT_ID})\s*\}}")

FactUnit = Literal["count", "ratio", "ms", "per_min", "time", "score", "text"]
PackItemKind = Literal["pattern", "suspect", "onset", "change", "timeline"]


class Fact(BaseModel):
    """One figure from the findings, under an ID the analyst cites instead of writing the number."""

    id: str = Field(
        pattern=FACT_ID_PATTERN, description="For example F:checkout.error_rate.incident"
    )
    subject: str = Field(description="The service, pattern ID or 'incident' the figure is about.")
    metric: str = Field(
        description="What is measured: error_rate.incident, onset, p95_ms.baseline…"
    )
    unit: FactUnit
    value: float | None = Field(None, description="The number, for numeric units.")
    at: datetime | None = Field(None, description="The time, for unit 'time'.")
    display: str = Field(description="How the draft shows it: '12.4%', '13:04:03Z', '1,204'.")


class PackItem(BaseModel):
    """One exemplar log line under its evidence ID, already redacted."""

    evidence_id: str = Field(description="`<object_id>:<line>`, resolvable through the manifest.")
    kind: PackItemKind
    service: str | None = None
    pattern_id: str | None = None
    change_index: int | None = Field(
        None, description="Index into Findings.changes, for kind 'change'."
    )
    text: str = Field(description="The redacted log line, possibly shortened (marked with …).")


class RedactionReport(BaseModel):
    """What redaction replaced, by kind. Counts only: never the values."""

    counts: dict[str, int] = Field(default_factory=dict, description="kind -> replacements")
    distinct: dict[str, int] = Field(default_factory=dict, description="kind -> distinct values")
    ips_redacted: bool = True
    detectors: list[str] = Field(default_factory=list, description="The detectors that ran.")

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class EvidencePack(BaseModel):
    """What leaves the process for the model: facts, exemplars and the rendered prompt text."""

    incident_id: str
    facts: list[Fact] = Field(default_factory=list)
    items: list[PackItem] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list, description="Every service in the findings.")
    text: str = Field("", description="The user-message data block, as sent (redacted).")
    budget_tokens: int
    token_count: int
    token_method: Literal["count_tokens", "estimate"]
    items_dropped: int = Field(0, description="Exemplars left out to stay within the budget.")
    items_missing: int = Field(
        0, description="Cited evidence IDs that resolved to no line in the manifest and frame."
    )
    redaction: RedactionReport = Field(default_factory=RedactionReport)

    def fact(self, fact_id: str) -> Fact | None:
        return next((f for f in self.facts if f.id == fact_id), None)

    def item(self, evidence_id: str) -> PackItem | None:
        return next((i for i in self.items if i.evidence_id == evidence_id), None)
