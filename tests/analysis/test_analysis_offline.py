"""The offline analyst: deterministic, built from the findings, and honest about what it cannot know."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import get_args

from tasks.analysis import OfflineAnalyst
from tasks.contracts import ChangeEvent, ClaimSection, Findings
from tests.analysis import fixtures as fx

RESPONDERS = "To be written by the responders:"


def draft(findings: Findings | None = None):
    findings = findings or fx.findings()
    return OfflineAnalyst().analyze(fx.pack(findings), findings, fx.spec())


def evidence_ids(findings: Findings) -> set[str]:
    ids = {e for s in findings.suspects for e in s.evidence_ids}
    ids |= {e for o in findings.onsets for e in o.evidence_ids}
    ids |= {e for c in findings.changes for e in c.evidence_ids}
    ids |= {e for p in findings.patterns for e in p.exemplars}
    ids |= {e for t in findings.timeline for e in t.evidence_ids}
    return ids


def test_same_findings_same_draft() -> None:
    first, second = draft(), draft()
    assert first.model_dump(exclude={"created_at"}) == second.model_dump(exclude={"created_at"})
    assert first.analyst == "offline" and first.model is None


def test_every_section_the_findings_support_is_filled() -> None:
    sections = {c.section for c in draft().claims}
    assert sections == set(get_args(ClaimSection))


def test_claims_cite_facts_and_evidence_that_exist_and_write_no_figures() -> None:
    findings = fx.findings()
    pack = fx.pack(findings)
    analysis = draft(findings)
    known_facts = {f.id for f in pack.facts}
    known_evidence = evidence_ids(findings)
    identifiers = {p.pattern_id for p in findings.patterns}
    for claim in analysis.claims:
        placeholders = re.findall(r"\{(F:[^}]+)\}", claim.text)
        assert set(placeholders) <= set(claim.fact_ids) <= known_facts, claim
        assert set(claim.evidence_ids) <= known_evidence, claim
        if not claim.text.startswith(RESPONDERS):
            assert claim.evidence_ids, f"{claim.id} cites no evidence: {claim.text}"
        prose = re.sub(r"\{F:[^}]+\}", "", claim.text)
        for ident in identifiers:
            prose = prose.replace(ident, "")
        assert not re.search(r"\d", prose), f"{claim.id} writes a figure: {claim.text}"


def test_root_cause_is_the_top_suspect_with_its_reasons_and_never_high_confidence() -> None:
    root = next(c for c in draft().claims if c.section == "root_cause")
    assert root.service == "checkout" and root.kind == "causal"
    assert "errors began here first" in root.text
    assert root.confidence == "medium"  # 0.91 against 0.22: it stands out, but it is correlation


def test_trigger_is_the_change_before_onset_and_a_later_change_is_not() -> None:
    findings = fx.findings()
    late = ChangeEvent(
        at=findings.onsets[0].at + timedelta(minutes=10),
        kind="config",
        service="checkout",
        summary="raised the pool size",
        source="app",
        evidence_ids=["occcc3333:9"],
    )
    findings.changes.append(late)
    trigger = next(c for c in draft(findings).claims if c.section == "trigger")
    assert trigger.change_index == 0
    assert "F:change.0.at" in trigger.fact_ids and "F:checkout.onset" in trigger.fact_ids


def test_timeline_follows_the_findings() -> None:
    findings = fx.findings()
    timeline = [c for c in draft(findings).claims if c.section == "timeline"]
    assert [(c.at, c.evidence_ids) for c in timeline] == [
        (t.at, t.evidence_ids) for t in findings.timeline
    ]


def test_says_where_a_person_must_write() -> None:
    claims = draft().claims
    for section in ("resolution", "went_well", "went_poorly", "lucky"):
        assert any(c.section == section and c.text.startswith(RESPONDERS) for c in claims)
    actions = [c for c in claims if c.section == "action_item"]
    assert {c.action_type for c in actions} == {"prevent", "detect", "mitigate", "process"}
    assert all(c.priority for c in actions)


def test_quiet_findings_give_a_short_honest_draft() -> None:
    findings = fx.findings().model_copy(
        update={"suspects": [], "onsets": [], "changes": [], "timeline": [], "patterns": []}
    )
    claims = draft(findings).claims
    assert not any(c.section == "trigger" for c in claims)
    root = next(c for c in claims if c.section == "root_cause")
    assert root.text.startswith(RESPONDERS)
    empty = findings.model_copy(update={"total_incident_lines": 0, "services": []})
    assert "No log lines were read" in draft(empty).claims[0].text
