"""The AI summary of a week's themes as data: what the model writes, and what the page shows."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tasks.contracts import AnalystHealth, ClaimVerdict, Usage


class ThemeClaim(BaseModel):
    """One theme of the week, as the model writes it."""

    id: str = Field(description="T1, T2… unique within the summary.")
    text: str = Field(
        description="One or two sentences. Write {F:...} where a figure belongs; never a literal "
        "number."
    )
    incident_ids: list[str] = Field(
        default_factory=list, description="The incidents the theme rests on, as listed."
    )
    fact_ids: list[str] = Field(
        default_factory=list, description="The figure IDs the theme rests on, as listed."
    )


class ThemeDraft(BaseModel):
    """The model's structured output."""

    themes: list[ThemeClaim]


class WeeklyFact(BaseModel):
    """One figure of the weekly review, by the ID the model cites it with."""

    id: str
    label: str
    value: float | None = None
    unit: Literal["count", "min", "text"] = "count"
    display: str


class SummaryTheme(BaseModel):
    claim: ThemeClaim
    text: str = Field(description="The claim's text with its figures filled in (untrusted).")
    verdict: ClaimVerdict


class WeeklySummary(BaseModel):
    """The AI summary as the page shows it, or why there is none."""

    state: Literal["written", "omitted"]
    note: str = Field(description="One sentence: why it is omitted, or how it was made.")
    analyst: str | None = None
    model: str | None = None
    api: Literal["batch", "messages"] | None = None
    batch_id: str | None = None
    request_ids: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    health: AnalystHealth = Field(default_factory=AnalystHealth)
    themes: list[SummaryTheme] = Field(
        default_factory=list, description="Verified themes, and unsupported ones marked as such."
    )
    dropped: int = Field(
        0, description="Themes dropped: a figure contradicted the review, or past the limit."
    )
    dropped_reasons: list[str] = Field(default_factory=list)
    redactions: dict[str, int] = Field(default_factory=dict)

    @property
    def verified(self) -> int:
        return sum(t.verdict.status == "verified" for t in self.themes)
