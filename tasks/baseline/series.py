"""Per-service, per-minute series of the incident and its first baseline: what the charts draw.

The baseline is aligned on the incident by minute offset, so a chart overlays "the same minute
of a normal window" on the incident. Only the services a reader needs are kept (suspects and the
most affected), so the findings stay small whatever the fleet's size.
"""

from __future__ import annotations

import numpy as np

from tasks.baseline.frame import MINUTE_US, WindowedFrame, grouped_percentiles, to_us, where
from tasks.baseline.stats import flagged_counts
from tasks.contracts import MinuteSeries, ServiceStats, Suspect

MAX_CHARTED_SERVICES = 6


def charted_services(services: list[ServiceStats], suspects: list[Suspect]) -> list[str]:
    """Suspects first (in rank order), then the services whose error rate rose most."""
    chosen = [s.service for s in suspects[:MAX_CHARTED_SERVICES]]
    by_rise = sorted(services, key=lambda s: -(s.error_rate.delta or 0.0))
    for stats in by_rise:
        if len(chosen) >= MAX_CHARTED_SERVICES:
            break
        if stats.service not in chosen and stats.incident_lines:
            chosen.append(stats.service)
    return chosen


def minute_series(view: WindowedFrame, services: list[str]) -> list[MinuteSeries]:
    """Lines, errors and p95 latency per minute for each service, incident and first baseline."""
    incident = view.windows.incident
    minutes = max(1, int(np.ceil(incident.minutes)))
    windows = [(0, incident)]
    if view.windows.baselines:
        windows.append((1, view.windows.baselines[0]))
    out: list[MinuteSeries] = []
    for service in services:
        code = view.code_of(service)
        if code is None:
            continue
        for index, window in windows:
            rows = where(view.traffic & (view.window == index) & (view.service == code))
            bins = ((view.ts[rows] - to_us(window.start)) // MINUTE_US).astype(np.int64)
            keep = (bins >= 0) & (bins < minutes)
            rows, bins = rows[keep], bins[keep]
            lines = np.bincount(bins, minlength=minutes)
            errors = flagged_counts(bins, view.is_error[rows], minutes)
            p95 = grouped_percentiles(bins, view.latency_of(rows), minutes, (0.95,))[:, 0]
            out.append(
                MinuteSeries(
                    service=service,
                    window="incident" if index == 0 else "baseline",
                    start=window.start,
                    lines=lines.astype(int).tolist(),
                    errors=errors.astype(int).tolist(),
                    p95_latency_ms=[None if np.isnan(v) else round(float(v), 3) for v in p95],
                )
            )
    return out
