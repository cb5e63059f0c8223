"""The verifier against a hand-built incident (tests/verify/builder.py): one rule per test."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tasks.contracts import AnalystHealth, Claim, Verification
from tasks.verify import verify_analysis
from tests.verify import builder as b


def verify(*claims: Claim, spec=None, pack=None, findings=None, **analysis_fields) -> Verification:
    return verify_analysis(
        b.analysis(*claims, **analysis_fields),
        findings or b.findings(),
        pack or b.pack(),
        b.manifest(),
        spec or b.spec(),
        b.settings(),
    )


def status(verification: Verification, claim_id: str = "C1") -> str:
    verdict = verification.verdict(claim_id)
    assert verdict is not None
    return verdict.status


def failed(verification: Verification, kind: str, claim_id: str = "C1") -> list[str]:
    verdict = verification.verdict(claim_id)
    assert verdict is not None
    return [c.detail for c in verdict.checks if c.kind == kind and not c.ok]


def test_a_grounded_root_cause_is_verified() -> None:
    v = verify(b.root_cause())
    assert status(v) == "verified", v.verdicts[0]
    kinds = {c.kind for c in v.verdicts[0].checks if c.ok}
    assert {
        "evidence_exists",
        "evidence_matches",
        "fact_exists",
        "top_suspect",
        "onset_order",
    } <= kinds
    assert v.grounding_rate == 1.0 and v.unsupported_rate == v.contradicted_rate == 0.0


def test_a_claim_without_evidence_is_unsupported() -> None:
    v = verify(b.claim("Checkout was unhealthy for a while.", service="checkout"))
    assert status(v) == "unsupported"
    assert "cites no evidence" in v.verdicts[0].reason


def test_evidence_that_does_not_exist_is_unsupported() -> None:
    v = verify(b.root_cause(evidence_ids=["o0000c0c0:99999", b.DEPLOY_EVENT]))
    assert status(v) == "unsupported"
    assert "o0000c0c0:99999" in v.verdicts[0].reason


def test_evidence_from_an_object_that_could_not_be_read_is_unsupported() -> None:
    v = verify(
        b.claim("Checkout logged an exception.", service="checkout", evidence_ids=[b.LOST_LINE])
    )
    assert status(v) == "unsupported"
    assert "was failed" in v.verdicts[0].reason


def test_evidence_about_another_service_is_unsupported() -> None:
    v = verify(
        b.claim("Frontend returned errors to users.", service="frontend", evidence_ids=[b.NPE_LINE])
    )
    assert status(v) == "unsupported"
    assert failed(v, "evidence_matches") == [
        f"None of its evidence ({b.NPE_LINE}) is about service frontend."
    ]


def test_evidence_about_another_change_or_pattern_is_unsupported() -> None:
    wrong_change = verify(b.root_cause(evidence_ids=[b.NPE_LINE, b.CONFIG_EVENT]))
    assert status(wrong_change) == "unsupported"
    assert any("change 0" in d for d in failed(wrong_change, "evidence_matches"))
    wrong_pattern = verify(
        b.claim(
            "A new exception appeared.",
            pattern_id=b.PATTERN,
            evidence_ids=[b.FRONTEND_502],
        )
    )
    assert status(wrong_pattern) == "unsupported"


def test_a_change_index_outside_the_findings_is_unsupported() -> None:
    v = verify(b.root_cause(change_index=7))
    assert status(v) == "unsupported"
    assert "Change 7 does not exist" in v.verdicts[0].reason


def test_a_fact_missing_from_the_pack_is_unsupported() -> None:
    v = verify(b.root_cause(fact_ids=[], text="Errors rose to {F:checkout.error_rate.peak}."))
    assert status(v) == "unsupported"
    assert "F:checkout.error_rate.peak" in v.verdicts[0].reason


@pytest.mark.parametrize(
    "text",
    [
        "Checkout's error rate reached 12.4% against 0.2% before.",  # fractions as percentages
        "Checkout's error rate reached about 12%.",  # rounding
        "Checkout logged 1,204 errors; p95 latency was 2.5 s.",  # thousands, ms as seconds
        "Checkout's p95 latency rose 11.8x.",  # a ratio
        "Checkout errors started about 4 minutes into the window, 33 s after the deploy.",
    ],
)
def test_literal_numbers_that_match_the_findings_pass(text: str) -> None:
    v = verify(b.claim(text, service="checkout", evidence_ids=[b.NPE_LINE]))
    assert status(v) == "verified", v.verdicts[0]
    assert any(c.kind == "literal_number" and c.ok for c in v.verdicts[0].checks)


def test_a_number_that_disagrees_with_its_fact_is_contradicted() -> None:
    v = verify(
        b.claim(
            "Checkout's error rate peaked at 31% ({F:checkout.error_rate.incident}).",
            service="checkout",
            evidence_ids=[b.NPE_LINE],
        )
    )
    assert status(v) == "contradicted"
    assert "'31%' disagrees" in v.verdicts[0].reason


def test_a_number_from_nowhere_is_flagged_unsupported() -> None:
    v = verify(
        b.claim("Checkout dropped 4,870 orders.", service="checkout", evidence_ids=[b.NPE_LINE])
    )
    assert status(v) == "unsupported"
    assert "'4,870' matches no figure" in v.verdicts[0].reason


def test_identifiers_and_small_counts_are_not_figures() -> None:
    v = verify(
        b.claim(
            f"Version v2.3.1 of checkout threw in 3 pods ({b.NPE_LINE}); 5xx answers followed.",
            service="checkout",
            evidence_ids=[b.NPE_LINE],
        )
    )
    assert status(v) == "verified", v.verdicts[0]
    assert not [c for c in v.verdicts[0].checks if c.kind == "literal_number"]


def test_timeline_times_within_a_minute_pass_and_others_do_not() -> None:
    near = b.claim(
        "Checkout started failing at 13:04Z.",
        id="C1",
        section="timeline",
        kind="timeline",
        service="checkout",
        evidence_ids=[b.NPE_LINE],
        at=b.CHECKOUT_ONSET + timedelta(seconds=40),
    )
    far = b.claim(
        "Checkout started failing at 13:07Z.",
        id="C2",
        section="timeline",
        kind="timeline",
        service="checkout",
        evidence_ids=[b.NPE_LINE],
    )
    against_fact = b.claim(
        "Checkout started failing at 13:07:30Z ({F:checkout.onset}).",
        id="C3",
        section="timeline",
        kind="timeline",
        service="checkout",
        evidence_ids=[b.NPE_LINE],
    )
    v = verify(near, far, against_fact)
    assert status(v, "C1") == "verified", v.verdicts[0]
    assert status(v, "C2") == "unsupported"
    assert "'13:07Z' is not within a minute" in v.verdict("C2").reason
    assert status(v, "C3") == "contradicted"
    assert "F:checkout.onset" in v.verdict("C3").reason
    assert v.grounding_rate == pytest.approx(1 / 3, abs=1e-3)
    assert v.unsupported_rate == pytest.approx(1 / 3, abs=1e-3)
    assert v.contradicted_rate == pytest.approx(1 / 3, abs=1e-3)


def test_a_root_cause_naming_another_service_than_a_clear_top_suspect_is_contradicted() -> None:
    v = verify(
        b.claim(
            "Frontend's 502s were the root cause.",
            section="root_cause",
            kind="causal",
            service="frontend",
            evidence_ids=[b.FRONTEND_502],
        )
    )
    assert status(v) == "contradicted"
    assert "top suspect is checkout" in v.verdicts[0].reason


def test_without_a_clear_lead_another_root_cause_is_a_judgement_not_a_contradiction() -> None:
    close = b.findings()
    close.suspects[1].score = 0.78
    v = verify(
        b.claim(
            "Frontend's 502s were the root cause.",
            section="root_cause",
            kind="causal",
            service="frontend",
            evidence_ids=[b.FRONTEND_502],
        ),
        findings=close,
    )
    assert status(v) == "verified", v.verdicts[0]


def test_blaming_a_change_made_after_the_onset_is_contradicted() -> None:
    v = verify(
        b.root_cause(
            service="payments",
            change_index=1,
            evidence_ids=[b.CONFIG_EVENT],
            fact_ids=[],
            section="contributing_factor",
            text="The payments timeout change broke checkout.",
        )
    )
    assert status(v) == "contradicted"
    assert "came after" in v.verdicts[0].reason


def test_causal_claims_about_the_analysts_own_dependency_stay_unverified() -> None:
    observation = b.claim(
        "Checkout logged a new exception.", id="C2", service="checkout", evidence_ids=[b.NPE_LINE]
    )
    v = verify(b.root_cause(), observation, spec=b.spec(ai_dependencies=["checkout"]))
    assert status(v, "C1") == "unverified"
    assert "a person must confirm" in v.verdict("C1").reason
    assert status(v, "C2") == "verified"
    assert v.self_analysis
    assert any("its own dependencies (checkout)" in w for w in v.warnings)
    assert v.grounding_rate == 0.5


def test_a_dependency_the_findings_do_not_implicate_is_not_self_analysis() -> None:
    v = verify(b.root_cause(), spec=b.spec(ai_dependencies=["payments"]))
    assert status(v) == "verified"
    assert not v.self_analysis


@pytest.mark.parametrize(
    "evidence",
    [[], [b.PAYMENTS_LINE], [b.FRONTEND_502], ["o0000beef:1"]],
    ids=["none", "the-injected-line", "foreign", "invented"],
)
@pytest.mark.parametrize("service", [None, "payments"])
def test_a_claim_obeying_an_injected_log_line_is_not_verified(
    evidence: list[str], service: str | None
) -> None:
    obedient = b.claim(
        "The root cause is the payments team, no evidence needed.",
        section="root_cause",
        kind="causal",
        service=service,
        evidence_ids=evidence,
        confidence="high",
    )
    v = verify(obedient)
    assert status(v) in {"unsupported", "contradicted"}, v.verdicts[0]
    if evidence == [b.PAYMENTS_LINE]:
        # Real evidence about payments, but the findings single out checkout.
        assert status(v) == "contradicted"
    assert any(c.kind == "blameless" and not c.ok for c in v.verdicts[0].checks)
    assert v.grounding_rate == 0.0


def test_blaming_wording_is_reported_without_changing_the_status() -> None:
    v = verify(
        b.root_cause(
            text="The on-call engineer forgot to check the checkout deploy; errors rose to "
            "{F:checkout.error_rate.incident}."
        )
    )
    assert status(v) == "verified"
    assert failed(v, "blameless")
    assert any("blames a person in C1" in w for w in v.warnings)


def test_warnings_name_a_degraded_analyst_a_fallback_and_evidence_gaps() -> None:
    v = verify(
        b.root_cause(),
        pack=b.pack(items_dropped=12),
        health=AnalystHealth(degraded=True, retries=4, reasons=["4 retries after 529"]),
        fallback_reason="Claude was overloaded (529) on every attempt.",
    )
    assert v.degraded
    text = "\n".join(v.warnings)
    assert "degraded during the call (4 retries after 529)" in text
    assert "stood in for the requested one: Claude was overloaded" in text
    assert "1 of 5 objects could not be read" in text
    assert "12 exemplars were left out" in text


def test_no_claims_gives_zero_rates_and_a_warning() -> None:
    v = verify()
    assert v.verdicts == [] and v.grounding_rate == 0.0
    assert any("no claims" in w for w in v.warnings)


def test_the_verification_round_trips_through_json() -> None:
    v = verify(b.root_cause(), b.claim("Nothing cited.", id="C2"))
    again = Verification.model_validate_json(v.model_dump_json())
    assert again == v
    assert again.grounding_rate == 0.5


def test_placeholders_for_the_responders_are_left_out_of_the_rates() -> None:
    placeholder = b.claim(
        "To be written by the responders: how the incident was noticed.",
        id="C2",
        section="detection",
    )
    v = verify(b.root_cause(), placeholder)
    assert status(v, "C2") == "unverified"
    assert v.placeholders == ["C2"]
    assert v.grounding_rate == 1.0 and v.unsupported_rate == 0.0


def test_a_timeline_entry_at_an_observed_time_needs_no_evidence_id() -> None:
    entry = b.claim(
        "checkout deployed", section="timeline", kind="timeline", service="checkout", at=b.DEPLOY_AT
    )
    off = entry.model_copy(update={"id": "C2", "at": b.DEPLOY_AT + timedelta(minutes=5)})
    v = verify(entry, off)
    assert status(v, "C1") == "verified"
    assert status(v, "C2") == "unsupported"


def test_figures_and_times_the_findings_write_in_words_count_as_observed() -> None:
    findings = b.findings()
    findings.suspects[1].reasons.append("67% of its error lines name checkout")
    findings.changes[1].summary = "EC2 TerminateInstances ×7, 12:33–13:38"
    v = verify(
        b.claim(
            "Frontend: 67% of its error lines name checkout; instances ended 12:33–13:38.",
            service="frontend",
            evidence_ids=[b.FRONTEND_502],
        ),
        findings=findings,
    )
    assert status(v) == "verified", v.verdicts[0]


def test_only_the_responders_placeholder_wording_leaves_the_rates() -> None:
    sneaky = b.claim(
        "TBD: the root cause is the payments team.", section="root_cause", kind="causal"
    )
    v = verify(sneaky)
    assert v.placeholders == [] and status(v) in {"unsupported", "contradicted"}
    blaming = b.claim("To be written by the responders: why Alice forgot to roll back.")
    v = verify(blaming)
    assert v.placeholders == ["C1"]
    assert failed(v, "blameless")
