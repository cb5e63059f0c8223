"""The one interface every analyst implements, and how an analyst says it could not finish."""

from __future__ import annotations

from typing import Protocol

from tasks.contracts import Analysis, AnalystHealth, EvidencePack, Findings, IncidentSpec, Usage


class Analyst(Protocol):
    """Reads the evidence pack (and, for the offline analyst, the findings) and proposes claims."""

    name: str

    def analyze(self, pack: EvidencePack, findings: Findings, spec: IncidentSpec) -> Analysis: ...


class AnalystFailed(Exception):
    """The analyst gave up. It carries what it spent and saw, so the fallback can report it."""

    def __init__(
        self,
        reason: str,
        *,
        model: str | None = None,
        health: AnalystHealth | None = None,
        usage: Usage | None = None,
        request_ids: list[str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.model = model
        self.health = health or AnalystHealth()
        self.usage = usage or Usage()
        self.request_ids = request_ids or []
