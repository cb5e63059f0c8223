"""What each drafting stage did, in a sentence, for the run's log.

Under `postmortem serve` nobody watches a terminal: the Prefect UI's log of the run is where an
operator sees what was read, what was rejected and what the analyst proposed. The same
sentences end the CLI's report, so both say the same thing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tasks.contracts import Analysis, EvidencePack, Findings, GatherStats, Verification


def gather_summary(stats: GatherStats) -> str:
    partly = f", {stats.partial} partly read" if stats.partial else ""
    invalid = (
        f" ({stats.invalid_utf8_lines:,} not valid UTF-8, kept with replacement characters)"
        if stats.invalid_utf8_lines
        else ""
    )
    return (
        f"Read {stats.read} of {stats.listed} objects ({stats.skipped} skipped, "
        f"{stats.failed} failed{partly}); {stats.lines_parsed:,} lines parsed, "
        f"{stats.lines_rejected:,} rejected, {stats.rows_kept:,} in the windows{invalid}."
    )


def baseline_summary(findings: Findings) -> str:
    flagged = sum(1 for p in findings.patterns if p.is_new or p.is_spike)
    top = findings.suspects[0] if findings.suspects else None
    suspect = f"top suspect {top.service} (score {top.score:.2f})" if top else "no suspect"
    return (
        f"Baseline: {findings.total_incident_lines:,} incident lines against "
        f"{findings.total_baseline_lines:,} baseline lines; {len(findings.services)} services, "
        f"{flagged} new or spiking patterns, {len(findings.changes)} changes; {suspect}."
    )


def evidence_summary(pack: EvidencePack) -> str:
    dropped = f", {pack.items_dropped} exemplars left out to fit" if pack.items_dropped else ""
    return (
        f"Evidence pack: {len(pack.facts)} facts and {len(pack.items)} exemplars, "
        f"{pack.token_count:,} of {pack.budget_tokens:,} tokens ({pack.token_method}){dropped}."
    )


def analysis_summary(analysis: Analysis) -> str:
    model = f" ({analysis.model})" if analysis.model else ""
    fallback = f"; stood in because {analysis.fallback_reason}" if analysis.fallback_reason else ""
    return (
        f"Analysis: {analysis.analyst}{model} proposed {len(analysis.claims)} statements, "
        f"{analysis.usage.input_tokens:,} tokens in, {analysis.usage.output_tokens:,} out"
        f"{fallback}."
    )


def verification_summary(verification: Verification) -> str:
    return (
        f"Verification: {verification.grounding_rate:.0%} of {len(verification.verdicts)} "
        f"statements verified, {verification.unsupported_rate:.0%} unsupported, "
        f"{verification.contradicted_rate:.0%} contradicted."
    )


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run's logger (sent to the API), or a plain one outside a run."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("postmortem")


def log_stage(summary: str, errors: Sequence[str] = (), warnings: Sequence[str] = ()) -> None:
    """The stage's sentence, then each error and warning on a line of its own."""
    logger = run_logger()
    logger.info(summary)
    for error in errors:
        logger.error(error)
    for warning in warnings:
        logger.warning(warning)
