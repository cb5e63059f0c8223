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


class Publication(BaseModel):
    """published.json: where it went, who approved it, when, and the sha256 of what was published."""

    incident_id: str
    draft_sha256: str
    approved_by: str
    approved_at: datetime
    published_at: datetime
    copies: list[PublishedCopy] = Field(default_factory=list)
