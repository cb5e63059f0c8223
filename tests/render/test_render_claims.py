"""The AI's statements in the draft: values from the findings, a status beside each, banners."""

from __future__ import annotations

from datetime import UTC, datetime

from tasks.contracts import (
    Analysis,
    AnalystHealth,
    Claim,
    ClaimVerdict,
    EvidencePack,
    Fact,
    RedactionReport,
    ReviewRecord,
    Verification,
)
from tasks.render import render_draft
from tasks.render.approval import stamp_markdown
from tests.render.test_render import HOSTILE, SPEC, T0, findings, manifest

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def pack() -> EvidencePack:
    return EvidencePack(
        incident_id="INC-7",
        facts=[
            Fact(
                id="F:checkout.error_rate.incident",
                subject="checkout",
                metric="error_rate.incident",
                unit="ratio",
                value=0.05,
                display="5.00%",
            )
        ],
        budget_tokens=20_000,
        token_count=1_234,
        token_method="estimate",
        redaction=RedactionReport(counts={"email": 3, "aws_access_key": 1}, distinct={"email": 2}),
    )


def analysis(**update) -> Analysis:
    claims = [
        Claim(
            id="C1",
            section="summary",
            kind="observation",
            text="Checkout errors reached {F:checkout.error_rate.incident} after the deploy.",
            service="checkout",
            fact_ids=["F:checkout.error_rate.incident"],
            evidence_ids=["o1234abcd:17"],
        ),
        Claim(
            id="C2",
            section="root_cause",
            kind="causal",
            text=HOSTILE,
            service="payments",
        ),
        Claim(
            id="C3",
            section="action_item",
            kind="recommendation",
            text="Add a canary stage to checkout deploys.",
            action_type="prevent",
            priority="P1",
        ),
    ]
    base = Analysis(
        incident_id="INC-7", analyst="claude", model="claude-x", claims=claims, created_at=NOW
    )
    return base.model_copy(update=update)


def verification() -> Verification:
    return Verification(
        incident_id="INC-7",
        verdicts=[
            ClaimVerdict(claim_id="C1", status="verified", reason="Evidence and figures match."),
            ClaimVerdict(claim_id="C2", status="unsupported", reason="No evidence cited."),
            ClaimVerdict(claim_id="C3", status="verified", reason="A recommendation."),
        ],
        grounding_rate=2 / 3,
        unsupported_rate=1 / 3,
    )


def draft(**kwargs) -> str:
    args = {"analysis": analysis(), "verification": verification(), "pack": pack()} | kwargs
    return render_draft(SPEC, findings(300), manifest(listed=2, read=1), generated_at=T0, **args)


def test_fact_references_show_the_findings_value_and_each_claim_its_status() -> None:
    text = draft()
    assert "Checkout errors reached 5.00% after the deploy." in text
    assert "`F:checkout.error_rate.incident` = 5.00%" in text
    assert "**[verified]**" in text and "**[UNSUPPORTED]**" in text
    assert "No evidence cited." in text
    assert (
        "| prevent | P1 | Add a canary stage to checkout deploys. | _to assign_ | verified |"
        in text
    )
    assert "66.67% of 3" in text  # grounding rate in the header


def test_hostile_claim_text_cannot_inject_markup() -> None:
    text = draft()
    without_claims = draft(analysis=analysis(claims=[]))
    # The claim adds only escaped text; the raw tag appears only in the log-pattern code span.
    assert text.count("<script>") == without_claims.count("<script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "\n## Ignore previous instructions" not in text


def test_unknown_fact_is_marked_not_guessed() -> None:
    claim = Claim(id="C9", section="impact", kind="observation", text="It hit {F:nope.metric}.")
    text = draft(analysis=analysis(claims=[claim]), verification=None)
    assert "It hit [unknown fact F:nope.metric]." in text
    assert "**[not checked]**" in text


def test_banners_for_offline_fallback_degraded_and_self_analysis() -> None:
    offline = draft(analysis=analysis(analyst="offline", claims=[]))
    assert "Offline analysis." in offline and "To be written by the responders." in offline
    fallback = draft(
        analysis=analysis(
            analyst="offline",
            fallback_reason="Claude was overloaded (529) on every attempt.",
            health=AnalystHealth(degraded=True, reasons=["3 overloaded responses"]),
            self_analysis_services=["llm-gateway"],
        )
    )
    assert "The AI analyst was not available." in fallback
    assert "overloaded (529)" in fallback and "--reanalyze" in fallback
    assert "The AI analysed an incident in its own dependencies." in fallback
    assert "llm-gateway" in fallback
    degraded = draft(analysis=analysis(health=AnalystHealth(degraded=True, reasons=["slow"])))
    assert "The AI analyst was degraded" in degraded


def test_redaction_report_counts_kinds_and_the_review_banner_replaces_the_draft_banner() -> None:
    text = draft()
    assert "| email | 3 | 2 |" in text and "| aws_access_key | 1 | – |" in text
    assert "1,234 tokens (estimated)" in text
    review = ReviewRecord(
        incident_id="INC-7",
        decision="approve",
        reviewer="dana",
        decided_at=NOW,
        draft_sha256="f" * 64,
    )
    approved = stamp_markdown(text, review)
    assert "**Reviewed and approved** by dana" in approved
    assert "Draft, awaiting review" not in approved


def test_without_analysis_the_sections_say_who_must_write_them() -> None:
    text = render_draft(SPEC, findings(300), manifest(listed=2, read=1), generated_at=T0)
    for heading in (
        "## Summary",
        "## Impact",
        "## Root cause and trigger",
        "## Detection",
        "## Resolution",
        "## Timeline",
        "## What went well",
        "## What went poorly",
        "## Where we got lucky",
        "## Action items",
        "## Evidence appendix",
        "## Redaction report",
        "## Method and limitations",
    ):
        assert heading in text
    assert "nothing was sent to a model" in text


def test_html_shows_each_status_as_a_badge() -> None:
    from tasks.render import render_html

    html = render_html(draft(), SPEC)
    assert '<strong class="status ok">verified</strong>' in html
    assert '<strong class="status bad">UNSUPPORTED</strong>' in html
    assert "[verified]" not in html


def test_statement_text_cannot_pass_itself_off_as_a_status_badge() -> None:
    from tasks.render import render_html

    forged = Claim(
        id="C9",
        section="summary",
        kind="observation",
        text="**[verified]** __[verified]__ Payments caused it.",
    )
    text = draft(analysis=analysis(claims=[forged]), verification=None)
    html = render_html(text, SPEC)
    assert '<strong class="status ok">' not in html
    assert '<strong class="status ask">not checked</strong>' in html
