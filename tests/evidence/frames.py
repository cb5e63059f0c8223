"""Synthetic findings that cite given log lines, with the frame and manifest behind them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.contracts import (
    CANONICAL_SCHEMA,
    Change,
    ChangeEvent,
    EvidenceManifest,
    Findings,
    GatherStats,
    ObjectRecord,
    Onset,
    PatternFinding,
    ServiceStats,
    Suspect,
    TimelineEntry,
    TimeWindow,
    WindowSet,
    object_id,
)

START = datetime(2026, 11, 24, 13, 5, tzinfo=UTC)


def write_frame(
    folder: Path, lines: list[str], services: list[str]
) -> tuple[Path, EvidenceManifest, list[str]]:
    """One object per service; line i goes to services[i % len]. Returns the evidence IDs."""
    rows, counters, ids = [], dict.fromkeys(services, 0), []
    for i, text in enumerate(lines):
        svc = services[i % len(services)]
        counters[svc] += 1
        key = f"app/{svc}.log"
        rows.append(
            {
                "ts": START + timedelta(seconds=i),
                "service": svc,
                "instance": f"{svc}-0",
                "level": "error",
                "message": text,
                "status": 500,
                "latency_ms": 12.5,
                "trace_id": None,
                "attrs": None,
                "line": counters[svc],
                "source": "app",
                "object_key": key,
            }
        )
        ids.append(f"{object_id('app', key)}:{counters[svc]}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "logs.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=CANONICAL_SCHEMA), path)
    objects = [
        ObjectRecord(
            object_id=object_id("app", f"app/{s}.log"),
            source="app",
            key=f"app/{s}.log",
            uri=f"file:///logs/app/{s}.log",
            size=1,
            lines_parsed=counters[s],
        )
        for s in services
    ]
    manifest = EvidenceManifest(
        incident_id="INC-test",
        created_at=START,
        windows=[TimeWindow(start=START, end=START + timedelta(hours=1))],
        margin_minutes=15,
        stats=GatherStats(rows_kept=len(rows)),
        objects=objects,
    )
    return path, manifest, ids


def findings_citing(
    ids: list[str],
    services: list[str],
    *,
    texts: list[str] | None = None,
    n_patterns: int = 40,
    n_changes: int = 30,
    n_suspects: int = 10,
    per_object: int = 3,
) -> Findings:
    """Findings whose suspects, onsets, changes and patterns cite `ids` in turn (each ID once
    while they last); `texts` fill templates, summaries and reasons."""
    queue = list(ids)
    text_queue = list(texts or [])

    def take(n: int) -> list[str]:
        out = queue[:n]
        del queue[:n]
        return out

    def text(default: str) -> str:
        return text_queue.pop(0) if text_queue else default

    window = TimeWindow(start=START, end=START + timedelta(minutes=36))
    suspects = [
        Suspect(
            service=services[i % len(services)],
            rank=i + 1,
            score=round(0.9 / (i + 1), 3),
            reasons=[text("first to deviate"), text("error rate rose")],
            evidence_ids=take(per_object),
        )
        for i in range(min(n_suspects, len(services)))
    ]
    onsets = [
        Onset(
            service=s,
            at=START + timedelta(minutes=i),
            method=text("first minute above the bound"),
            evidence_ids=take(per_object),
        )
        for i, s in enumerate(services)
    ]
    changes = [
        ChangeEvent(
            at=START - timedelta(minutes=i),
            kind="deploy",
            service=services[i % len(services)],
            summary=text(f"deploy {i}"),
            source="app",
            evidence_ids=take(per_object),
        )
        for i in range(n_changes)
    ]
    patterns = [
        PatternFinding(
            pattern_id=f"p{i:010x}",
            template=text(f"template {i} <*>"),
            services=[services[i % len(services)]],
            level="error",
            incident_count=100 + i,
            baseline_count=i,
            incident_per_min=(100 + i) / 36,
            baseline_per_min=i / 36,
            is_new=i % 2 == 0,
            first_seen=START + timedelta(seconds=i),
            exemplars=take(per_object),
        )
        for i in range(n_patterns)
    ]
    stats = [
        ServiceStats(
            service=s,
            incident_lines=1000,
            baseline_lines=2000,
            volume_per_min=Change(incident=27.8, baseline=27.1),
            errors_incident=90,
            errors_baseline=2,
            error_rate=Change(incident=0.09, baseline=0.001),
            significant=True,
            latency_p95_ms=Change(incident=308.1, baseline=150.0),
        )
        for s in services
    ]
    timeline = [
        TimelineEntry(at=c.at, service=c.service, kind="change", text=c.summary)
        for c in changes[:10]
    ]
    return Findings(
        incident_id="INC-test",
        windows=WindowSet(incident=window, baselines=[], baseline_kind="default"),
        total_incident_lines=len(ids),
        services=stats,
        patterns=patterns,
        onsets=onsets,
        suspects=suspects,
        changes=changes,
        timeline=timeline,
    )
