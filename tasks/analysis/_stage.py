"""The analysis stage: pick an analyst, run it, and never let a model outage fail the run."""

from __future__ import annotations

from collections.abc import Callable

import httpx2

from tasks.analysis._base import Analyst, AnalystFailed
from tasks.analysis._claude import ClaudeAnalyst
from tasks.analysis._offline import OfflineAnalyst
from tasks.contracts import Analysis, EvidencePack, Findings, IncidentSpec
from tasks.evidence import sdk_token_counter
from tasks.settings import Settings


def choose_analyst(settings: Settings, api_key_present: bool) -> str:
    """`auto`: Claude with an API key, Bedrock with a region, otherwise the offline analyst.

    The key's presence is passed in from the edge (the CLI or flow reads the environment), so
    that this stays a function of its arguments.
    """
    if settings.analyst != "auto":
        return settings.analyst
    if api_key_present:
        return "claude"
    if settings.bedrock_region:
        return "bedrock"
    return "offline"


def api_token_counter(
    settings: Settings, api_key: str | None, *, http_client: httpx2.Client | None = None
) -> Callable[[str], int] | None:
    """The API's own token count for the evidence pack when the first-party API will analyse it;
    None (the pack's estimate) for Bedrock, gateways and the offline analyst."""
    if not api_key or settings.anthropic_base_url or choose_analyst(settings, True) != "claude":
        return None
    import anthropic

    client = anthropic.Anthropic(
        api_key=api_key, max_retries=1, timeout=30.0, http_client=http_client
    )
    return sdk_token_counter(client, settings.model)


def self_analysis_services(findings: Findings, spec: IncidentSpec) -> list[str]:
    """The analyst's own dependencies that the incident touched: a suspect or an affected service.

    When the incident is in what the analyst runs on, its analysis is least trustworthy exactly
    then; the verifier holds its causal claims about these services for a person to confirm.
    """
    implicated = {s.service for s in findings.suspects}
    implicated |= {o.service for o in findings.onsets}
    implicated |= {s.service for s in findings.services if s.significant}
    implicated |= set(spec.services)
    return [d for d in spec.ai_dependencies if d in implicated]


def analyze(
    pack: EvidencePack,
    findings: Findings,
    spec: IncidentSpec,
    settings: Settings,
    *,
    http_client: httpx2.Client | None = None,
    api_key: str | None = None,
) -> Analysis:
    """The analysis of one incident by the analyst the settings choose, or the offline one.

    `api_key` comes from the edge; `http_client` lets tests replay recorded API responses
    through the real SDK. Whatever happens to the model call, an Analysis comes back: a failed
    call is replaced by the offline analysis with `fallback_reason` set and the health degraded.
    """
    name = choose_analyst(settings, api_key_present=bool(api_key))
    offline = OfflineAnalyst()
    analyst: Analyst = (
        offline
        if name == "offline"
        else ClaudeAnalyst(settings, backend=name, api_key=api_key, http_client=http_client)  # type: ignore[arg-type]
    )
    try:
        analysis = analyst.analyze(pack, findings, spec)
    except AnalystFailed as failure:
        analysis = offline.analyze(pack, findings, spec)
        health = failure.health
        health.degraded = True
        if failure.reason not in health.reasons:
            health.reasons.append(failure.reason)
        analysis = analysis.model_copy(
            update={
                "fallback_reason": f"{name} ({failure.model}) failed, so the offline analyst "
                f"stood in: {failure.reason}",
                "health": health,
                "usage": failure.usage,
                "request_ids": failure.request_ids,
            }
        )
    return analysis.model_copy(
        update={"self_analysis_services": self_analysis_services(findings, spec)}
    )
