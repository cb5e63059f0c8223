"""The evidence pack: facts and exemplar lines from the findings, redacted and token-budgeted."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.contracts import EvidenceManifest, Findings
from tasks.contracts.findings import PatternFinding
from tasks.contracts.pack import EvidencePack, Fact, PackItem, PackItemKind
from tasks.evidence._exemplars import RawLine, read_lines
from tasks.evidence._facts import (
    change_fact,
    incident_facts,
    onset_fact,
    pattern_facts,
    service_facts,
    suspect_fact,
    timeline_fact,
)
from tasks.evidence.redact import Redactor
from tasks.render import template_environment
from tasks.settings import Settings

TEMPLATE = "prompts/evidence.md.j2"

# A log line is shown up to this many characters: long enough for a stack trace's first frames,
# short enough that one giant line cannot take the budget.
MAX_LINE_CHARS = 600
# Redaction looks at this much of a line before it is shortened, so a secret is never cut in two
# by the shortening (the partial token at the cut is dropped too).
REDACT_WINDOW_CHARS = 4 * MAX_LINE_CHARS
MAX_TEXT_CHARS = 400  # reasons, summaries, templates
# Caps before budgeting: a reader gains little from the 41st pattern, and the caps keep the
# shrinking loop short on pathological findings.
MAX_SUSPECTS = 10
MAX_SERVICES = 40
MAX_PATTERNS = 40
MAX_CHANGES = 30
MAX_TIMELINE = 40
EXEMPLARS_PER_OBJECT = 3
# Share of the budget kept free for the fixed part's estimate error and the count's method.
HEADROOM = 0.05

_DELIMITER = re.compile(r"<(\s*/?\s*(?:log_data|evidence_pack)\b)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_SPLIT_TAIL = re.compile(r"[^\s,;|&]*$")


def estimate_tokens(text: str) -> int:
    """A deliberately high estimate: about 3 bytes per token, where English prose runs nearer
    4; log lines, IDs and numbers tokenise worse than prose."""
    return math.ceil(len(text.encode("utf-8", "replace")) / 3)


def neutralise(text: str) -> str:
    """Text safe inside a data block: one physical line, no block delimiters, valid UTF-8."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = text.replace("\r\n", "\n").replace("\n", " ⏎ ").replace("\t", " ")
    text = _CONTROL.sub("�", text)
    return _DELIMITER.sub(r"‹\1", text)


def _label(text: object) -> str:
    return neutralise(str(text))[:80]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _Candidate:
    evidence_id: str
    kind: PackItemKind
    ref: str
    service: str | None = None
    pattern_id: str | None = None
    change_index: int | None = None


@dataclass
class _Selection:
    suspects: int
    services: int
    patterns: int
    changes: int
    timeline: int
    items: int
    facts: list[Fact] = field(default_factory=list)


def _candidates(findings: Findings) -> list[_Candidate]:
    """Evidence IDs in the order they earn a place: first one of each suspect, onset, change
    and pattern, then the second of each, and so on."""
    groups: list[list[_Candidate]] = []
    for s in findings.suspects[:MAX_SUSPECTS]:
        groups.append(
            [_Candidate(e, "suspect", f"suspect {s.rank}", s.service) for e in s.evidence_ids]
        )
    for o in findings.onsets:
        groups.append([_Candidate(e, "onset", "onset", o.service) for e in o.evidence_ids])
    for i, c in enumerate(findings.changes[:MAX_CHANGES]):
        groups.append(
            [
                _Candidate(e, "change", f"change.{i}", c.service, change_index=i)
                for e in c.evidence_ids
            ]
        )
    for p in findings.patterns[:MAX_PATTERNS]:
        svc = p.services[0] if len(p.services) == 1 else None
        groups.append(
            [
                _Candidate(e, "pattern", f"pattern {p.pattern_id}", svc, pattern_id=p.pattern_id)
                for e in p.exemplars
            ]
        )
    ordered: list[_Candidate] = []
    seen: set[str] = set()
    for depth in range(EXEMPLARS_PER_OBJECT):
        for g in groups:
            if depth < len(g) and g[depth].evidence_id not in seen:
                seen.add(g[depth].evidence_id)
                ordered.append(g[depth])
    return ordered


