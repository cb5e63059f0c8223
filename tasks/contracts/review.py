"""A reviewer's decision as recorded with the draft, and what was published where."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Decision = Literal["approve", "request_changes", "reject"]


class ReviewRecord(BaseModel):
    """review.json: who decided what, when, about which exact draft (by sha256)."""

    incident_id: str
    decision: Decision
    reviewer: str
    decided_at: datetime
    draft_sha256: str = Field(description="sha256 of the draft.md the decision is about.")
    comments: str = ""
    round: int = Field(1, description="1 for the first review, +1 after each request for changes.")


class PublishedCopy(BaseModel):
    target: str = Field(description="s3://bucket/prefix/postmortems/<id>/v<N>/, a folder, or slack")
    version: int | None = None
    files: list[str] = Field(default_factory=list)
    created: bool = Field(
        True, description="False when this sha256 was already there and nothing was written."
    )


class Publication(BaseModel):
    """published.json: where it went, who approved it, when, and the sha256 of what was published."""

    incident_id: str
    draft_sha256: str
    approved_by: str
    approved_at: datetime
    published_at: datetime
    copies: list[PublishedCopy] = Field(default_factory=list)
    warnings: list[str] = Field(
        default_factory=list, description="Optional targets skipped, e.g. Slack not configured."
    )


ReviewState = Literal[
    "waiting", "changes_requested", "approved", "published", "rejected", "timed_out"
]


class ReviewStatus(BaseModel):
    """review-status.json: where the review of one draft stands, for people and for scripts."""

    incident_id: str
    state: ReviewState
    flow_run_id: str | None = None
    round: int = 1
    draft_path: str
    draft_sha256: str
    updated_at: datetime
    message: str = Field("", description="One sentence: what happens next, or what to do.")
    history: list[ReviewRecord] = Field(default_factory=list)
    refused: list[str] = Field(
        default_factory=list, description="Decisions refused (reviewer not on the allowlist)."
    )
