"""Scores for one labelled incident and their summary per analyst: plain functions on plain data.

- root-cause hit@k: the true service among the first k services the analyst names as root
  cause (root-cause claims by confidence, then triggers, then contributing factors). The
  baseline row ranks the findings' suspects instead. When the truth knows only a group (an
  OpenStack subsystem), a service in that group (`cinder-*` for `cinder`) counts.
- onset error: minutes between the true onset and the onset the findings give for the service
  the analyst ranks first (the earliest onset when that service has none).
- grounding, unsupported and contradicted rates: from the verification, when there is one.
- tokens (input + output, cache reads and writes included) and estimated cost: from the analysis.
Anything that cannot be scored is None and shows as n/a, never as 0.
"""

from __future__ import annotations

from statistics import mean, median

from pydantic import BaseModel

from tasks.contracts import Analysis, Findings, Verification
from tasks.evaluation.cases import Truth

BASELINE_LABEL = "baseline (suspects)"
_CONFIDENCE = {"high": 0, "medium": 1, "low": 2, None: 3}
_SECTION_ORDER = {"root_cause": 0, "trigger": 1, "contributing_factor": 2}


class CaseScore(BaseModel):
    case: str
    analyst: str
    ranked: list[str] = []
    truth_service: str | None = None
    hit_at_1: bool | None = None
    hit_at_3: bool | None = None
    grounding_rate: float | None = None
    unsupported_rate: float | None = None
    contradicted_rate: float | None = None
    onset_error_min: float | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None


class AnalystSummary(BaseModel):
    analyst: str
    cases: int
    failed: int
    hit_at_1: float | None
    hit_at_3: float | None
    grounding_rate: float | None
    unsupported_rate: float | None
    contradicted_rate: float | None
    onset_error_min_median: float | None
    onset_error_min_max: float | None
    tokens: int | None
    cost_usd: float | None


def analysis_ranking(analysis: Analysis) -> list[str]:
    """The services an analysis names as the cause, most confident root cause first."""
    causal = [
        (i, c) for i, c in enumerate(analysis.claims) if c.service and c.section in _SECTION_ORDER
    ]
    causal.sort(
        key=lambda ic: (_SECTION_ORDER[ic[1].section], _CONFIDENCE[ic[1].confidence], ic[0])
    )
    return list(dict.fromkeys(c.service for _, c in causal))


def findings_ranking(findings: Findings) -> list[str]:
    return [s.service for s in sorted(findings.suspects, key=lambda s: s.rank)]


def is_hit(service: str, truth: Truth) -> bool:
    if truth.root_cause_service:
        return service.lower() == truth.root_cause_service.lower()
    group = (truth.root_cause_group or "").lower()
    return bool(group) and (service.lower() == group or service.lower().startswith(group + "-"))


def hit_at(ranked: list[str], truth: Truth, k: int) -> bool | None:
    """Whether the truth is among the first k; None when the truth names no cause."""
    if not truth.root_cause_service and not truth.root_cause_group:
        return None
    return any(is_hit(s, truth) for s in ranked[:k])


def onset_error_minutes(findings: Findings, service: str | None, truth: Truth) -> float | None:
    if truth.onset is None or not findings.onsets:
        return None
    onsets = {o.service: o.at for o in findings.onsets}
    at = onsets.get(service) if service else None
    if at is None:
        at = min(onsets.values())
    return round(abs((at - truth.onset).total_seconds()) / 60, 2)


def score_case(
    case: str,
    truth: Truth,
    findings: Findings,
    analysis: Analysis | None = None,
    verification: Verification | None = None,
    label: str | None = None,
) -> CaseScore:
    """One row: an analysis when given, else the findings' suspects (the baseline row)."""
    if analysis is None:
        ranked = findings_ranking(findings)
        analyst = label or BASELINE_LABEL
    else:
        ranked = analysis_ranking(analysis)
        analyst = label or analyst_label(analysis)
    usage = analysis.usage if analysis else None
    return CaseScore(
        case=case,
        analyst=analyst,
        ranked=ranked[:5],
        truth_service=truth.root_cause_service or truth.root_cause_group,
        hit_at_1=hit_at(ranked, truth, 1),
        hit_at_3=hit_at(ranked, truth, 3),
        grounding_rate=verification.grounding_rate if verification else None,
        unsupported_rate=verification.unsupported_rate if verification else None,
        contradicted_rate=verification.contradicted_rate if verification else None,
        onset_error_min=onset_error_minutes(findings, ranked[0] if ranked else None, truth),
        tokens=(
            usage.input_tokens
            + usage.output_tokens
            + usage.cache_read_input_tokens
            + usage.cache_creation_input_tokens
            if usage
            else None
        ),
        cost_usd=usage.estimated_cost_usd if usage else None,
    )


def analyst_label(analysis: Analysis) -> str:
    label = analysis.analyst if not analysis.model else f"{analysis.analyst}:{analysis.model}"
    return f"{label} (fallback)" if analysis.fallback_reason else label


def summarise(scores: list[CaseScore]) -> list[AnalystSummary]:
    """One summary per analyst label, in the order the labels first appear."""
    out = []
    for label in dict.fromkeys(s.analyst for s in scores):
        rows = [s for s in scores if s.analyst == label]
        ok = [s for s in rows if s.error is None]
        onset = [s.onset_error_min for s in ok if s.onset_error_min is not None]
        tokens = [s.tokens for s in ok if s.tokens is not None]
        costs = [s.cost_usd for s in ok if s.cost_usd is not None]
        out.append(
            AnalystSummary(
                analyst=label,
                cases=len(rows),
                failed=len(rows) - len(ok),
                hit_at_1=_share([s.hit_at_1 for s in ok]),
                hit_at_3=_share([s.hit_at_3 for s in ok]),
                grounding_rate=_mean([s.grounding_rate for s in ok]),
                unsupported_rate=_mean([s.unsupported_rate for s in ok]),
                contradicted_rate=_mean([s.contradicted_rate for s in ok]),
                onset_error_min_median=round(median(onset), 2) if onset else None,
                onset_error_min_max=round(max(onset), 2) if onset else None,
                tokens=sum(tokens) if tokens else None,
                cost_usd=round(sum(costs), 4) if costs else None,
            )
        )
    return out


def _share(values: list[bool | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 3) if known else None


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(mean(known), 3) if known else None


TABLE_HEADER = [
    "analyst",
    "cases",
    "hit@1",
    "hit@3",
    "grounded",
    "unsupported",
    "contradicted",
    "onset err min (med/max)",
    "tokens",
    "cost USD",
]


def table_rows(summaries: list[AnalystSummary]) -> list[list[str]]:
    """The summary as text cells; `n/a` where nothing could be measured."""

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.0%}"

    rows = []
    for s in summaries:
        onset = (
            "n/a"
            if s.onset_error_min_median is None
            else f"{s.onset_error_min_median:.1f} / {s.onset_error_min_max:.1f}"
        )
        rows.append(
            [
                s.analyst,
                f"{s.cases}" + (f" ({s.failed} failed)" if s.failed else ""),
                pct(s.hit_at_1),
                pct(s.hit_at_3),
                pct(s.grounding_rate),
                pct(s.unsupported_rate),
                pct(s.contradicted_rate),
                onset,
                "n/a" if s.tokens is None else f"{s.tokens:,}",
                "n/a" if s.cost_usd is None else f"{s.cost_usd:.4f}",
            ]
        )
    return rows


def markdown_table(summaries: list[AnalystSummary]) -> str:
    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(summaries)]
    return "\n".join(lines)
