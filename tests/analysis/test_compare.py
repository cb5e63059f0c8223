"""`--reanalyze` says what changed between two analyses of one incident."""

from __future__ import annotations

from datetime import UTC, datetime

from tasks.analysis.compare import compare_analyses
from tasks.contracts import Analysis, AnalystHealth, Claim, ClaimVerdict, Verification

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def claim(cid: str, text: str, section: str = "summary", service: str | None = None) -> Claim:
    return Claim(id=cid, section=section, kind="observation", text=text, service=service)


def analysis(claims: list[Claim], **update) -> Analysis:
    return Analysis(incident_id="I", analyst="offline", claims=claims, created_at=NOW).model_copy(
        update=update
    )


def verification(statuses: dict[str, str], rate: float) -> Verification:
    verdicts = [ClaimVerdict(claim_id=c, status=s, reason="r") for c, s in statuses.items()]
    return Verification(incident_id="I", verdicts=verdicts, grounding_rate=rate)


def test_identical_analyses_have_no_changes() -> None:
    a = analysis([claim("C1", "Checkout failed.")])
    v = verification({"C1": "verified"}, 1.0)
    assert compare_analyses(a, v, a, v) == []


def test_changes_in_analyst_grounding_root_cause_health_and_statements() -> None:
    before = analysis(
        [claim("C1", "Checkout   failed."), claim("C2", "db", "root_cause", "db")],
        health=AnalystHealth(degraded=True, reasons=["529"]),
    )
    after = analysis(
        [claim("X1", "Checkout failed."), claim("X2", "checkout", "root_cause", "checkout")],
        analyst="claude",
        model="claude-x",
    )
    changes = compare_analyses(
        before,
        verification({"C1": "unsupported", "C2": "verified"}, 0.5),
        after,
        verification({"X1": "verified", "X2": "verified"}, 1.0),
    )
    assert "Analyst: offline → claude (claude-x)." in changes
    assert "Verified statements: 50% → 100%." in changes
    assert "Root-cause service named: db → checkout." in changes
    assert "The analyst is no longer degraded." in changes
    assert (
        "[summary] Checkout failed.: unsupported → verified." in changes
    )  # whitespace-insensitive
    assert any(c.startswith("1 new statement(s)") for c in changes)
    assert any(c.startswith("1 statement(s) dropped") for c in changes)
