"""The evaluation framework: labelled incidents through the draft, scored per analyst."""

from tasks.evaluation.cases import EvalCase, Truth, generator_cases, load_cases, select_cases
from tasks.evaluation.runner import (
    DraftOutputs,
    EvalReport,
    evaluate,
    read_outputs,
    run_eval,
    run_evaluation,
    scores_for,
)
from tasks.evaluation.scoring import (
    BASELINE_LABEL,
    TABLE_HEADER,
    AnalystSummary,
    CaseScore,
    analysis_ranking,
    findings_ranking,
    hit_at,
    markdown_table,
    onset_error_minutes,
    score_case,
    summarise,
    table_rows,
)

__all__ = [
    "BASELINE_LABEL",
    "TABLE_HEADER",
    "AnalystSummary",
    "CaseScore",
    "DraftOutputs",
    "EvalCase",
    "EvalReport",
    "Truth",
    "analysis_ranking",
    "evaluate",
    "findings_ranking",
    "generator_cases",
    "hit_at",
    "load_cases",
    "markdown_table",
    "onset_error_minutes",
    "read_outputs",
    "run_eval",
    "run_evaluation",
    "score_case",
    "scores_for",
    "select_cases",
    "summarise",
    "table_rows",
]
