"""Runs labelled cases through the draft flow and scores what it wrote.

The draft is the product under test, so the eval calls the same flow as `postmortem draft`
and reads its output folder: `findings.json` always, `analysis.json` and `verification.json`
when the flow wrote them (rows without them score from the findings and show n/a). Recorded
analyses in a case folder are verified against the same findings and scored as rows of their
own, so a model's answer can be re-scored without calling it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from tasks.contracts import Analysis, EvidenceManifest, EvidencePack, Findings, Verification
from tasks.errors import PostmortemError
from tasks.evaluation.cases import EvalCase, select_cases
from tasks.evaluation.scoring import AnalystSummary, CaseScore, score_case, summarise
from tasks.output import read_model_json
from tasks.settings import Settings

FINDINGS_FILE = "findings.json"
ANALYSIS_FILE = "analysis.json"
VERIFICATION_FILE = "verification.json"
MANIFEST_FILE = "evidence/manifest.json"
PACK_FILE = "evidence/pack.json"


class DraftOutputs(BaseModel):
    findings: Findings
    analysis: Analysis | None = None
    verification: Verification | None = None
    manifest: EvidenceManifest | None = None
    pack: EvidencePack | None = None


def read_outputs(folder: Path) -> DraftOutputs:
    """The stage outputs in a draft folder; only findings.json is required."""
    folder = Path(folder)

    findings = read_model_json(Findings, folder / FINDINGS_FILE)
    if findings is None:
        raise PostmortemError(f"{folder}: the draft wrote no {FINDINGS_FILE}.")
    return DraftOutputs(
        findings=findings,
        analysis=read_model_json(Analysis, folder / ANALYSIS_FILE),
        verification=read_model_json(Verification, folder / VERIFICATION_FILE),
        manifest=read_model_json(EvidenceManifest, folder / MANIFEST_FILE),
        pack=read_model_json(EvidencePack, folder / PACK_FILE),
    )


def scores_for(
    case: EvalCase,
    outputs: DraftOutputs,
    label: str | None = None,
    include_baseline: bool = True,
    include_recorded: bool = True,
    analyst: str | None = None,
) -> list[CaseScore]:
    """The baseline row, the analyst's row (when the draft has an analysis) and one row per
    recorded analysis of the case."""
    rows = [score_case(case.name, case.truth, outputs.findings)] if include_baseline else []
    if outputs.analysis is not None:
        rows.append(
            score_case(
                case.name,
                case.truth,
                outputs.findings,
                outputs.analysis,
                outputs.verification,
                label=label,
            )
        )
    elif analyst:
        # The flow wrote no analysis (stage not wired, or it failed): the draft's root cause is
        # the findings' suspects, and nothing was verified.
        rows.append(
            score_case(
                case.name, case.truth, outputs.findings, label=f"{label or analyst} (findings only)"
            )
        )
    for name, path in case.recorded.items() if include_recorded else ():
        rows.append(_recorded_row(case, outputs, name, path))
    return rows


def _recorded_row(case: EvalCase, outputs: DraftOutputs, name: str, path: Path) -> CaseScore:
    from tasks.verify import verify_analysis

    label = f"recorded:{name}"
    try:
        analysis = Analysis.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        return CaseScore(case=case.name, analyst=label, error=f"{path}: {exc}")
    pack = outputs.pack or EvidencePack(
        incident_id=case.spec.id, budget_tokens=0, token_count=0, token_method="estimate"
    )
    verification = None
    if outputs.manifest is not None:
        verification = verify_analysis(
            analysis, outputs.findings, pack, outputs.manifest, case.spec, Settings()
        )
    return score_case(case.name, case.truth, outputs.findings, analysis, verification, label)


def run_eval(
    cases: list[EvalCase],
    settings: Settings,
    out_root: Path,
    *,
    label: str | None = None,
    include_baseline: bool = True,
    draft: Callable[..., object] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> list[CaseScore]:
    """Draft every case with `settings` (its analyst, model and budget) and score it.

    A case that fails is a row with its error, not the end of the run. With several analysts,
    pass `include_baseline` for the first only, so the baseline and recorded rows appear once.
    `draft` defaults to the incident flow; it takes (spec, settings=...) and writes into
    settings.out_dir.
    """
    if draft is None:
        from flows.postmortem import incident_postmortem as draft
    out_root = Path(out_root)
    scores: list[CaseScore] = []
    for i, case in enumerate(cases, start=1):
        log(f"[{i}/{len(cases)}] {case.name}: drafting with the {settings.analyst} analyst…")
        run_settings = settings.model_copy(update={"out_dir": out_root})
        try:
            draft(case.spec, settings=run_settings)
            outputs = read_outputs(out_root / case.spec.id)
        except Exception as exc:  # one broken case (or a Prefect hiccup) is a row, not the end
            scores.append(
                CaseScore(
                    case=case.name,
                    analyst=label or settings.analyst,
                    error=str(exc)
                    if isinstance(exc, PostmortemError)
                    else f"{type(exc).__name__}: {exc}",
                )
            )
            continue
        scores.extend(
            scores_for(
                case,
                outputs,
                label,
                include_baseline,
                include_recorded=include_baseline,
                analyst=settings.analyst,
            )
        )
    return scores


def evaluate(
    cases: list[EvalCase],
    settings: Settings,
    out_root: Path,
    analysts: list[str],
    models: list[str] | None = None,
    *,
    label: str | None = None,
    draft: Callable[..., object] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> list[CaseScore]:
    """Every case through every analyst (and every model, for the model-backed analysts).

    Each run writes into its own folder under `out_root`, so the drafts can be compared too.
    """
    scores: list[CaseScore] = []
    first = True
    for analyst in analysts:
        variants = models if models and analyst in ("claude", "bedrock") else [None]
        for model in variants:
            update: dict[str, object] = {"analyst": analyst}
            if model:
                update["model" if analyst == "claude" else "bedrock_model"] = model
            run_label = None
            if label or model:
                run_label = ":".join(p for p in (analyst, model, label) if p)
            folder = Path(out_root) / "-".join(p for p in (analyst, model, label) if p)
            scores += run_eval(
                cases,
                settings.model_copy(update=update),
                folder,
                label=run_label,
                include_baseline=first,
                draft=draft,
                log=log,
            )
            first = False
    return scores


@dataclass
class EvalReport:
    """One eval's cases, its row per case and analyst, and the summary per analyst."""

    cases: list[EvalCase]
    scores: list[CaseScore]
    summaries: list[AnalystSummary]

    def to_json(self) -> str:
        return json.dumps(
            {
                "summaries": [s.model_dump(mode="json") for s in self.summaries],
                "cases": [s.model_dump(mode="json") for s in self.scores],
            }
        )


def run_evaluation(
    folder: Path | None,
    settings: Settings,
    out: Path,
    analysts: list[str],
    models: list[str] | None = None,
    *,
    label: str | None = None,
    scenarios: list[str] | None = None,
    seed: int = 1,
    scale: float = 0.1,
    limit: int | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> EvalReport:
    """`postmortem eval`: the cases (from `folder` or generated under `out/cases`), each through
    every analyst with its drafts under `out/runs`, scored and summarised."""
    cases = select_cases(folder, out / "cases", scenarios, seed, scale, limit, log)
    scores = evaluate(cases, settings, out / "runs", analysts, models, label=label, log=log)
    return EvalReport(cases, scores, summarise(scores))
