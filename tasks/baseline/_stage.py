"""The baseline stage's entry points: comparison, changes, onsets, suspects and timeline in one `Findings`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from tasks.baseline import changes as changes_mod
from tasks.baseline import onset as onset_mod
from tasks.baseline import suspects as suspects_mod
from tasks.baseline import traces as traces_mod
from tasks.baseline.comparison import compare_view
from tasks.baseline.frame import (
    FrameSource,
    drop_empty_baselines,
    window_view,
)
from tasks.baseline.series import charted_services, minute_series
from tasks.contracts import Findings, WindowSet
from tasks.memory import fix_mmap_threshold
from tasks.settings import Settings, settings_record


def build_findings(
    frame: pd.DataFrame | pa.Table | FrameSource,
    windows: WindowSet,
    incident_id: str,
    settings: Settings,
) -> Findings:
    """Everything the baseline stage knows: comparison, changes, onsets, suspects, timeline."""
    view = window_view(frame, windows)
    findings, codes = compare_view(view, settings, incident_id)
    change_events = changes_mod.detect_changes(view, (codes.codes, codes.templates))
    # Each row's pattern code is needed no further: the later steps' peaks are without it.
    del codes
    onsets, onset_warnings, suspects = [], [], []
    signals = traces_mod.trace_signals(view, settings)
    services = traces_mod.annotate_services(findings.services, view, signals)
    # With no incident lines there is nothing to date or rank: every service merely "went quiet".
    if findings.total_incident_lines:
        onsets, onset_warnings = onset_mod.detect_onsets(view)
        suspects = suspects_mod.rank_suspects(
            view,
            services,
            findings.patterns,
            onsets,
            change_events,
            signals,
            alpha=settings.significance_level,
        )
    return findings.model_copy(
        update={
            "services": services,
            "onsets": onsets,
            "suspects": suspects,
            "changes": change_events,
            "timeline": onset_mod.build_timeline(view, onsets, change_events, findings.patterns),
            "warnings": findings.warnings + onset_warnings + signals.warnings,
            "series": minute_series(view, charted_services(findings.services, suspects)),
            "settings": settings_record(settings),
        }
    )


def findings_from_parquet(
    parquet_path: Path, windows: WindowSet, incident_id: str, settings: Settings
) -> Findings:
    """The baseline stage on gather's output: baselines with no data are left out, and said so.

    With `settings.dask_address`, the per-batch work runs on that cluster (see _dask.py).
    """
    # The stage's arrays are tens of MB each, freed step by step: their pages must go back.
    fix_mmap_threshold()
    if not settings.dask_address:
        return _findings_from(FrameSource(parquet_path), windows, incident_id, settings)
    # Imported here: without an address, Dask is never imported.
    from tasks.baseline._dask import cluster_pool

    with cluster_pool(settings, parquet_path) as (pool, shared):
        frame = FrameSource(parquet_path, pool, pool_reads_file=shared)
        return _findings_from(frame, windows, incident_id, settings)


def _findings_from(
    frame: FrameSource, windows: WindowSet, incident_id: str, settings: Settings
) -> Findings:
    # Read a few columns at a time, in batches: never the whole file (see FrameSource).
    used, warnings = drop_empty_baselines(windows, frame)
    findings = build_findings(frame, used, incident_id=incident_id, settings=settings)
    findings.warnings.extend(warnings)
    return findings
