"""`postmortem eval` end to end on tiny generated scenarios, through the real flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks.evaluation import BASELINE_LABEL, load_cases

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def test_eval_scores_generated_scenarios_and_the_cases_can_be_scored_again(
    tmp_path: Path,
) -> None:
    args = ["eval", "--scenario", "config-change", "--scale", "0.05"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    cases = report["cases"]
    assert {c["case"] for c in cases} == {"config-change-1"}
    assert not [c for c in cases if c["error"]]
    baseline = next(s for s in report["summaries"] if s["analyst"] == BASELINE_LABEL)
    assert baseline["cases"] == 1
    # The generator's truth is scored: a hit is 0 or 1, never missing.
    assert baseline["hit_at_1"] in (0.0, 1.0) and baseline["hit_at_3"] >= baseline["hit_at_1"]
    assert baseline["onset_error_min_median"] is not None
    analyst_rows = [s for s in report["summaries"] if s["analyst"] != BASELINE_LABEL]
    assert analyst_rows and all(s["cases"] == 1 for s in analyst_rows)

    # The generated cases are data now: the same folder is a DIR for `postmortem eval`.
    reloaded = load_cases(tmp_path / "cases")
    assert [c.name for c in reloaded] == ["config-change-1"]
    assert reloaded[0].truth.root_cause_service == cases[0]["truth_service"]

    table = CliRunner().invoke(
        app, ["eval", str(tmp_path / "cases"), "--out", str(tmp_path / "again"), "--limit", "1"]
    )
    assert table.exit_code == 0, table.output
    assert "hit@1" in table.stdout and BASELINE_LABEL in table.stdout
