"""What an analyst (Claude, Bedrock or the offline one) proposes, and its own health meanwhile.

`AnalysisDraft` is the structured output the model must return (validated with pydantic); the
stage wraps it in `Analysis` with the model, usage, cost and the analyst's health.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ClaimSection = Literal[
    "summary",
    "impact",
    "root_cause",
    "trigger",
    "contributing_factor",
    "detection",
    "resolution",
    "timeline",
    "went_well",
    "went_poorly",
    "lucky",
    "lesson",
    "action_item",
]
ClaimKind = Literal["causal", "observation", "timeline", "recommendation"]
Confidence = Literal["high", "medium", "low"]
ActionType = Literal["mitigate", "prevent", "detect", "process"]
Priority = Literal["P1", "P2", "P3"]
AnalystName = Literal["claude", "bedrock", "offline"]


class Claim(BaseModel):
    """One statement, with the structure a verifier can check, not only prose."""

    id: str = Field(description="C1, C2… unique within the analysis.")
    section: ClaimSection
    kind: ClaimKind
    text: str = Field(
        description="One or two sentences. Write {F:...} where a number or time belongs; never a literal number."
    )
    service: str | None = Field(None, description="The service the claim is about, if any.")
    pattern_id: str | None = None
    change_index: int | None = Field(None, description="Index into the findings' changes.")
    fact_ids: list[str] = Field(default_factory=list)
    evidence_ids: list[str] = Field(default_factory=list)
    confidence: Confidence | None = None
    at: datetime | None = Field(None, description="For timeline claims: when it happened (UTC).")
    action_type: ActionType | None = Field(None, description="For action items.")
    priority: Priority | None = Field(None, description="For action items.")


class AnalysisDraft(BaseModel):
    """The model's structured output: the story of the incident as claims."""

    title: str = Field(description="A short, blameless title.")
    claims: list[Claim]


class AttemptRecord(BaseModel):
    """One HTTP attempt the SDK made, retries included (recorded by middleware)."""

    started_at: datetime
    status_code: int | None = Field(
        None, description="None when the attempt timed out or failed to connect."
    )
    latency_ms: float
    request_id: str | None = None
    error_type: str | None = Field(None, description="overloaded_error, rate_limit_error, timeout…")


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    estimated_cost_usd: float = 0.0


class AnalystHealth(BaseModel):
    """The analyst's own condition during the call: part of the result, not a log line."""

    attempts: list[AttemptRecord] = Field(default_factory=list)
    retries: int = 0
    rate_limited: int = 0
    overloaded: int = 0
    server_errors: int = 0
    timeouts: int = 0
    total_latency_ms: float = 0.0
    truncated: bool = Field(False, description="stop_reason was max_tokens.")
    repair_attempts: int = 0
    degraded: bool = False
    reasons: list[str] = Field(default_factory=list, description="Why it is degraded, in words.")


class Analysis(BaseModel):
    """An analyst's proposal, with provenance: which analyst, model, request IDs, tokens, cost."""

    incident_id: str
    analyst: AnalystName
    model: str | None = None
    title: str = ""
    claims: list[Claim] = Field(default_factory=list)
    request_ids: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    health: AnalystHealth = Field(default_factory=AnalystHealth)
    fallback_reason: str | None = Field(
        None, description="Set when the requested analyst failed and the offline one stood in."
    )
    self_analysis_services: list[str] = Field(
        default_factory=list,
        description="Services in the spec's ai_dependencies that the findings implicate.",
    )
    created_at: datetime
