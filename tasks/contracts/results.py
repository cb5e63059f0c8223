"""What a command reports when it is done."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from tasks.contracts.evidence import GatherStats
from tasks.contracts.review import Publication, ReviewStatus


class StageFailure(BaseModel):
    """A stage that failed after the earlier ones finished: the draft ships with what they found."""

    stage: str
    cause: str = Field(description="One sentence: what went wrong, naming the object or field.")


class DraftResult(BaseModel):
    """What `postmortem draft` reports when it is done."""

    incident_id: str
    out_dir: Path
    draft_path: Path
    findings_path: Path
    manifest_path: Path
    parquet_path: Path
    stats: GatherStats
    errors: list[str] = Field(default_factory=list)  # sources that could not be read at all
    warnings: list[str] = Field(default_factory=list)
    top_suspect: str | None = None
    analyst: str | None = Field(None, description="Which analyst wrote the statements.")
    grounding_rate: float | None = Field(None, description="Share of statements verified.")
    stage_failures: list[StageFailure] = Field(default_factory=list)
    reanalysis_changes: list[str] | None = Field(
        None, description="With --reanalyze: what changed against the previous analysis."
    )


class RunResult(BaseModel):
    """What `postmortem run` reports: the draft, where its review stands, and what was published."""

    draft: DraftResult | None = Field(
        None, description="None with --review-only, which reviews the draft already on disk."
    )
    review: ReviewStatus
    publication: Publication | None = None
