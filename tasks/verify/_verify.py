"""The verifier: every claim checked against the findings, the evidence pack and the manifest.

It is deterministic and reads no model output but the claims. A claim's status is the worst
its checks allow, in this order: contradicted (the findings say otherwise), unsupported (it
cites nothing, or what it cites does not exist or is about something else), unverified (a
causal claim about a service the analyst itself depends on: a person decides), verified.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tasks.contracts import (
    Analysis,
    Check,
    Claim,
    ClaimVerdict,
    EvidenceManifest,
    EvidencePack,
    Findings,
    IncidentSpec,
    ObjectStatus,
    Verification,
)
from tasks.settings import Settings
from tasks.verify._numbers import (
    NumberPool,
    datetime_matches,
    fact_refs,
    findings_numbers,
    literal_numbers,
    number_matches,
    observed_times,
    time_matches,
    written_times,
)
from tasks.verify.blameless import find_blame

# Records one check: (kind, ok, detail, the status a failure implies or None).
CheckFn = Callable[..., None]

# The top suspect "leads clearly" when its score beats the runner-up's by this much (absolute,
# on the suspect score's 0-1 scale) and by this share of its own score. Below that, naming the
# runner-up as the root cause is a judgement a reviewer makes, not a contradiction.
CLEAR_LEAD_MARGIN = 0.1
CLEAR_LEAD_SHARE = 0.25
# A change blamed for an onset may be logged a little after it (clock skew, delivery).
ONSET_ORDER_SLACK = timedelta(minutes=1)

# Only the wording the analysts are told to use (the offline analyst's RESPONDERS, the prompt's
# instruction): a looser match ("TBD: ...") would let any claim slip out of the rates.
_PLACEHOLDER = re.compile(r"^\s*To be (?:written|confirmed) by the responders\b")
_CAUSAL_SECTIONS = {"root_cause", "trigger", "contributing_factor"}
# Which fact units a written literal could be a reading of.
_UNIT_FAMILY = {
    "%": {"ratio"},
    "x": {"ratio", "score"},
    "ms": {"ms"},
    "s": {"ms"},
    "min": {"ms"},
    "": {"count", "per_min", "score"},
}


@dataclass
class _Subject:
    """What one evidence ID is about, from the pack and the findings."""

    services: set[str] = field(default_factory=set)
    patterns: set[str] = field(default_factory=set)
    changes: set[int] = field(default_factory=set)


def verify_analysis(
    analysis: Analysis,
    findings: Findings,
    pack: EvidencePack,
    manifest: EvidenceManifest,
    spec: IncidentSpec,
    settings: Settings,
) -> Verification:
    """Check every claim of `analysis`; the result says why for each, and the rates overall.

    `settings` is taken for symmetry with the other stages; the verifier's thresholds are
    constants of this module, stated with their reasons, so that a verification can be
    compared across runs.
    """
    del settings  # nothing tunable yet: see the constants above
    ctx = _Context.build(analysis, findings, pack, manifest, spec)
    verdicts = [_verify_claim(claim, ctx) for claim in analysis.claims]
    placeholders = [c.id for c in analysis.claims if is_placeholder(c)]
    counted = [v for v in verdicts if v.claim_id not in placeholders]
    n = len(counted)

    def rate(status: str) -> float:
        return round(sum(v.status == status for v in counted) / n, 4) if n else 0.0

    return Verification(
        incident_id=analysis.incident_id,
        verdicts=verdicts,
        grounding_rate=rate("verified"),
        unsupported_rate=rate("unsupported"),
        contradicted_rate=rate("contradicted"),
        degraded=analysis.health.degraded,
        self_analysis=bool(ctx.self_services),
        warnings=_warnings(analysis, manifest, ctx, verdicts, placeholders),
        placeholders=placeholders,
    )


def is_placeholder(claim: Claim) -> bool:
    """A claim that asserts nothing: it asks the responders to write a section."""
    return (
        not claim.evidence_ids
        and not claim.fact_ids
        and not fact_refs(claim.text)
        and bool(_PLACEHOLDER.match(claim.text))
    )


@dataclass
class _Context:
    findings: Findings
    pack: EvidencePack
    services: dict[str, str]  # lower-case -> as the findings spell it
    evidence: dict[str, _Subject]
    objects: dict[str, ObjectStatus]
    observed: set[datetime]
    numbers: NumberPool
    self_services: set[str]

    @classmethod
    def build(
        cls,
        analysis: Analysis,
        findings: Findings,
        pack: EvidencePack,
        manifest: EvidenceManifest,
        spec: IncidentSpec,
    ) -> _Context:
        names = {s.service for s in findings.services} | set(pack.services)
        names |= {s.service for s in findings.suspects} | {o.service for o in findings.onsets}
        services = {n.lower(): n for n in names if n}
        implicated = {s.service for s in findings.suspects} | {o.service for o in findings.onsets}
        implicated |= {s.service for s in findings.services if s.significant}
        deps = {d.lower() for d in spec.ai_dependencies}
        self_services = {s for s in implicated if s.lower() in deps}
        self_services |= set(analysis.self_analysis_services)
        observed = observed_times(findings, pack)
        return cls(
            findings=findings,
            pack=pack,
            services=services,
            evidence=_evidence_index(findings, pack),
            objects={o.object_id: o.status for o in manifest.objects},
            observed=observed,
            numbers=findings_numbers(findings, pack, observed),
            self_services=self_services,
        )

    def named_services(self, claim: Claim) -> list[str]:
        """The services a claim is about: its `service` field, else those its text names."""
        if claim.service:
            return [self.services.get(claim.service.lower(), claim.service)]
        text = claim.text.lower()
        return [
            name
            for low, name in sorted(self.services.items())
            if re.search(rf"(?<![\w-]){re.escape(low)}(?![\w-])", text)
        ]


def _evidence_index(findings: Findings, pack: EvidencePack) -> dict[str, _Subject]:
    index: dict[str, _Subject] = {}

    def add(eid: str, service=None, pattern=None, change=None) -> None:
        subject = index.setdefault(eid, _Subject())
        if service:
            subject.services.add(service.lower())
        if pattern:
            subject.patterns.add(pattern)
        if change is not None:
            subject.changes.add(change)

    patterns = {p.pattern_id: p for p in findings.patterns}
    for item in pack.items:
        add(item.evidence_id, item.service, item.pattern_id, item.change_index)
        if item.pattern_id in patterns:
            for svc in patterns[item.pattern_id].services:
                add(item.evidence_id, svc)
    for p in findings.patterns:
        for eid in p.exemplars:
            add(eid, pattern=p.pattern_id)
            for svc in p.services:
                add(eid, svc)
    for s in findings.suspects:
        for eid in s.evidence_ids:
            add(eid, s.service)
    for o in findings.onsets:
        for eid in o.evidence_ids:
            add(eid, o.service)
    for i, c in enumerate(findings.changes):
        for eid in c.evidence_ids:
            add(eid, c.service, change=i)
    for t in findings.timeline:
        for eid in t.evidence_ids:
            add(eid, t.service)
    return index


def _verify_claim(claim: Claim, ctx: _Context) -> ClaimVerdict:
    checks: list[Check] = []
    # Each entry: (status the failed check implies, the reviewer's sentence).
    faults: list[tuple[str, str]] = []

    def check(kind: str, ok: bool, detail: str, status_if_failed: str | None = None) -> None:
        checks.append(Check(kind=kind, ok=ok, detail=detail))
        if not ok and status_if_failed:
            faults.append((status_if_failed, detail))

    blame = find_blame(claim.text, services=ctx.services.values())
    if is_placeholder(claim):
        return ClaimVerdict(
            claim_id=claim.id,
            status="unverified",
            reason="A placeholder for the responders to write: nothing to verify.",
            checks=[_blame_check(blame)] if blame else [],
        )
    facts = list(dict.fromkeys([*claim.fact_ids, *fact_refs(claim.text)]))
    # A timeline entry at an observed time is grounded by the findings' own timeline.
    on_timeline = claim.at is not None and datetime_matches(claim.at, ctx.observed)
    if not claim.evidence_ids and not facts and not on_timeline:
        check("evidence_exists", False, "It cites no evidence and no fact.", "unsupported")

    _check_evidence(claim, ctx, check)
    cited_facts = _check_facts(facts, ctx, check)
    _check_numbers(claim, cited_facts, ctx, check)
    _check_times(claim, cited_facts, ctx, check)
    if claim.kind == "causal" or claim.section in _CAUSAL_SECTIONS:
        _check_top_suspect(claim, ctx, check)
        _check_onset_order(claim, ctx, check)
        about_self = sorted(set(ctx.named_services(claim)) & ctx.self_services)
        if about_self:
            check(
                "self_analysis",
                False,
                f"A causal claim about {', '.join(about_self)}, which the analyst itself depends "
                "on; a person must confirm it.",
                "unverified",
            )
    if blame:
        # Wording, not truth: reported beside the claim, without changing its status.
        checks.append(_blame_check(blame))

    for status in ("contradicted", "unsupported", "unverified"):
        reasons = [detail for s, detail in faults if s == status]
        if reasons:
            return ClaimVerdict(claim_id=claim.id, status=status, reason=reasons[0], checks=checks)
    return ClaimVerdict(
        claim_id=claim.id,
        status="verified",
        reason="Its evidence exists and is about what it says; its figures match the findings.",
        checks=checks,
    )


def _blame_check(blame: list) -> Check:
    first = blame[0]
    return Check(
        kind="blameless", ok=False, detail=f"Blames a person ('{first.phrase}'): {first.suggestion}"
    )


def _check_evidence(claim: Claim, ctx: _Context, check: CheckFn) -> None:
    known: list[str] = []
    for eid in claim.evidence_ids:
        obj = eid.rsplit(":", 1)[0]
        if eid not in ctx.evidence:
            check(
                "evidence_exists",
                False,
                f"Evidence {eid} is not in the evidence pack or the findings.",
                "unsupported",
            )
        elif (state := ctx.objects.get(obj)) is not ObjectStatus.READ:
            why = f"was {state.value}" if state else "is not in the manifest"
            check(
                "evidence_exists",
                False,
                f"Evidence {eid} names object {obj}, which {why}.",
                "unsupported",
            )
        else:
            check("evidence_exists", True, f"Evidence {eid} exists.")
            known.append(eid)
    if not known:
        return
    subjects = [ctx.evidence[e] for e in known]
    wanted: list[tuple[str, bool]] = []
    if claim.service:
        svc = claim.service.lower()
        if svc not in ctx.services:
            check(
                "evidence_matches",
                False,
                f"Service {claim.service} is not among the services in the findings.",
                "unsupported",
            )
        wanted.append((f"service {claim.service}", any(svc in s.services for s in subjects)))
    if claim.pattern_id:
        wanted.append(
            (f"pattern {claim.pattern_id}", any(claim.pattern_id in s.patterns for s in subjects))
        )
    if claim.change_index is not None:
        if not 0 <= claim.change_index < len(ctx.findings.changes):
            check(
                "evidence_matches",
                False,
                f"Change {claim.change_index} does not exist in the findings "
                f"({len(ctx.findings.changes)} changes).",
                "unsupported",
            )
        wanted.append(
            (f"change {claim.change_index}", any(claim.change_index in s.changes for s in subjects))
        )
    for what, ok in wanted:
        if ok:
            check("evidence_matches", True, f"Some cited evidence is about {what}.")
        else:
            check(
                "evidence_matches",
                False,
                f"None of its evidence ({', '.join(known)}) is about {what}.",
                "unsupported",
            )


def _check_facts(facts: list[str], ctx: _Context, check: CheckFn) -> list:
    cited = []
    for fid in facts:
        fact = ctx.pack.fact(fid)
        if fact is None:
            check("fact_exists", False, f"Fact {fid} is not in the evidence pack.", "unsupported")
        else:
            check("fact_exists", True, f"Fact {fid} exists ({fact.display}).")
            cited.append(fact)
    return cited


def _check_numbers(claim: Claim, cited_facts: list, ctx: _Context, check: CheckFn) -> None:
    for literal in literal_numbers(claim.text):
        if number_matches(literal, ctx.numbers):
            check("literal_number", True, f"'{literal.text}' matches a figure in the findings.")
            continue
        related = [f for f in cited_facts if f.unit in _UNIT_FAMILY.get(literal.unit, set())]
        if related:
            check(
                "literal_number",
                False,
                f"'{literal.text}' disagrees with the fact it cites, {related[0].id} = "
                f"{related[0].display}.",
                "contradicted",
            )
        else:
            check(
                "literal_number",
                False,
                f"'{literal.text}' matches no figure in the findings.",
                "unsupported",
            )


def _check_times(claim: Claim, cited_facts: list, ctx: _Context, check: CheckFn) -> None:
    time_facts = [f for f in cited_facts if f.unit == "time" and f.at is not None]
    if claim.at is not None:
        if datetime_matches(claim.at, ctx.observed):
            check("timeline_time", True, f"{claim.at:%H:%M:%S}Z is an observed time.")
        else:
            _time_fault(f"{claim.at:%H:%M:%S}Z", time_facts, check)
    for written in written_times(claim.text):
        if time_matches(written, ctx.observed):
            check(
                "timeline_time", True, f"'{written.text}' is within a minute of an observed time."
            )
        else:
            _time_fault(f"'{written.text}'", time_facts, check)


def _time_fault(what: str, time_facts: list, check: CheckFn) -> None:
    if time_facts:
        fact = time_facts[0]
        check(
            "timeline_time",
            False,
            f"{what} is not within a minute of {fact.id} = {fact.display}, nor of any observed time.",
            "contradicted",
        )
    else:
        check(
            "timeline_time",
            False,
            f"{what} is not within a minute of any time in the findings.",
            "unsupported",
        )


def _check_top_suspect(claim: Claim, ctx: _Context, check: CheckFn) -> None:
    if claim.section != "root_cause":
        return
    named = ctx.named_services(claim)
    suspects = sorted(ctx.findings.suspects, key=lambda s: s.rank)
    if not suspects or len(named) != 1:
        return
    top = suspects[0]
    subject = named[0]
    if subject.lower() == top.service.lower():
        check("top_suspect", True, f"It names the findings' top suspect, {top.service}.")
        return
    runner_up = suspects[1].score if len(suspects) > 1 else 0.0
    lead = top.score - runner_up
    if lead >= CLEAR_LEAD_MARGIN and lead >= CLEAR_LEAD_SHARE * abs(top.score):
        check(
            "top_suspect",
            False,
            f"The findings' top suspect is {top.service} (score {top.score:.2f}, next "
            f"{runner_up:.2f}), not {subject}.",
            "contradicted",
        )
    else:
        check(
            "top_suspect",
            True,
            f"It names {subject}; the findings' top suspect {top.service} does not lead clearly.",
        )


def _check_onset_order(claim: Claim, ctx: _Context, check: CheckFn) -> None:
    if claim.change_index is None or not 0 <= claim.change_index < len(ctx.findings.changes):
        return
    change = ctx.findings.changes[claim.change_index]
    onsets = {o.service.lower(): o for o in ctx.findings.onsets}
    onset = None
    for svc in [*(s.lower() for s in ctx.named_services(claim)), (change.service or "").lower()]:
        if svc in onsets:
            onset = onsets[svc]
            break
    if onset is None and ctx.findings.onsets:
        onset = min(ctx.findings.onsets, key=lambda o: o.at)
    if onset is None:
        return
    if change.at > onset.at + ONSET_ORDER_SLACK:
        check(
            "onset_order",
            False,
            f"The change it blames ({change.summary}, {change.at:%H:%M:%S}Z) came after "
            f"{onset.service}'s onset at {onset.at:%H:%M:%S}Z.",
            "contradicted",
        )
    else:
        check(
            "onset_order",
            True,
            f"The change ({change.at:%H:%M:%S}Z) precedes {onset.service}'s onset "
            f"({onset.at:%H:%M:%S}Z).",
        )


def _warnings(
    analysis: Analysis,
    manifest: EvidenceManifest,
    ctx: _Context,
    verdicts: list[ClaimVerdict],
    placeholders: list[str],
) -> list[str]:
    warnings: list[str] = []
    if len(placeholders) == len(analysis.claims):
        warnings.append("The analysis made no claims: there is nothing to verify.")
    if analysis.fallback_reason:
        warnings.append(
            f"The offline analyst stood in for the requested one: {analysis.fallback_reason}"
        )
    if analysis.health.degraded:
        why = "; ".join(analysis.health.reasons) or "no reason recorded"
        warnings.append(
            f"The analyst was degraded during the call ({why}); read its claims with extra care."
        )
    if analysis.health.truncated:
        warnings.append(
            "The analyst's answer was cut off at the output limit; claims may be missing."
        )
    if ctx.self_services:
        warnings.append(
            "The AI analysed an incident in its own dependencies "
            f"({', '.join(sorted(ctx.self_services))}): its causal claims about them stay "
            "unverified until a person confirms them."
        )
    failed = [o for o in manifest.objects if o.status is ObjectStatus.FAILED]
    if failed:
        warnings.append(
            f"Evidence gap: {len(failed)} of {len(manifest.objects)} objects could not be read, "
            "so claims rest on partial logs."
        )
    for error in manifest.errors:
        warnings.append(f"Evidence gap: {error}")
    if ctx.pack.items_dropped:
        warnings.append(
            f"Evidence gap: {ctx.pack.items_dropped} exemplars were left out of the evidence "
            "pack to stay within its token budget."
        )
    if not ctx.findings.has_data:
        warnings.append("Evidence gap: no log lines fell inside the incident window.")
    blamed = [
        v.claim_id for v in verdicts if any(c.kind == "blameless" and not c.ok for c in v.checks)
    ]
    if blamed:
        warnings.append(
            f"Wording that blames a person in {', '.join(blamed)}: describe the system instead."
        )
    return warnings