def _line_text(raw: RawLine, redactor: Redactor) -> str:
    parts = []
    if raw.ts is not None:
        parts.append(f"{raw.ts:%H:%M:%S}Z")
    if raw.level:
        parts.append(raw.level)
    if raw.status is not None:
        parts.append(f"status={raw.status}")
    if raw.latency_ms is not None:
        parts.append(f"latency_ms={raw.latency_ms:g}")
    body = raw.message
    if raw.attrs:
        body = f"{body} {raw.attrs}"
    cut = len(body) > REDACT_WINDOW_CHARS
    body = body[:REDACT_WINDOW_CHARS]
    if cut:
        # The token at the cut may be the head of a secret that the detectors no longer
        # recognise: leave it out.
        body = body[: len(body) - len(_SPLIT_TAIL.search(body).group())]
    text = _shorten(neutralise(redactor.redact(" ".join([*parts, body]))), MAX_LINE_CHARS)
    return text + "…" if cut and not text.endswith("…") else text


def build_evidence_pack(
    findings: Findings,
    manifest: EvidenceManifest,
    parquet_path: Path,
    settings: Settings,
    *,
    count_tokens: Callable[[str], int] | None = None,
) -> EvidencePack:
    """The redacted, token-budgeted digest of the findings that the analyst reads.

    `count_tokens` counts a text's tokens exactly (the flow passes `sdk_token_counter`'s count
    when the first-party API is configured); without it, a deliberately high estimate is used.
    """
    redactor = Redactor(ips=settings.redact_ips, emails=settings.redact_emails)
    budget = settings.evidence_budget_tokens
    items, missing = _read_items(findings, manifest, parquet_path, budget, redactor)
    sections = _Sections(findings, redactor)
    render = _renderer(sections, items)

    def final(sel: _Selection) -> str:
        # A last pass over the whole text as sent: anything that reached it unredacted (a
        # service label, a figure's subject) is caught here. Counted below, once, for the
        # round whose text is sent.
        return redactor.redact(render(sel), count=False)

    sel, text, tokens = _fit_budget(
        render, final, sections, len(items), budget, count_tokens or estimate_tokens
    )
    redactor.add_counts(redactor.last_counts)
    kept = [item for _, item in items[: sel.items]]
    return EvidencePack(
        incident_id=findings.incident_id,
        facts=sel.facts,
        items=kept,
        services=[s.service for s in findings.services],
        text=text,
        budget_tokens=budget,
        token_count=tokens,
        token_method="count_tokens" if count_tokens else "estimate",
        items_dropped=len(items) - sel.items,
        items_missing=missing,
        redaction=redactor.report(),
    )


