"""The offline analyst: a deterministic draft built from the findings and the pack's facts alone.

It never writes a figure: it cites fact IDs (`{F:...}`) and evidence IDs, so each claim can be
checked like an AI claim. What only the responders know (how the incident was noticed, what
they did, what went well) it leaves as "To be written by the responders: …" claims.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasks.contracts import (
    ActionType,
    Analysis,
    ChangeEvent,
    Claim,
    ClaimKind,
    ClaimSection,
    Confidence,
    EvidencePack,
    Fact,
    Findings,
    IncidentSpec,
    Onset,
    Priority,
    Suspect,
)
from tasks.evidence import change_fact_id

RESPONDERS = "To be written by the responders:"
# A change this long before the first deviation is still a candidate trigger: deploys roll out
# over minutes, and config caches expire later still.
TRIGGER_LOOKBACK = timedelta(hours=2)
MAX_EVIDENCE = 3
MAX_IMPACT_SERVICES = 5
MAX_PATTERNS = 3
MAX_TIMELINE = 30

_CHANGE_ACTIONS: dict[str, str] = {
    "deploy": "Gate deploys of {svc} behind a canary that watches its error rate, with automatic rollback.",
    "config": "Validate configuration changes to {svc} before rollout and roll them out in stages.",
    "iam": "Review IAM changes that affect {svc} before they apply, and test them against its calls.",
    "network": "Stage network changes that affect {svc} and watch its errors while they roll out.",
    "database": "Rehearse database changes that affect {svc} against a copy of production first.",
    "scaling": "Review the scaling limits of {svc} and alert before they are reached.",
}


_CHANGE_NAMES: dict[str, str] = {
    "deploy": "deploy",
    "config": "configuration change",
    "iam": "IAM change",
    "network": "network change",
    "database": "database change",
    "scaling": "scaling event",
    "restart": "restart",
    "version": "version change",
}


def _change_name(change: ChangeEvent) -> str:
    return _CHANGE_NAMES.get(change.kind, "change")


class OfflineAnalyst:
    """No model, no network: the same evidence always gives the same draft."""

    name = "offline"

    def analyze(self, pack: EvidencePack, findings: Findings, spec: IncidentSpec) -> Analysis:
        claims = _Draft(pack, findings).claims()
        return Analysis(
            incident_id=spec.id,
            analyst="offline",
            model=None,
            title=spec.title,
            claims=claims,
            created_at=datetime.now(UTC),
        )


class _Draft:
    def __init__(self, pack: EvidencePack, findings: Findings) -> None:
        self.pack = pack
        self.f = findings
        self.out: list[Claim] = []
        self.top: Suspect | None = min(findings.suspects, key=lambda s: s.rank, default=None)
        self.first_onset: Onset | None = min(findings.onsets, key=lambda o: o.at, default=None)
        self.trigger: tuple[int, ChangeEvent] | None = self._trigger()

    # -- helpers ---------------------------------------------------------------------------

    def add(
        self,
        section: ClaimSection,
        kind: ClaimKind,
        text: str,
        *,
        facts: list[Fact] | None = None,
        evidence: list[str] | None = None,
        service: str | None = None,
        pattern_id: str | None = None,
        change_index: int | None = None,
        confidence: Confidence | None = None,
        at: datetime | None = None,
        action: tuple[ActionType, Priority] | None = None,
    ) -> None:
        self.out.append(
            Claim(
                id=f"C{len(self.out) + 1}",
                section=section,
                kind=kind,
                text=text,
                service=service,
                pattern_id=pattern_id,
                change_index=change_index,
                fact_ids=[f.id for f in facts or []],
                evidence_ids=list(dict.fromkeys(evidence or []))[:MAX_EVIDENCE],
                confidence=confidence,
                at=at,
                action_type=action[0] if action else None,
                priority=action[1] if action else None,
            )
        )

    def fact(self, subject: str, metric: str) -> Fact | None:
        """The pack's fact about `subject` (a service or pattern ID), if the pack kept it."""
        return next(
            (f for f in self.pack.facts if f.subject == subject and f.metric == metric), None
        )

    def evidence(self, service: str | None) -> list[str]:
        """Evidence IDs about one service, strongest first: suspect, onset, then patterns."""
        ids: list[str] = []
        for suspect in self.f.suspects:
            if suspect.service == service:
                ids += suspect.evidence_ids
        for onset in self.f.onsets:
            if onset.service == service:
                ids += onset.evidence_ids
        for pattern in self.f.patterns:
            if service in pattern.services and (pattern.is_new or pattern.is_spike):
                ids += pattern.exemplars
        ids += [i.evidence_id for i in self.pack.items if i.service == service]
        return list(dict.fromkeys(ids))[:MAX_EVIDENCE]

    def onset_of(self, service: str | None) -> Onset | None:
        return next((o for o in self.f.onsets if o.service == service), None)

    def _trigger(self) -> tuple[int, ChangeEvent] | None:
        """The last change before the first deviation, preferring one on the top suspect."""
        if not self.f.changes:
            return None
        reference = self.onset_of(self.top.service) if self.top else None
        reference = reference or self.first_onset
        if reference is None:
            return None
        candidates = [
            (i, c)
            for i, c in enumerate(self.f.changes)
            if reference.at - TRIGGER_LOOKBACK <= c.at <= reference.at
        ]
        if not candidates:
            return None
        on_suspect = [(i, c) for i, c in candidates if self.top and c.service == self.top.service]
        return max(on_suspect or candidates, key=lambda ic: ic[1].at)

    # -- sections --------------------------------------------------------------------------

    def claims(self) -> list[Claim]:
        self.summary()
        self.impact()
        self.root_cause()
        self.trigger_claim()
        self.contributing()
        self.detection()
        self.add("resolution", "observation", f"{RESPONDERS} what ended the incident, and when.")
        self.timeline()
        self.add("went_well", "observation", f"{RESPONDERS} what helped the response.")
        self.add("went_poorly", "observation", f"{RESPONDERS} what slowed the response down.")
        self.add("lucky", "observation", f"{RESPONDERS} where the outcome could have been worse.")
        self.action_items()
        self.lessons()
        return self.out

    def summary(self) -> None:
        if not self.f.has_data:
            self.add(
                "summary",
                "observation",
                "No log lines were read inside the incident window, so the findings cannot "
                "describe the incident; see the warnings in the findings.",
            )
            return
        if self.top is None:
            self.add(
                "summary",
                "observation",
                "The baseline comparison found no service that deviated clearly from its "
                "normal behaviour during the incident window.",
            )
            return
        svc = self.top.service
        rate = self.fact(svc, "error_rate.incident")
        base = self.fact(svc, "error_rate.baseline")
        text = f"{svc} deviated most from its baseline during the incident window"
        text += (
            f": its error rate was {{{rate.id}}} against {{{base.id}}} normally."
            if rate and base
            else "."
        )
        if self.trigger:
            _, change = self.trigger
            text += f" A {_change_name(change)} preceded the first deviation."
        self.add(
            "summary",
            "observation",
            text,
            facts=[f for f in (rate, base) if f],
            evidence=self.evidence(svc),
            service=svc,
        )

    def impact(self) -> None:
        affected = [
            s
            for s in self.f.services
            if s.significant and (s.error_rate.delta or 0) > 0 and s.errors_incident > 0
        ]
        affected.sort(key=lambda s: -(s.error_rate.delta or 0))
        for stats in affected[:MAX_IMPACT_SERVICES]:
            svc = stats.service
            rate = self.fact(svc, "error_rate.incident")
            base = self.fact(svc, "error_rate.baseline")
            errors = self.fact(svc, "errors.incident")
            p95 = self.fact(svc, "p95_ms.incident")
            parts = [f"{svc} returned more errors than normal"]
            if rate and base:
                parts = [f"The error rate of {svc} rose to {{{rate.id}}} from {{{base.id}}}"]
            if errors:
                parts.append(f"{{{errors.id}}} errors in the window")
            if p95:
                parts.append(f"p95 latency {{{p95.id}}}")
            self.add(
                "impact",
                "observation",
                ", ".join(parts) + ".",
                facts=[f for f in (rate, base, errors, p95) if f],
                evidence=self.evidence(svc),
                service=svc,
            )
        self.add(
            "impact",
            "observation",
            f"{RESPONDERS} the effect on customers (failed requests, orders, users affected), "
            "which the logs alone do not show.",
        )

    def root_cause(self) -> None:
        if self.top is None:
            self.add(
                "root_cause",
                "causal",
                f"{RESPONDERS} the root cause; the findings rank no suspect.",
                confidence="low",
            )
            return
        svc = self.top.service
        runner_up = next((s for s in self.f.suspects if s.rank == self.top.rank + 1), None)
        # Statistics rank correlation, not cause: never more than medium, and medium only when
        # the top suspect clearly stands out from the next one.
        clear = runner_up is None or self.top.score >= 1.5 * max(runner_up.score, 1e-9)
        reasons = "; ".join(self.top.reasons) if self.top.reasons else "it deviated first and most"
        score = self.fact(svc, "suspect_score")
        self.add(
            "root_cause",
            "causal",
            f"The evidence points to {svc} as where the incident began: {reasons}.",
            facts=[score] if score else [],
            evidence=self.top.evidence_ids or self.evidence(svc),
            service=svc,
            confidence="medium" if clear else "low",
        )
        self.add(
            "root_cause",
            "causal",
            f"{RESPONDERS} the underlying cause inside {svc}, confirmed or corrected.",
            service=svc,
            confidence="low",
        )

    def trigger_claim(self) -> None:
        if self.trigger is None:
            return
        index, change = self.trigger
        onset = self.onset_of(change.service) or self.first_onset
        # By ID: a change's time shares its subject and metric with the timeline's times.
        when = self.pack.fact(change_fact_id(index))
        onset_fact = self.fact(onset.service, "onset") if onset else None
        text = f"A {_change_name(change)}"
        text += f" of {change.service}" if change.service else ""
        text += f" ({change.summary})" if change.summary else ""
        text += f" at {{{when.id}}}" if when else ""
        text += " preceded the first deviation"
        text += f" at {{{onset_fact.id}}}." if onset_fact else "."
        self.add(
            "trigger",
            "causal",
            text,
            facts=[f for f in (when, onset_fact) if f],
            evidence=change.evidence_ids + (onset.evidence_ids if onset else []),
            service=change.service,
            change_index=index,
            confidence="medium" if change.service == (self.top and self.top.service) else "low",
        )

    def contributing(self) -> None:
        for suspect in sorted(self.f.suspects, key=lambda s: s.rank)[1:3]:
            reasons = "; ".join(suspect.reasons) if suspect.reasons else "it deviated too"
            self.add(
                "contributing_factor",
                "causal",
                f"{suspect.service} also deviated from its baseline: {reasons}.",
                evidence=suspect.evidence_ids or self.evidence(suspect.service),
                service=suspect.service,
                confidence="low",
            )
        notable = [p for p in self.f.patterns if p.is_new or p.is_spike]
        notable.sort(key=lambda p: (not p.is_new, p.first_seen or datetime.max.replace(tzinfo=UTC)))
        for pattern in notable[:MAX_PATTERNS]:
            where = ", ".join(pattern.services) or "the logs"
            what = "a log pattern absent from the baseline" if pattern.is_new else "a log pattern"
            what += " appeared" if pattern.is_new else " became much more frequent"
            count = self.fact(pattern.pattern_id, "incident_count")
            self.add(
                "contributing_factor",
                "observation",
                f"In {where}, {what} ({pattern.pattern_id})"
                + (f": {{{count.id}}} lines in the window." if count else "."),
                facts=[count] if count else [],
                evidence=pattern.exemplars,
                service=pattern.services[0] if len(pattern.services) == 1 else None,
                pattern_id=pattern.pattern_id,
            )

    def detection(self) -> None:
        onset = self.first_onset
        if onset is not None:
            at = self.fact(onset.service, "onset")
            self.add(
                "detection",
                "observation",
                f"The first deviation in the logs was in {onset.signal} on {onset.service}"
                + (f", from {{{at.id}}}." if at else "."),
                facts=[at] if at else [],
                evidence=onset.evidence_ids,
                service=onset.service,
                at=onset.at,
            )
        self.add(
            "detection",
            "observation",
            f"{RESPONDERS} how the incident was noticed (an alert, a customer, a person) and how "
            "long after the first deviation.",
        )

    def timeline(self) -> None:
        for entry in sorted(self.f.timeline, key=lambda e: e.at)[:MAX_TIMELINE]:
            self.add(
                "timeline",
                "timeline",
                entry.text,
                evidence=entry.evidence_ids,
                service=entry.service,
                at=entry.at,
            )

    def action_items(self) -> None:
        if self.trigger is not None:
            index, change = self.trigger
            template = _CHANGE_ACTIONS.get(change.kind)
            if template and change.service:
                self.add(
                    "action_item",
                    "recommendation",
                    template.format(svc=change.service),
                    evidence=change.evidence_ids,
                    service=change.service,
                    change_index=index,
                    action=("prevent", "P1"),
                )
        if self.top is not None:
            svc = self.top.service
            rate = self.fact(svc, "error_rate.incident")
            self.add(
                "action_item",
                "recommendation",
                f"Alert on the error rate of {svc} against its own baseline, so that a deviation like "
                "this one pages the owning team.",
                facts=[rate] if rate else [],
                evidence=self.evidence(svc),
                service=svc,
                action=("detect", "P2"),
            )
        for pattern in [p for p in self.f.patterns if p.is_new][:1]:
            self.add(
                "action_item",
                "recommendation",
                f"Add a log-based alert for the new pattern {pattern.pattern_id}.",
                evidence=pattern.exemplars,
                pattern_id=pattern.pattern_id,
                action=("detect", "P3"),
            )
        self.add(
            "action_item",
            "recommendation",
            f"{RESPONDERS} the mitigation that was applied, and whether it must be made permanent.",
            action=("mitigate", "P2"),
        )
        self.add(
            "action_item",
            "recommendation",
            "Review this draft with the responders and confirm or correct the root cause "
            "before it is published.",
            evidence=self.top.evidence_ids if self.top else [],
            service=self.top.service if self.top else None,
            action=("process", "P2"),
        )

    def lessons(self) -> None:
        if self.trigger is not None:
            index, change = self.trigger
            self.add(
                "lesson",
                "observation",
                "The change log placed a change just before the first deviation: recent changes "
                "are the first thing to check in an incident like this one.",
                evidence=change.evidence_ids,
                service=change.service,
                change_index=index,
            )
        self.add("lesson", "observation", f"{RESPONDERS} what the organisation should remember.")
