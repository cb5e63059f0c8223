"""What changed between two analyses of one incident: for `postmortem draft --reanalyze`.

A re-run after the model recovers (or with another model or prompt) should say plainly what it
changed, so a reviewer does not have to diff two drafts by eye. Statements are matched by their
section and text; a statement whose text changed shows as one removed and one added.
"""

from __future__ import annotations

from tasks.contracts import Analysis, Claim, Verification


def _key(claim: Claim) -> tuple[str, str]:
    return claim.section, " ".join(claim.text.split())


def _statuses(analysis: Analysis, verification: Verification | None) -> dict[tuple[str, str], str]:
    out = {}
    for claim in analysis.claims:
        verdict = verification.verdict(claim.id) if verification else None
        out[_key(claim)] = verdict.status if verdict else "not checked"
    return out


def _root_causes(analysis: Analysis) -> list[str]:
    return sorted({c.service for c in analysis.claims if c.section == "root_cause" and c.service})


def _who(analysis: Analysis) -> str:
    return analysis.analyst + (f" ({analysis.model})" if analysis.model else "")


def compare_analyses(
    before: Analysis,
    before_verification: Verification | None,
    after: Analysis,
    after_verification: Verification | None,
) -> list[str]:
    """One sentence per difference a reviewer cares about; empty when nothing changed."""
    changes: list[str] = []
    if _who(before) != _who(after):
        changes.append(f"Analyst: {_who(before)} → {_who(after)}.")
    if before_verification and after_verification:
        b, a = before_verification.grounding_rate, after_verification.grounding_rate
        if round(b, 4) != round(a, 4):
            changes.append(f"Verified statements: {b:.0%} → {a:.0%}.")
    if _root_causes(before) != _root_causes(after):
        was = ", ".join(_root_causes(before)) or "none"
        now = ", ".join(_root_causes(after)) or "none"
        changes.append(f"Root-cause service named: {was} → {now}.")
    if before.health.degraded != after.health.degraded:
        changes.append(
            "The analyst is no longer degraded."
            if before.health.degraded
            else "The analyst was degraded this time: " + "; ".join(after.health.reasons) + "."
        )
    old, new = _statuses(before, before_verification), _statuses(after, after_verification)
    added = [k for k in new if k not in old]
    removed = [k for k in old if k not in new]
    moved = [k for k in new if k in old and new[k] != old[k]]
    if added:
        changes.append(f"{len(added)} new statement(s), e.g. [{added[0][0]}] {added[0][1][:160]}")
    if removed:
        changes.append(
            f"{len(removed)} statement(s) dropped, e.g. [{removed[0][0]}] {removed[0][1][:160]}"
        )
    for key in moved[:5]:
        changes.append(f"[{key[0]}] {key[1][:120]}: {old[key]} → {new[key]}.")
    return changes