def _read_items(
    findings: Findings,
    manifest: EvidenceManifest,
    parquet_path: Path,
    budget: int,
    redactor: Redactor,
) -> tuple[list[tuple[_Candidate, PackItem]], int]:
    """The candidates' lines as pack items, in order, and how many lines could not be found."""
    candidates = _candidates(findings)
    # No budget fits more than one line per ~25 tokens, so no more are read.
    candidates = candidates[: max(1, budget // 25)]
    # A CloudTrail record's message is only its event name: its attributes say what changed.
    trail = {o.object_id for o in manifest.objects if o.format == "cloudtrail"}
    with_attrs = {
        c.evidence_id
        for c in candidates
        if c.kind == "change" and c.evidence_id.split(":", 1)[0] in trail
    }
    raw_lines = read_lines(
        parquet_path, manifest, [c.evidence_id for c in candidates], with_attrs=with_attrs
    )
    missing = sum(1 for c in candidates if c.evidence_id not in raw_lines)
    items: list[tuple[_Candidate, PackItem]] = []
    for c in candidates:
        raw = raw_lines.get(c.evidence_id)
        if raw is None:
            continue
        item = PackItem(
            evidence_id=c.evidence_id,
            kind=c.kind,
            service=c.service,
            pattern_id=c.pattern_id,
            change_index=c.change_index,
            text=_line_text(raw, redactor),
        )
        items.append((c, item))
    return items, missing


def _renderer(
    sections: _Sections, items: list[tuple[_Candidate, PackItem]]
) -> Callable[[_Selection], str]:
    """The pack's text for a selection, from the evidence template."""
    env = template_environment()
    env.filters["data"] = lambda v: neutralise(_shorten(str(v), MAX_TEXT_CHARS))
    env.filters["label"] = _label
    template = env.get_template(TEMPLATE)

    def render(sel: _Selection) -> str:
        ctx = sections.context(sel, items[: sel.items], len(items) - sel.items)
        return template.render(**ctx)

    return render


def _fit_budget(
    render: Callable[[_Selection], str],
    final: Callable[[_Selection], str],
    sections: _Sections,
    n_items: int,
    budget: int,
    measure: Callable[[str], int],
) -> tuple[_Selection, str, int]:
    """The selection whose final text measures within `budget`, with that text and its count."""
    target = int(budget * (1 - HEADROOM))
    sel = _fit(render, sections, n_items, target)
    text = final(sel)
    tokens = measure(text)
    # A count above the budget shrinks the target in proportion; a few rounds at most, because
    # each exact count is an API call.
    for _ in range(3):
        if tokens <= budget:
            break
        target = int(target * budget / tokens * (1 - HEADROOM))
        sel = _fit(render, sections, sel.items, target)
        text = final(sel)
        tokens = measure(text)
    return sel, text, tokens


def _fit(
    render: Callable[[_Selection], str], sections: _Sections, n_items: int, target: int
) -> _Selection:
    """The largest selection whose estimate fits `target`: the non-exemplar sections are halved
    until they leave room for exemplars, then exemplars are added by bisection."""
    sel = sections.full_selection()
    while estimate_tokens(render(sel)) > target * 0.6 and sections.shrink(sel):
        pass
    lo, hi = 0, n_items
    while lo < hi:
        mid = (lo + hi + 1) // 2
        sel.items = mid
        if estimate_tokens(render(sel)) <= target:
            lo = mid
        else:
            hi = mid - 1
    sel.items = lo
    sections.set_facts(sel)
    return sel


class _Sections:
    """The findings' sections, redacted once, from which a selection picks the leading rows."""

    def __init__(self, findings: Findings, redactor: Redactor) -> None:
        self.findings = findings
        red = redactor.redact
        self.incident_facts = incident_facts(findings)
        self.suspects = _suspect_rows(findings, red)
        self.services = _service_rows(findings)
        self.onsets = _onset_rows(findings, red)
        self.changes = _change_rows(findings, red)
        self.patterns = [_pattern_row(p, red) for p in findings.patterns[:MAX_PATTERNS]]
        self.timeline = _timeline_rows(findings, red)

    def full_selection(self) -> _Selection:
        """Every row of every section, and no exemplars yet."""
        return _Selection(
            suspects=len(self.suspects),
            services=len(self.services),
            patterns=len(self.patterns),
            changes=len(self.changes),
            timeline=len(self.timeline),
            items=0,
        )

    def shrink(self, sel: _Selection) -> bool:
        """Halve the least useful section that still has rows; False when nothing is left."""
        for name in ("timeline", "patterns", "changes", "services", "suspects"):
            n = getattr(sel, name)
            if n > 1:
                setattr(sel, name, n // 2)
                return True
        return False

    def set_facts(self, sel: _Selection) -> None:
        facts = list(self.incident_facts)
        for s in self.suspects[: sel.suspects]:
            facts.extend(s["facts"])
        for s in self.services[: sel.services]:
            facts.extend(s["facts"])
        shown = {s["service"] for s in self.services[: sel.services]}
        facts.extend(o["fact"] for o in self.onsets if o["service"] in shown or not shown)
        facts.extend(c["fact"] for c in self.changes[: sel.changes])
        for p in self.patterns[: sel.patterns]:
            facts.extend(p["facts"])
        facts.extend(t["fact"] for t in self.timeline[: sel.timeline])
        unique: dict[str, Fact] = {}
        for f in facts:
            unique.setdefault(f.id, f)
        sel.facts = list(unique.values())

    def context(
        self, sel: _Selection, items: list[tuple[_Candidate, PackItem]], dropped: int
    ) -> dict[str, Any]:
        shown = {s["service"] for s in self.services[: sel.services]}
        first = items[0][1].evidence_id if items else "o1a2b3c4d:17"
        return {
            "incident_id": self.findings.incident_id,
            "example_evidence": first,
            "incident_facts": self.incident_facts,
            "suspects": self.suspects[: sel.suspects],
            "services": self.services[: sel.services],
            "services_left_out": len(self.findings.services) - sel.services,
            "onsets": [o for o in self.onsets if o["service"] in shown or not shown],
            "changes": self.changes[: sel.changes],
            "changes_left_out": len(self.findings.changes) - sel.changes,
            "patterns": self.patterns[: sel.patterns],
            "patterns_left_out": len(self.findings.patterns) - sel.patterns,
            "timeline": self.timeline[: sel.timeline],
            "items": [{"ref": c.ref, **item.model_dump()} for c, item in items],
            "items_dropped": dropped,
        }


_Redact = Callable[[str], str]


def _suspect_rows(findings: Findings, red: _Redact) -> list[dict[str, Any]]:
    rows = []
    for s in findings.suspects[:MAX_SUSPECTS]:
        fact = suspect_fact(s)
        rows.append(
            {
                "rank": s.rank,
                "service": s.service,
                "score_fact": fact.id,
                "score_display": fact.display,
                "reasons": [red(r) for r in s.reasons],
                "evidence_ids": s.evidence_ids[: EXEMPLARS_PER_OBJECT * 2],
                "facts": [fact],
            }
        )
    return rows


def _service_rows(findings: Findings) -> list[dict[str, Any]]:
    suspect_by_service = {s.service: s for s in findings.suspects}
    # Suspects first, then services that changed significantly, then the loudest.
    ordered = sorted(
        findings.services,
        key=lambda s: (
            suspect_by_service[s.service].rank
            if s.service in suspect_by_service
            else MAX_SUSPECTS + 1,
            not s.significant,
            -s.errors_incident,
        ),
    )
    return [
        {"service": s.service, "significant": s.significant, "facts": service_facts(s)}
        for s in ordered[:MAX_SERVICES]
    ]


def _onset_rows(findings: Findings, red: _Redact) -> list[dict[str, Any]]:
    return [
        {
            "service": o.service,
            "signal": o.signal,
            "method": red(o.method),
            "evidence_ids": o.evidence_ids[:EXEMPLARS_PER_OBJECT],
            "fact": onset_fact(o),
        }
        for o in findings.onsets
    ]


def _change_rows(findings: Findings, red: _Redact) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "kind": c.kind,
            "service": c.service,
            "source": c.source,
            "summary": red(c.summary),
            "actor": red(c.actor) if c.actor else None,
            "evidence_ids": c.evidence_ids[:EXEMPLARS_PER_OBJECT],
            "fact": change_fact(i, c),
        }
        for i, c in enumerate(findings.changes[:MAX_CHANGES])
    ]


def _pattern_row(p: PatternFinding, red: _Redact) -> dict[str, Any]:
    flags = ", ".join(f for f, on in (("new", p.is_new), ("spike", p.is_spike)) if on)
    return {
        "id": p.pattern_id,
        "flags": flags or "context",
        "services": p.services,
        "level": p.level,
        "template": red(p.template),
        "exemplars": p.exemplars[:EXEMPLARS_PER_OBJECT],
        "facts": pattern_facts(p),
    }


def _timeline_rows(findings: Findings, red: _Redact) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "kind": t.kind,
            "service": t.service,
            "text": red(t.text),
            "evidence_ids": t.evidence_ids[:2],
            "fact": timeline_fact(i, t),
        }
        for i, t in enumerate(findings.timeline[:MAX_TIMELINE])
    ]


def sdk_token_counter(client: Any, model: str) -> Callable[[str], int]:
    """`count_tokens` for build_evidence_pack from an `anthropic.Anthropic` client: the pack text
    as one user message, counted by the API (first-party only; Bedrock has no such endpoint)."""
    import anthropic

    def count(text: str) -> int:
        # Counting is a nicety: if the API cannot be reached, the estimate still bounds the pack.
        try:
            result = client.messages.count_tokens(
                model=model, messages=[{"role": "user", "content": text}]
            )
        except anthropic.AnthropicError:
            return estimate_tokens(text)
        return int(result.input_tokens)

    return count
