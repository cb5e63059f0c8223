"""When each service started to misbehave, and the incident's deterministic timeline.

Onset method
------------
Per service we count, minute by minute, from a short lead-in before the reported start to the
end of the incident window (SREs report the window late: the page fires after the fault). Each
minute is compared with the same service's per-minute distribution in the baseline windows
(leaving out the lead-in minutes, which may already be abnormal):

- errors: the minute's error lines exceed the 99.9% upper bound of a Poisson (or, when the
  baseline is burstier than Poisson, a negative binomial with the baseline's dispersion) with the
  baseline's mean, and are at least 1.5 times that mean and at least 2 lines;
- latency: at least 25% of the minute's requests are slower than the baseline's p95 (5% is
  normal), with a binomial tail below 0.1%;
- log volume: the minute holds under 20% of the baseline rate and under its 0.1% lower bound
  (a service that crashed or was cut off stops logging), for services with 5+ lines a minute.

One anomalous minute is noise; the onset is the first minute of a sustained run, i.e. an anomalous
minute followed by at least one more in the next two (2 of 3 consecutive minutes). We chose this
over CUSUM because each minute's verdict can be explained to a reviewer in one sentence, and the
first-of-run rule already gives a change point at one-minute resolution. The onset time is the
first offending line in that minute (for volume, the minute's start); the earliest signal wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom, nbinom, poisson

from tasks.baseline.frame import MINUTE_US, WindowedFrame, from_us, positions_in, to_us, where
from tasks.baseline.stats import flagged_counts
from tasks.contracts import ChangeEvent, Onset, PatternFinding, TimelineEntry

LEAD_IN_MAX_MINUTES = 15
MINUTE_ALPHA = 1e-3  # per-minute false alarm rate before the 2-of-3 rule
MIN_ERRORS_PER_MINUTE = 2
MIN_ERROR_RISE = 1.5
SLOW_SHARE = 0.25  # share of requests above the baseline p95 that marks a slow minute
MIN_LATENCY_SAMPLES = 5
MIN_BASELINE_LATENCY_SAMPLES = 20
QUIET_SHARE = 0.2
MIN_QUIET_BASELINE_RATE = 5.0
DATA_GAP_SHARE = 0.5  # this share of services going quiet together is a gap in the logs
EVIDENCE = 3

SIGNAL_ERRORS = "errors"
SIGNAL_LATENCY = "latency"
SIGNAL_VOLUME = "log volume"


@dataclass
class _Grid:
    """Per-service, per-minute counts from the lead-in to the end of the incident window."""

    origin_us: int  # start of minute 0 (incident start minus the lead-in)
    lead_in: int
    rows: np.ndarray  # view rows on the grid
    minute: np.ndarray  # their minute
    lines: np.ndarray  # [service, minute]
    errors: np.ndarray


@dataclass
class _Reference:
    """Each service's per-minute baseline (lead-in excluded)."""

    rows: np.ndarray
    lines_mean: np.ndarray
    lines_phi: np.ndarray
    errors_mean: np.ndarray
    errors_phi: np.ndarray
    p95: np.ndarray  # nan when too few latency samples
    minutes: int


