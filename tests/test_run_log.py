"""The one-sentence stage summaries that end up in the run's log and the CLI's report."""

from __future__ import annotations

import logging

import pytest

from flows.run_log import (
    baseline_summary,
    gather_summary,
    log_stage,
    verification_summary,
)
from tasks.contracts import GatherStats, Verification
from tests.verify.builder import findings


def test_gather_summary_counts_every_object_and_line() -> None:
    stats = GatherStats(
        listed=12,
        read=9,
        skipped=1,
        failed=1,
        partial=1,
        lines_parsed=1_234_567,
        lines_rejected=3,
        invalid_utf8_lines=2,
        rows_kept=1_000_000,
    )
    assert gather_summary(stats) == (
        "Read 9 of 12 objects (1 skipped, 1 failed, 1 partly read); 1,234,567 lines parsed, "
        "3 rejected, 1,000,000 in the windows (2 not valid UTF-8, kept with replacement "
        "characters)."
    )
    clean = gather_summary(GatherStats(listed=2, read=2, lines_parsed=10, rows_kept=10))
    assert (
        clean
        == "Read 2 of 2 objects (0 skipped, 0 failed); 10 lines parsed, 0 rejected, 10 in the windows."
    )


def test_baseline_and_verification_summaries_name_the_result() -> None:
    text = baseline_summary(findings())
    assert text.startswith(
        "Baseline: 29,130 incident lines against 28,950 baseline lines; 3 services"
    )
    assert "1 new or spiking patterns" in text and text.endswith(
        "top suspect checkout (score 0.82)."
    )
    verified = Verification(
        incident_id="INC-42", grounding_rate=0.75, unsupported_rate=0.25, contradicted_rate=0.0
    )
    assert verification_summary(verified) == (
        "Verification: 75% of 0 statements verified, 25% unsupported, 0% contradicted."
    )


def test_outside_a_run_the_summary_goes_to_a_plain_logger(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="postmortem"):
        log_stage("Read 1 of 1 objects.", errors=["s3://b/k: access denied."], warnings=["w"])
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "Read 1 of 1 objects."),
        ("ERROR", "s3://b/k: access denied."),
        ("WARNING", "w"),
    ]
