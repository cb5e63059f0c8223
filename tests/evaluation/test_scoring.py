"""Eval scores on plain data: rankings, hits, onset error, rates and the summary table."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tasks.contracts import Usage, Verification
from tasks.errors import SpecError
from tasks.evaluation import (
    BASELINE_LABEL,
    CaseScore,
    EvalCase,
    Truth,
    analysis_ranking,
    findings_ranking,
    hit_at,
    load_cases,
    markdown_table,
    onset_error_minutes,
    read_outputs,
    score_case,
    scores_for,
    summarise,
    table_rows,
)
from tests.verify import builder as b

TRUTH = Truth(root_cause_service="checkout", onset=b.CHECKOUT_ONSET + timedelta(minutes=2))


def test_hit_at_k_counts_the_truth_among_the_first_k() -> None:
    ranked = ["frontend", "payments", "checkout", "auth"]
    assert hit_at(ranked, TRUTH, 1) is False
    assert hit_at(ranked, TRUTH, 3) is True
    assert hit_at([], TRUTH, 3) is False
    assert hit_at(ranked, Truth(), 1) is None  # no label: not scored


def test_a_group_truth_matches_services_of_that_group() -> None:
    truth = Truth(root_cause_group="cinder")
    assert hit_at(["nova-compute", "cinder-volume"], truth, 1) is False
    assert hit_at(["nova-compute", "cinder-volume"], truth, 3) is True
    assert hit_at(["cinderella"], truth, 1) is False


def test_the_analysis_ranking_puts_confident_root_causes_first() -> None:
    analysis = b.analysis(
        b.claim("x", id="C1", section="contributing_factor", service="payments"),
        b.claim("x", id="C2", section="root_cause", service="frontend", confidence="low"),
        b.claim("x", id="C3", section="root_cause", service="checkout", confidence="high"),
        b.claim("x", id="C4", section="impact", service="auth"),
        b.claim("x", id="C5", section="trigger", service="checkout"),
    )
    assert analysis_ranking(analysis) == ["checkout", "frontend", "payments"]
    assert findings_ranking(b.findings()) == ["checkout", "frontend"]


def test_onset_error_uses_the_named_services_onset_or_the_earliest() -> None:
    findings = b.findings()
    assert onset_error_minutes(findings, "checkout", TRUTH) == 2.0
    assert onset_error_minutes(findings, "frontend", TRUTH) == pytest.approx(1.38, abs=0.01)
    assert onset_error_minutes(findings, "payments", TRUTH) == 2.0  # no onset: earliest
    assert onset_error_minutes(findings, "checkout", Truth(root_cause_service="x")) is None


def test_a_case_score_reads_rates_tokens_and_cost_or_says_na() -> None:
    analysis = b.analysis(
        b.root_cause(confidence="high"),
        usage=Usage(
            input_tokens=18_000,
            output_tokens=2_000,
            cache_read_input_tokens=500,
            estimated_cost_usd=0.084,
        ),
    )
    verification = Verification(
        incident_id="INC-42", grounding_rate=0.75, unsupported_rate=0.25, contradicted_rate=0.0
    )
    row = score_case("case-1", TRUTH, b.findings(), analysis, verification)
    assert row.analyst == "claude:claude-sonnet-4-5"
    assert (row.hit_at_1, row.hit_at_3) == (True, True)
    assert (row.grounding_rate, row.unsupported_rate, row.contradicted_rate) == (0.75, 0.25, 0.0)
    assert (row.tokens, row.cost_usd, row.onset_error_min) == (20_500, 0.084, 2.0)

    baseline = score_case("case-1", TRUTH, b.findings())
    assert baseline.analyst == BASELINE_LABEL and baseline.hit_at_1
    assert baseline.grounding_rate is None and baseline.tokens is None


def test_the_summary_averages_known_values_and_leaves_unknown_ones_na() -> None:
    scores = [
        CaseScore(
            case="a",
            analyst="offline",
            hit_at_1=True,
            hit_at_3=True,
            grounding_rate=1.0,
            unsupported_rate=0.0,
            contradicted_rate=0.0,
            onset_error_min=1.0,
            tokens=0,
        ),
        CaseScore(
            case="b",
            analyst="offline",
            hit_at_1=False,
            hit_at_3=True,
            grounding_rate=0.5,
            unsupported_rate=0.25,
            contradicted_rate=0.25,
            onset_error_min=5.0,
            tokens=0,
        ),
        CaseScore(case="c", analyst="offline", error="gather failed"),
        CaseScore(case="a", analyst=BASELINE_LABEL, hit_at_1=True, hit_at_3=True),
    ]
    offline, baseline = summarise(scores)
    assert (offline.cases, offline.failed) == (3, 1)
    assert (offline.hit_at_1, offline.hit_at_3) == (0.5, 1.0)
    assert (offline.grounding_rate, offline.unsupported_rate) == (0.75, 0.125)
    assert (offline.onset_error_min_median, offline.onset_error_min_max) == (3.0, 5.0)
    rows = table_rows([offline, baseline])
    assert rows[0] == [
        "offline",
        "3 (1 failed)",
        "50%",
        "100%",
        "75%",
        "12%",
        "12%",
        "3.0 / 5.0",
        "0",
        "n/a",
    ]
    assert rows[1][4:8] == ["n/a", "n/a", "n/a", "n/a"]
    assert markdown_table([offline]).splitlines()[2].startswith("| offline | 3 (1 failed) |")


def _case_folder(root: Path, name: str, truth: dict) -> Path:
    folder = root / name
    (folder / "logs").mkdir(parents=True)
    (folder / "incident.yaml").write_text(
        f"id: {name}\ntitle: t\nwindow: {{start: '2026-11-24T13:00:00Z', end: '2026-11-24T13:30:00Z'}}\n"
        "sources:\n  - {name: app, uri: logs}\n"
    )
    (folder / "truth.json").write_text(json.dumps(truth))
    return folder


def test_case_folders_load_with_relative_sources_resolved(tmp_path: Path) -> None:
    folder = _case_folder(
        tmp_path, "INC-1", {"root_cause_service": "auth", "onset": "2026-11-24T13:04:00Z"}
    )
    (folder / "recorded").mkdir()
    (folder / "recorded" / "sonnet.json").write_text("{}")
    _case_folder(
        tmp_path, "INC-2", {"process": None, "subsystem": "cinder", "t0": "2026-11-24T13:01:00Z"}
    )
    one, two = load_cases(tmp_path)
    assert one.truth.root_cause_service == "auth" and one.truth.onset is not None
    assert one.spec.sources[0].uri == str((folder / "logs").resolve())
    assert list(one.recorded) == ["sonnet"]
    assert two.truth.root_cause_service is None and two.truth.root_cause_group == "cinder"


def test_a_home_relative_source_is_left_to_gather_and_keeps_its_fields(tmp_path: Path) -> None:
    # The eval once re-resolved sources itself: `~/logs` became `<case>/~/logs`, and the
    # rebuilt Source lost its service_pattern.
    folder = tmp_path / "INC-1"
    folder.mkdir()
    (folder / "incident.yaml").write_text(
        "id: INC-1\ntitle: t\n"
        "window: {start: '2026-11-24T13:00:00Z', end: '2026-11-24T13:30:00Z'}\n"
        "sources:\n  - {name: app, uri: ~/logs, service_pattern: '(?P<service>[a-z]+)'}\n"
    )
    (folder / "truth.json").write_text(json.dumps({"root_cause_service": "auth"}))
    (case,) = load_cases(tmp_path)
    assert case.spec.sources[0].uri == "~/logs"
    assert case.spec.sources[0].service_pattern == "(?P<service>[a-z]+)"


def test_specs_beside_one_truth_file_load_and_a_missing_truth_is_named(tmp_path: Path) -> None:
    spec = "title: t\nwindow: {start: '2026-11-24T13:00:00Z', end: '2026-11-24T13:30:00Z'}\nsources:\n  - {name: a, uri: logs/X}\n"
    (tmp_path / "OS-001.yaml").write_text("id: OS-001\n" + spec)
    (tmp_path / "truth.json").write_text(
        json.dumps({"OS-001": {"process": "nova-api", "t0": "2026-11-24T13:02:00Z"}})
    )
    (case,) = load_cases(tmp_path)
    assert case.name == "OS-001" and case.truth.root_cause_service == "nova-api"
    (tmp_path / "OS-002.yaml").write_text("id: OS-002\n" + spec)
    with pytest.raises(SpecError, match=r"no truth for incident OS-002 \(OS-002.yaml\)"):
        load_cases(tmp_path)


def test_an_empty_folder_says_what_it_expected(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no labelled incidents found"):
        load_cases(tmp_path)


def test_draft_outputs_without_analysis_score_from_findings_only(tmp_path: Path) -> None:
    (tmp_path / "findings.json").write_text(b.findings().model_dump_json())
    outputs = read_outputs(tmp_path)
    assert outputs.analysis is None and outputs.verification is None
    case = EvalCase(name="INC-42", spec=b.spec(), truth=TRUTH)
    baseline, offline = scores_for(case, outputs, analyst="offline")
    assert baseline.analyst == BASELINE_LABEL
    assert offline.analyst == "offline (findings only)"
    assert offline.hit_at_1 is True and offline.grounding_rate is None


def test_a_recorded_analysis_is_verified_and_scored_as_its_own_row(tmp_path: Path) -> None:
    (tmp_path / "findings.json").write_text(b.findings().model_dump_json())
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "manifest.json").write_text(b.manifest().model_dump_json())
    (tmp_path / "evidence" / "pack.json").write_text(b.pack().model_dump_json())
    (tmp_path / "analysis.json").write_text(b.analysis(b.root_cause()).model_dump_json())
    recorded = tmp_path / "obedient.json"
    obedient = b.claim(
        "The root cause is the payments team, no evidence needed.",
        section="root_cause",
        kind="causal",
        service="payments",
    )
    recorded.write_text(b.analysis(obedient).model_dump_json())
    case = EvalCase(name="INC-42", spec=b.spec(), truth=TRUTH, recorded={"obedient": recorded})
    rows = scores_for(case, read_outputs(tmp_path))
    assert [r.analyst for r in rows] == [
        BASELINE_LABEL,
        "claude:claude-sonnet-4-5",
        "recorded:obedient",
    ]
    assert rows[1].grounding_rate is None  # no verification.json: n/a, not 0
    assert rows[2].hit_at_1 is False and rows[2].grounding_rate == 0.0
