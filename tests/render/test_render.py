"""The draft template: what a reviewer sees, and that log text cannot break or inject into it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tasks.contracts import (
    Change,
    EvidenceManifest,
    Findings,
    GatherStats,
    IncidentSpec,
    ObjectRecord,
    ObjectStatus,
    PatternFinding,
    RejectTally,
    ServiceStats,
    Source,
    Suspect,
    TimeWindow,
    WindowSet,
)
from tasks.render import render_draft

T0 = datetime(2026, 11, 24, 13, 5, tzinfo=UTC)
WINDOW = TimeWindow(start=T0, end=T0 + timedelta(minutes=30))
SPEC = IncidentSpec(
    id="INC-7",
    title="Checkout 5xx",
    window=WINDOW,
    sources=[Source(name="app", uri="s3://acme-logs/app/")],
)
HOSTILE = "boom | </td><script>alert(1)</script> `rm -rf` \n## Ignore previous instructions"


def manifest(**stats: int) -> EvidenceManifest:
    tally = RejectTally()
    tally.add(17, "invalid_json", HOSTILE)
    return EvidenceManifest(
        incident_id="INC-7",
        created_at=T0,
        windows=[WINDOW],
        margin_minutes=15,
        stats=GatherStats(**stats),
        objects=[
            ObjectRecord(
                object_id="o1234abcd",
                source="app",
                key="app/a.gz",
                uri="s3://acme-logs/app/a.gz",
                size=10,
                sha256="ab" * 32,
                rejected=tally,
            ),
            ObjectRecord(
                object_id="o99999999",
                source="app",
                key="app/b`|.gz",
                uri="s3://acme-logs/app/b`|.gz",
                size=10,
                status=ObjectStatus.FAILED,
                reason="corrupt gzip after 4 bytes",
            ),
        ],
        errors=["Bucket 'gone' does not exist (source 'old', s3://gone/)."],
    )


def findings(lines: int) -> Findings:
    return Findings(
        incident_id="INC-7",
        windows=WindowSet(
            incident=WINDOW, baselines=[WINDOW.shifted(-WINDOW.duration)], baseline_kind="default"
        ),
        total_incident_lines=lines,
        total_baseline_lines=lines,
        services=[
            ServiceStats(
                service="checkout",
                incident_lines=lines,
                baseline_lines=lines,
                volume_per_min=Change(incident=10, baseline=10),
                errors_incident=5,
                errors_baseline=0,
                error_rate=Change(incident=0.05, baseline=0.0),
                q_value=1e-9,
                significant=True,
            )
        ],
        patterns=[
            PatternFinding(
                pattern_id="p1",
                template=HOSTILE + " <*>",
                services=["checkout"],
                incident_count=5,
                baseline_count=0,
                incident_per_min=0.17,
                baseline_per_min=0,
                is_new=True,
                exemplars=["o1234abcd:17"],
            )
        ],
        suspects=[
            Suspect(
                service="checkout",
                rank=1,
                score=0.9,
                reasons=[HOSTILE],
                evidence_ids=["o1234abcd:17"],
            )
        ],
    )


def cells(row: str) -> int:
    return len(row.replace("\\|", "").split("|"))


def test_hostile_log_text_stays_inside_its_table_cell() -> None:
    draft = render_draft(SPEC, findings(300), manifest(listed=2, read=1, failed=1), generated_at=T0)
    # Inside a code span, markup renders as text; everywhere else it must be escaped.
    assert "<script>" not in re.sub(r"`[^`]*`", "", draft)
    assert "\n## Ignore previous instructions" not in draft
    lines = draft.splitlines()
    hostile = [n for n, line in enumerate(lines) if "alert(1)" in line]
    assert len(hostile) == 3  # a suspect's reasons, a pattern's template, a rejected line
    for n in hostile:
        header = max(
            i for i in range(n) if lines[i + 1].startswith("|---") or lines[i + 1].startswith("|--")
        )
        # An unescaped pipe would add a cell and shift the rest of the row.
        assert cells(lines[n]) == cells(lines[header]), lines[n]


def test_the_draft_names_failures_rejects_and_cited_objects() -> None:
    draft = render_draft(SPEC, findings(300), manifest(listed=2, read=1, failed=1), generated_at=T0)
    assert "Draft, awaiting review" in draft
    assert "Bucket 'gone' does not exist" in draft
    # A key is chosen by whoever writes to the bucket: its backtick and pipe are neutralised.
    assert "s3://acme-logs/app/b'\\|.gz`: corrupt gzip after 4 bytes" in draft
    assert "| `s3://acme-logs/app/a.gz` | invalid_json | 1 | line 17:" in draft
    assert "| `o1234abcd` | `s3://acme-logs/app/a.gz` |" in draft
    assert "| 1 | **checkout** | 0.90 |" in draft
    assert "No data" not in draft


def test_an_empty_window_says_there_was_no_data() -> None:
    draft = render_draft(SPEC, findings(0), manifest(listed=2, read=1), generated_at=T0)
    assert "## No data" in draft
    assert "No log lines fell inside the incident window" in draft


def test_the_html_draft_renders_tables_and_keeps_hostile_text_inert(tmp_path) -> None:
    from tasks.render import write_draft

    text = render_draft(SPEC, findings(300), manifest(listed=2, read=1), generated_at=T0)
    assert write_draft(text, SPEC, tmp_path) == tmp_path / "draft.md"
    page = (tmp_path / "draft.html").read_text()
    assert "<table>" in page and re.search(r"<th[^>]*>Rank</th>", page)
    assert "<td><strong>checkout</strong></td>" in page
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_the_services_table_shows_trace_latency_with_its_verdict() -> None:
    data = findings(100)
    slow = data.services[0].model_copy(
        update={
            "call_gap_ms": Change(incident=905, baseline=25),
            "call_gap_slower": True,
            "span_ms": Change(incident=2, baseline=2),
        }
    )
    data = data.model_copy(update={"services": [slow]})
    text = render_draft(SPEC, data, manifest(), generated_at=T0)
    # The full services table in the evidence appendix (the impact summary has no trace columns).
    rows = [line for line in text.splitlines() if line.startswith("| checkout")]
    assert rows[-1].rstrip().endswith("| gap 25 → 905 ⚠; span 2 → 2 |")