def _lead_in_minutes(view: WindowedFrame) -> int:
    return int(min(LEAD_IN_MAX_MINUTES, view.windows.incident.minutes // 2))


def _grid(view: WindowedFrame) -> _Grid:
    start, end = view.incident_us
    lead_in = _lead_in_minutes(view)
    origin = start - lead_in * MINUTE_US
    n_minutes = lead_in + int(np.ceil((end - start) / MINUTE_US))
    rows = where(view.traffic & (view.ts >= origin) & (view.ts < end))
    minute = ((view.ts[rows] - origin) // MINUTE_US).astype(np.int32)
    shape = (len(view.service_names), n_minutes)
    flat = view.service[rows].astype(np.int64) * n_minutes + minute
    size = shape[0] * shape[1]
    lines = np.bincount(flat, minlength=size).reshape(shape)
    errors = flagged_counts(flat, view.is_error[rows], size).reshape(shape)
    return _Grid(origin, lead_in, rows, minute, lines, errors)


def _mean_and_dispersion(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row mean and variance/mean (at least 1) of a [service, minute] matrix."""
    if counts.shape[1] == 0:
        zeros = np.zeros(counts.shape[0])
        return zeros, np.ones(counts.shape[0])
    mean = counts.mean(axis=1)
    var = counts.var(axis=1, ddof=1) if counts.shape[1] > 1 else np.zeros(counts.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(mean > 0, var / mean, 1.0)
    return mean, np.maximum(np.nan_to_num(phi, nan=1.0), 1.0)


def _reference(view: WindowedFrame, grid: _Grid) -> _Reference:
    """Per-minute baseline statistics of each service, leaving out minutes in the lead-in."""
    n_services = len(view.service_names)
    rows = where(view.traffic & (view.window > 0))
    bins, n_bins = view.baseline_bins(rows)
    starts = view.baseline_bin_starts()
    keep_bin = ~((starts >= grid.origin_us) & (starts < to_us(view.windows.incident.start)))
    keep_row = keep_bin[bins]
    rows, bins = rows[keep_row], bins[keep_row]
    flat = view.service[rows].astype(np.int64) * n_bins + bins
    shape = (n_services, n_bins)
    lines = np.bincount(flat, minlength=n_services * n_bins).reshape(shape)[:, keep_bin]
    errors = flagged_counts(flat, view.is_error[rows], n_services * n_bins)
    errors = errors.reshape(shape)[:, keep_bin]
    lines_mean, lines_phi = _mean_and_dispersion(lines)
    errors_mean, errors_phi = _mean_and_dispersion(errors)
    p95, samples = view.latency_percentiles(rows, (0.95,))
    p95 = p95[:, 0]
    p95[samples < MIN_BASELINE_LATENCY_SAMPLES] = np.nan
    minutes = int(np.count_nonzero(keep_bin))
    return _Reference(rows, lines_mean, lines_phi, errors_mean, errors_phi, p95, minutes)


def _upper_bound(mean: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """The 1 - MINUTE_ALPHA quantile of Poisson(mean), negative binomial when phi > 1."""
    bound = poisson.isf(MINUTE_ALPHA, mean)
    over = phi > 1.0 + 1e-9
    if np.any(over):
        n = mean[over] / (phi[over] - 1.0)
        bound[over] = nbinom.isf(MINUTE_ALPHA, n, 1.0 / phi[over])
    return np.nan_to_num(bound, nan=0.0)


def _lower_tail(counts: np.ndarray, mean: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """P(X <= count) per cell under the same model, for quiet minutes."""
    mean_b = np.broadcast_to(mean[:, None], counts.shape)
    phi_b = np.broadcast_to(phi[:, None], counts.shape)
    tail = poisson.cdf(counts, mean_b)
    over = phi_b > 1.0 + 1e-9
    if np.any(over):
        n = mean_b[over] / (phi_b[over] - 1.0)
        tail[over] = nbinom.cdf(counts[over], n, 1.0 / phi_b[over])
    return tail


def _sustained_start(anomalous: np.ndarray) -> np.ndarray:
    """Per row, the first minute that starts a 2-of-3 run, or -1."""
    nxt = np.zeros_like(anomalous)
    nxt2 = np.zeros_like(anomalous)
    nxt[:, :-1] = anomalous[:, 1:]
    nxt2[:, :-2] = anomalous[:, 2:]
    start = anomalous & (nxt | nxt2)
    first = np.where(start.any(axis=1), start.argmax(axis=1), -1)
    return first


def _error_minutes(grid: _Grid, ref: _Reference) -> tuple[np.ndarray, np.ndarray]:
    # With no baseline errors at all, assume half an error over the baseline to keep the bound finite.
    floor = 0.5 / max(ref.minutes, 1)
    mean = np.maximum(ref.errors_mean, floor)
    bound = _upper_bound(mean, ref.errors_phi)
    need = np.maximum(MIN_ERRORS_PER_MINUTE, MIN_ERROR_RISE * mean)
    anomalous = (grid.errors > bound[:, None]) & (grid.errors >= need[:, None])
    return anomalous, bound


def _slow_minutes(
    view: WindowedFrame, grid: _Grid, ref: _Reference
) -> tuple[np.ndarray, np.ndarray]:
    """Anomalous minutes for latency, and each grid row's "slower than baseline p95" flag."""
    shape = grid.lines.shape
    size = shape[0] * shape[1]
    n = np.zeros(size)
    k = np.zeros(size)
    slow = np.zeros(len(grid.rows), dtype=bool)
    # The latencies are read a batch at a time: the view holds none.
    for part, latency in view.latencies(grid.rows):
        at = positions_in(grid.rows, part)
        p95 = ref.p95[view.service[part]]
        has = ~np.isnan(latency) & ~np.isnan(p95)
        slow[at] = has & (latency > np.nan_to_num(p95, nan=np.inf))
        flat = view.service[part].astype(np.int64) * shape[1] + grid.minute[at]
        n += np.bincount(flat, weights=has, minlength=size)
        k += np.bincount(flat, weights=slow[at], minlength=size)
    n, k = n.reshape(shape), k.reshape(shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, k / n, 0.0)
    tail = binom.sf(k - 1, n, 0.05)
    anomalous = (n >= MIN_LATENCY_SAMPLES) & (share >= SLOW_SHARE) & (tail <= MINUTE_ALPHA)
    return anomalous, slow


def _quiet_minutes(grid: _Grid, ref: _Reference) -> np.ndarray:
    tail = _lower_tail(grid.lines, ref.lines_mean, ref.lines_phi)
    eligible = ref.lines_mean >= MIN_QUIET_BASELINE_RATE
    low = grid.lines <= QUIET_SHARE * ref.lines_mean[:, None]
    return eligible[:, None] & low & (tail <= MINUTE_ALPHA)


def _drop_data_gaps(quiet_start: np.ndarray, ref: _Reference) -> tuple[np.ndarray, list[int]]:
    """Quiet onsets shared by most services in the same minute are a gap in the logs."""
    eligible = int(np.count_nonzero(ref.lines_mean >= MIN_QUIET_BASELINE_RATE))
    minutes, counts = np.unique(quiet_start[quiet_start >= 0], return_counts=True)
    gaps = [
        int(m)
        for m, c in zip(minutes, counts, strict=True)
        if c >= 2 and c >= DATA_GAP_SHARE * eligible
    ]
    cleaned = np.where(np.isin(quiet_start, gaps), -1, quiet_start)
    return cleaned, gaps


def _first_rows(
    view: WindowedFrame, grid: _Grid, service: int, minute: int, mask: np.ndarray
) -> np.ndarray:
    on = (view.service[grid.rows] == service) & (grid.minute == minute) & mask
    return grid.rows[on][:EVIDENCE]


def _hhmm(us: int) -> str:
    return f"{from_us(us):%H:%M}"


@dataclass
class _Signals:
    """Per service, the first minute of a sustained run for each signal (-1: none)."""

    errors: np.ndarray
    latency: np.ndarray
    volume: np.ndarray
    error_bound: np.ndarray
    slow: np.ndarray  # per grid row: slower than the service's baseline p95
    gaps: list[int]  # minutes where most services went quiet together


def _signals(view: WindowedFrame, grid: _Grid, ref: _Reference) -> _Signals:
    error_anomalous, bound = _error_minutes(grid, ref)
    slow_anomalous, slow = _slow_minutes(view, grid, ref)
    volume, gaps = _drop_data_gaps(_sustained_start(_quiet_minutes(grid, ref)), ref)
    return _Signals(
        errors=_sustained_start(error_anomalous),
        latency=_sustained_start(slow_anomalous),
        volume=volume,
        error_bound=bound,
        slow=slow,
        gaps=gaps,
    )


def _onset_at_first_line(
    view: WindowedFrame, s: int, rows: np.ndarray, minute_at: int, signal: str, method: str
) -> Onset:
    """Timed at the first offending line: more precise than the minute it falls in."""
    at = int(view.ts[rows[0]]) if rows.size else minute_at
    return Onset(
        service=view.service_names[s],
        at=from_us(at),
        signal=signal,
        method=method,
        evidence_ids=view.evidence(rows),
    )


def _error_onset(view: WindowedFrame, grid: _Grid, ref: _Reference, sig: _Signals, s: int) -> Onset:
    m = int(sig.errors[s])
    rows = _first_rows(view, grid, s, m, view.is_error[grid.rows])
    minute_at = grid.origin_us + m * MINUTE_US
    method = (
        f"{SIGNAL_ERRORS}: first minute of a sustained rise (2 of 3 consecutive minutes) above "
        f"the 99.9% bound of the baseline ({ref.errors_mean[s]:.2g} errors/min, bound "
        f"{sig.error_bound[s]:.0f}); {int(grid.errors[s, m])} error lines in the minute from "
        f"{_hhmm(minute_at)}"
    )
    return _onset_at_first_line(view, s, rows, minute_at, SIGNAL_ERRORS, method)


def _latency_onset(
    view: WindowedFrame, grid: _Grid, ref: _Reference, sig: _Signals, s: int
) -> Onset:
    m = int(sig.latency[s])
    rows = _first_rows(view, grid, s, m, sig.slow)
    minute_at = grid.origin_us + m * MINUTE_US
    method = (
        f"{SIGNAL_LATENCY}: first minute of a sustained run (2 of 3 consecutive minutes) where "
        f"at least {SLOW_SHARE:.0%} of requests were slower than the baseline p95 "
        f"({ref.p95[s]:.0f} ms), against 5% normally; minute from {_hhmm(minute_at)}"
    )
    return _onset_at_first_line(view, s, rows, minute_at, SIGNAL_LATENCY, method)


def _volume_onset(
    view: WindowedFrame, grid: _Grid, ref: _Reference, sig: _Signals, s: int
) -> Onset:
    m = int(sig.volume[s])
    minute_at = grid.origin_us + m * MINUTE_US
    # A silent minute has no lines of its own; the last lines before it are the evidence.
    before = grid.rows[(view.service[grid.rows] == s) & (grid.minute < m)][-EVIDENCE:]
    method = (
        f"{SIGNAL_VOLUME}: first minute of a sustained drop (2 of 3 consecutive minutes) below "
        f"{QUIET_SHARE:.0%} of the baseline rate ({ref.lines_mean[s]:.1f} lines/min) and its "
        f"0.1% bound; {int(grid.lines[s, m])} lines in the minute from {_hhmm(minute_at)} "
        "(evidence: the last lines before it)"
    )
    return Onset(
        service=view.service_names[s],
        at=from_us(minute_at),
        signal=SIGNAL_VOLUME,
        method=method,
        evidence_ids=view.evidence(before),
    )


def detect_onsets(view: WindowedFrame) -> tuple[list[Onset], list[str]]:
    """One onset per service that deviated (errors, latency or log volume), earliest first.

    Also returns warnings, for minutes where most services fell silent at once (a log gap).
    """
    grid = _grid(view)
    ref = _reference(view, grid)
    sig = _signals(view, grid, ref)
    warnings = [
        f"Log volume fell for most services at once in the minute from "
        f"{_hhmm(grid.origin_us + m * MINUTE_US)}; that looks like a gap in the logs, not an "
        "outage, and was not used as an onset."
        for m in sig.gaps
    ]
    # On a tie the more specific signal wins: errors, then latency, then volume.
    detectors = (
        (sig.errors, _error_onset),
        (sig.latency, _latency_onset),
        (sig.volume, _volume_onset),
    )
    onsets = []
    for s in range(len(view.service_names)):
        found = [make(view, grid, ref, sig, s) for starts, make in detectors if starts[s] >= 0]
        if found:
            onsets.append(min(found, key=lambda o: o.at))
    onsets.sort(key=lambda o: (o.at, o.service))
    return onsets, warnings


# --------------------------------------------------------------------------------------------
# Timeline
# --------------------------------------------------------------------------------------------

_KIND_ORDER = {"window": 0, "change": 1, "onset": 2, "new_pattern": 3, "peak": 4}
MAX_NEW_PATTERN_ENTRIES = 10


def _peak_entry(view: WindowedFrame) -> TimelineEntry | None:
    """The incident minute with the most error lines, and who logged them."""
    start = view.incident_us[0]
    rows = where(view.traffic & view.is_error & (view.window == 0))
    if rows.size == 0:
        return None
    minute = (view.ts[rows] - start) // MINUTE_US
    counts = np.bincount(minute)
    peak = int(np.argmax(counts))
    in_peak = rows[minute == peak]
    by_service = np.bincount(view.service[in_peak], minlength=len(view.service_names))
    top = np.argsort(-by_service, kind="stable")[:3]
    parts = ", ".join(f"{view.service_names[s]} {by_service[s]}" for s in top if by_service[s])
    at = start + peak * MINUTE_US
    return TimelineEntry(
        at=from_us(at),
        kind="peak",
        text=f"peak: {int(counts[peak])} error lines in the minute from {_hhmm(at)} ({parts})",
        evidence_ids=view.evidence(in_peak[:EVIDENCE]),
    )


def _new_error_pattern_entries(patterns: list[PatternFinding]) -> list[TimelineEntry]:
    new = [
        p
        for p in patterns
        if p.is_new and p.first_seen is not None and p.level in ("error", "fatal")
    ]
    new.sort(key=lambda p: (p.first_seen, p.pattern_id))
    return [
        TimelineEntry(
            at=p.first_seen,
            service=p.services[0] if p.services else None,
            kind="new_pattern",
            text=f"first occurrence of a new {p.level} pattern: {p.template[:160]}",
            evidence_ids=p.exemplars[:1],
        )
        for p in new[:MAX_NEW_PATTERN_ENTRIES]
    ]


def build_timeline(
    view: WindowedFrame,
    onsets: list[Onset],
    changes: list[ChangeEvent],
    patterns: list[PatternFinding],
) -> list[TimelineEntry]:
    """Changes, onsets, first new error patterns and the peak minute, sorted by time."""
    incident = view.windows.incident
    entries = [
        TimelineEntry(
            at=incident.start, kind="window", text="incident window starts (as reported)"
        ),
        TimelineEntry(at=incident.end, kind="window", text="incident window ends (as reported)"),
    ]
    entries += [
        TimelineEntry(
            at=c.at,
            service=c.service,
            kind="change",
            text=f"{c.kind}: {c.summary}",
            evidence_ids=c.evidence_ids[:EVIDENCE],
        )
        for c in changes
    ]
    entries += [
        TimelineEntry(
            at=o.at,
            service=o.service,
            kind="onset",
            text=f"{o.service}: {o.signal} started to deviate",
            evidence_ids=o.evidence_ids[:EVIDENCE],
        )
        for o in onsets
    ]
    entries += _new_error_pattern_entries(patterns)
    peak = _peak_entry(view)
    if peak is not None:
        entries.append(peak)
    entries.sort(key=lambda e: (e.at, _KIND_ORDER[e.kind], e.service or "", e.text))
    return entries
