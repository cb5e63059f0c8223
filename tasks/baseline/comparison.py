"""The window comparison: per-service and per-pattern counts, rates and tests, incident against baseline."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tasks.baseline.frame import (
    BLOCK_ROWS,
    LEVEL_NAMES,
    UNKNOWN_SERVICE,
    WindowedFrame,
    where,
    window_view,
)
from tasks.baseline.patterns import mine_distinct
from tasks.baseline.stats import (
    bh_qvalues,
    flagged_counts,
    fraction_dispersion,
    make_change,
    minute_dispersion,
    rate_increase_pvalues,
    sig,
)
from tasks.contracts import Change, Findings, PatternFinding, ServiceStats, WindowSet
from tasks.settings import Settings

SPIKE_MIN_RATIO = 2.0  # a pattern "spikes" only if its rate at least doubles
ERROR_RATE_MIN_RATIO = 1.5  # a service's error fraction must rise by half to count
MAX_PATTERNS = 200  # findings list at most this many patterns (new, spiking, then loudest errors)
TOP_ERROR_PATTERNS = 20  # error patterns listed even when not new or spiking
EXEMPLARS = 3
TOP_STATUS_CODES = 5
LATENCY_QUANTILES = (0.50, 0.95, 0.99)


@dataclass
class PatternCodes:
    """The pattern of each view row (-1 for rows not mined: change records, context rows)."""

    codes: np.ndarray
    ids: list[str]
    templates: list[str]


# --------------------------------------------------------------------------------------------
# Patterns
# --------------------------------------------------------------------------------------------


def mine_view_patterns(view: WindowedFrame) -> PatternCodes:
    """Mine once over every service line inside a window; context rows and CloudTrail are left out."""
    rows = where(view.traffic & (view.window >= 0))
    codes = np.full(len(view.ts), -1, dtype=np.int32)
    if rows.size == 0:
        return PatternCodes(codes=codes, ids=[], templates=[])
    # Messages stream through the miner in frame order, a batch at a time: the mining
    # depends only on which distinct messages occur, so the order does not matter. Each
    # message's distinct index goes straight into `codes` (the rows of the chunks not yet
    # coded wait in `pending`, a few batches at most); the indices become pattern codes at
    # the end, in place, so no list of every message's code or row exists besides `codes`.
    pending: deque[np.ndarray] = deque()

    def messages() -> Iterator[pa.Array]:
        for part, values in view.chunks("message", rows):
            pending.append(part)
            yield pc.fill_null(values, "")

    def store(indices: np.ndarray) -> None:
        at = 0
        while at < len(indices):
            part = pending[0]
            take = min(len(part), len(indices) - at)
            codes[part[:take]] = indices[at : at + take]
            at += take
            if take == len(part):
                pending.popleft()
            else:
                pending[0] = part[take:]

    pattern_of, uniques, templates = mine_distinct(messages(), store, view.source.pool)
    order = np.argsort(np.asarray(uniques, dtype=object), kind="stable")
    remap = np.empty(len(uniques), dtype=np.int32)
    remap[order] = np.arange(len(uniques), dtype=np.int32)
    final = remap[pattern_of]
    for lo in range(0, len(rows), BLOCK_ROWS):
        block = rows[lo : lo + BLOCK_ROWS]
        codes[block] = final[codes[block]]
    # Distinct messages needed 32 bits; patterns rarely do. Every use of the codes either
    # indexes with them or widens them first (stats._cells).
    if len(uniques) <= np.iinfo(np.int16).max:
        codes = codes.astype(np.int16)
    ids = [str(uniques[i]) for i in order]
    return PatternCodes(codes=codes, ids=ids, templates=[templates.get(i, "") for i in ids])


def _first_rows_per_group(groups: np.ndarray, rows: np.ndarray, k: int) -> dict[int, list[int]]:
    """The first k rows (already in time order) of each group."""
    order = np.argsort(groups, kind="stable")
    groups, rows = groups[order], rows[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    rank = np.arange(len(groups)) - np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    keep = rank < k
    out: dict[int, list[int]] = {}
    for group, row in zip(groups[keep].tolist(), rows[keep].tolist(), strict=True):
        out.setdefault(group, []).append(row)
    return out


def _pattern_services(
    view: WindowedFrame, codes: np.ndarray, rows: np.ndarray, wanted: np.ndarray
) -> dict[int, list[str]]:
    """Services emitting each wanted pattern, loudest first."""
    mask = np.isin(codes[rows], wanted)
    pairs = codes[rows][mask].astype(np.int64) * len(view.service_names) + view.service[rows][mask]
    keys, counts = np.unique(pairs, return_counts=True)
    order = np.lexsort((keys % len(view.service_names), -counts, keys // len(view.service_names)))
    out: dict[int, list[str]] = {}
    for key in keys[order].tolist():
        pattern, service = divmod(key, len(view.service_names))
        out.setdefault(pattern, []).append(view.service_names[service])
    return out


@dataclass
class _PatternStats:
    """Per pattern code: counts, rates, the test, and what the incident made of it."""

    incident: np.ndarray
    baseline: np.ndarray
    rate_incident: np.ndarray
    rate_baseline: np.ndarray
    p: np.ndarray  # nan where untested
    q: np.ndarray
    is_new: np.ndarray
    is_spike: np.ndarray
    level: np.ndarray  # most severe level rank, -1 if none
    errors: np.ndarray  # incident lines counted as errors


def _pattern_stats(view: WindowedFrame, codes: PatternCodes, settings: Settings) -> _PatternStats:
    n_patterns = len(codes.ids)
    mined = codes.codes >= 0
    incident_rows = where(mined & (view.window == 0))
    baseline_rows = where(mined & (view.window > 0))
    c_i = np.bincount(codes.codes[incident_rows], minlength=n_patterns)
    c_b = np.bincount(codes.codes[baseline_rows], minlength=n_patterns)
    t_i, t_b = float(view.minutes[0]), view.baseline_minutes

    phi = np.ones(n_patterns)
    if baseline_rows.size:
        bins, n_bins = view.baseline_bins(baseline_rows)
        phi = minute_dispersion(codes.codes[baseline_rows], bins, n_patterns, n_bins)
    # Only patterns present in the incident can have risen; testing the rest would only
    # dilute the correction.
    tested = np.flatnonzero(c_i > 0)
    p = np.full(n_patterns, np.nan)
    q = np.full(n_patterns, np.nan)
    if t_b > 0 and tested.size:
        p[tested] = rate_increase_pvalues(c_i[tested], c_b[tested], t_i, t_b, phi[tested])
        q[tested] = bh_qvalues(p[tested])

    rate_i = c_i / t_i if t_i > 0 else np.zeros(n_patterns)
    rate_b = c_b / t_b if t_b > 0 else np.zeros(n_patterns)
    big_enough = (c_b == 0) | (rate_i >= SPIKE_MIN_RATIO * rate_b)
    level = np.full(n_patterns, -1, dtype=np.int8)
    np.maximum.at(level, codes.codes[mined], view.level[mined])
    errors = flagged_counts(codes.codes[incident_rows], view.is_error[incident_rows], n_patterns)
    return _PatternStats(
        incident=c_i,
        baseline=c_b,
        rate_incident=rate_i,
        rate_baseline=rate_b,
        p=p,
        q=q,
        is_new=(c_i > 0) & (c_b == 0),
        is_spike=(q <= settings.significance_level) & big_enough & (c_i > 0),
        level=level,
        errors=errors,
    )


def _chosen_patterns(st: _PatternStats) -> np.ndarray:
    """New and spiking patterns, then the loudest error patterns, most severe first."""
    flagged = st.is_new | st.is_spike
    loud = np.flatnonzero((st.errors > 0) & ~flagged)
    loud = loud[np.lexsort((loud, -st.errors[loud]))][:TOP_ERROR_PATTERNS]
    chosen = np.concatenate([np.flatnonzero(flagged), loud])
    # The pattern code (sorted IDs) breaks ties, so the order is the same on every run.
    order = np.lexsort((chosen, -st.incident[chosen], -st.level[chosen], ~flagged[chosen]))
    return chosen[order][:MAX_PATTERNS]


def compare_patterns(
    view: WindowedFrame, codes: PatternCodes, settings: Settings
) -> list[PatternFinding]:
    """Per pattern: counts and rates per window, significance, new or spiking, exemplars."""
    if not codes.ids:
        return []
    st = _pattern_stats(view, codes, settings)
    chosen = _chosen_patterns(st)
    incident_rows = where((codes.codes >= 0) & (view.window == 0))
    firsts = _first_rows_per_group(codes.codes[incident_rows], incident_rows, EXEMPLARS)
    services = _pattern_services(view, codes.codes, incident_rows, chosen)
    findings = []
    for code in chosen.tolist():
        rows = firsts.get(code, [])
        findings.append(
            PatternFinding(
                pattern_id=codes.ids[code],
                template=codes.templates[code],
                services=services.get(code, [])[:10],
                level=LEVEL_NAMES[st.level[code]] if st.level[code] >= 0 else None,
                incident_count=int(st.incident[code]),
                baseline_count=int(st.baseline[code]),
                incident_per_min=sig(st.rate_incident[code]) or 0.0,
                baseline_per_min=sig(st.rate_baseline[code]) or 0.0,
                p_value=sig(st.p[code]),
                q_value=sig(st.q[code]),
                is_new=bool(st.is_new[code]),
                is_spike=bool(st.is_spike[code]),
                first_seen=view.time(rows[0]) if rows else None,
                exemplars=view.evidence(rows),
            )
        )
    return findings


# --------------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------------


def _status_mix(view: WindowedFrame, kind: int) -> dict[int, dict[str, int]]:
    """Per service: counts per status class ("2xx"...) and the top exact error codes, in the
    incident (`kind` 0) or the baselines (1)."""
    _, service, status, lines = view.status_lines[view.status_lines[:, 0] == kind].T
    n_services = len(view.service_names)
    table = (
        np.bincount(service * 1000 + status, weights=lines, minlength=n_services * 1000)
        .astype(np.int64)
        .reshape(n_services, 1000)
    )
    mixes: dict[int, dict[str, int]] = {}
    for service in np.flatnonzero(table.sum(axis=1)).tolist():
        counts = table[service]
        mix = {
            f"{c}xx": int(counts[c * 100 : c * 100 + 100].sum())
            for c in range(1, 10)
            if counts[c * 100 : c * 100 + 100].any()
        }
        codes = np.flatnonzero(counts[400:]) + 400
        top = codes[np.lexsort((codes, -counts[codes]))][:TOP_STATUS_CODES]
        mix.update({str(code): int(counts[code]) for code in top.tolist()})
        mixes[service] = mix
    return mixes


def _error_dispersion(view: WindowedFrame, baseline_rows: np.ndarray) -> np.ndarray:
    """Dispersion of each service's per-minute error fraction in the baselines."""
    n_services = len(view.service_names)
    if baseline_rows.size == 0:
        return np.ones(n_services)
    bins, n_bins = view.baseline_bins(baseline_rows)
    return fraction_dispersion(
        view.service[baseline_rows], bins, view.is_error[baseline_rows], n_services, n_bins
    )


@dataclass
class _ErrorStats:
    """Per service code: lines and error lines per window, and the error-fraction test."""

    lines_incident: np.ndarray
    lines_baseline: np.ndarray
    errors_incident: np.ndarray
    errors_baseline: np.ndarray
    p: np.ndarray  # nan where untested
    q: np.ndarray
    significant: np.ndarray


def _error_stats(
    view: WindowedFrame, incident_rows: np.ndarray, baseline_rows: np.ndarray, settings: Settings
) -> _ErrorStats:
    n_services = len(view.service_names)
    inc_svc, base_svc = view.service[incident_rows], view.service[baseline_rows]
    n_i = np.bincount(inc_svc, minlength=n_services)
    n_b = np.bincount(base_svc, minlength=n_services)
    e_i = flagged_counts(inc_svc, view.is_error[incident_rows], n_services)
    e_b = flagged_counts(base_svc, view.is_error[baseline_rows], n_services)
    phi = _error_dispersion(view, baseline_rows)
    tested = np.flatnonzero((n_i > 0) & (n_b > 0))
    p = np.full(n_services, np.nan)
    q = np.full(n_services, np.nan)
    if tested.size:
        # Exposure is lines, not minutes: the test compares error fractions.
        p[tested] = rate_increase_pvalues(
            e_i[tested], e_b[tested], n_i[tested], n_b[tested], phi[tested]
        )
        q[tested] = bh_qvalues(p[tested])
    with np.errstate(invalid="ignore", divide="ignore"):
        big_enough = (e_b == 0) | (e_i / n_i >= ERROR_RATE_MIN_RATIO * e_b / n_b)
    significant = (q <= settings.significance_level) & big_enough & (e_i > 0)
    return _ErrorStats(n_i, n_b, e_i, e_b, p, q, significant)


def _optional(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def _latency_changes(incident: np.ndarray, baseline: np.ndarray) -> list[Change | None]:
    """One Change per quantile for one service, None where neither window has latencies."""
    return [
        None if np.isnan(a) and np.isnan(b) else make_change(_optional(a), _optional(b))
        for a, b in zip(incident, baseline, strict=True)
    ]


def _latency_percentiles(view: WindowedFrame) -> tuple[np.ndarray, np.ndarray]:
    """[service, quantile] latency percentiles of the incident, and of the baselines together.

    One computation for both, in the same streaming reads: a service's incident latencies are
    group s, its baseline ones group n_services + s.
    """
    n_services = len(view.service_names)
    both, _ = view.latency_percentiles(
        where(view.traffic & (view.window >= 0)),
        LATENCY_QUANTILES,
        group_of=lambda part: (view.window[part] != 0) * n_services + view.service[part],
        n_groups=2 * n_services,
    )
    return both[:n_services], both[n_services:]


def compare_services(view: WindowedFrame, settings: Settings) -> list[ServiceStats]:
    """The per-service table: volume, error rate with its significance, status mix, latency.

    Significant services come first, then by q-value and error count.
    """
    incident_rows = where(view.traffic & (view.window == 0))
    baseline_rows = where(view.traffic & (view.window > 0))
    err = _error_stats(view, incident_rows, baseline_rows, settings)
    t_i, t_b = float(view.minutes[0]), view.baseline_minutes
    lat_i, lat_b = _latency_percentiles(view)
    mix_i = _status_mix(view, 0)
    mix_b = _status_mix(view, 1)
    # Change records are not traffic: a service seen only in CloudTrail gets no row.
    present = np.flatnonzero((err.lines_incident + err.lines_baseline) > 0)
    stats = []
    for s in present.tolist():
        n_i, n_b = int(err.lines_incident[s]), int(err.lines_baseline[s])
        e_i, e_b = int(err.errors_incident[s]), int(err.errors_baseline[s])
        p50, p95, p99 = _latency_changes(lat_i[s], lat_b[s])
        stats.append(
            ServiceStats(
                service=view.service_names[s],
                incident_lines=n_i,
                baseline_lines=n_b,
                volume_per_min=make_change(
                    n_i / t_i if t_i > 0 else None, n_b / t_b if t_b > 0 else None
                ),
                errors_incident=e_i,
                errors_baseline=e_b,
                error_rate=make_change(e_i / n_i if n_i else None, e_b / n_b if n_b else None),
                p_value=sig(err.p[s]),
                q_value=sig(err.q[s]),
                significant=bool(err.significant[s]),
                status_mix_incident=mix_i.get(s, {}),
                status_mix_baseline=mix_b.get(s, {}),
                latency_p50_ms=p50,
                latency_p95_ms=p95,
                latency_p99_ms=p99,
            )
        )
    stats.sort(
        key=lambda st: (
            not st.significant,
            st.q_value if st.q_value is not None else 2.0,
            -st.errors_incident,
            st.service,
        )
    )
    return stats


# --------------------------------------------------------------------------------------------
# Warnings and assembly
# --------------------------------------------------------------------------------------------


def data_warnings(
    view: WindowedFrame,
    services: list[ServiceStats],
    total_incident: int,
    total_baseline: int,
    settings: Settings,
) -> list[str]:
    """Say plainly when the comparison rests on too little data."""
    windows = view.windows
    warnings = []
    if total_incident == 0:
        warnings.append(
            f"No log lines fell inside the incident window ({windows.incident}): the sources may "
            "not cover it, or logging stopped. There are no incident figures to report."
        )
    minimum = settings.min_baseline_lines
    if total_baseline < minimum:
        warnings.append(
            f"Only {total_baseline} log lines fell in the baseline windows (fewer than {minimum}); "
            "comparisons with normal behaviour are weak."
        )
    else:
        thin = [s for s in services if s.incident_lines > 0 and s.baseline_lines < minimum]
        if thin:
            listed = ", ".join(f"{s.service}: {s.baseline_lines}" for s in thin[:10])
            more = f" and {len(thin) - 10} more" if len(thin) > 10 else ""
            warnings.append(
                f"Little baseline data (fewer than {minimum} lines) for {len(thin)} "
                f"service(s) with incident traffic ({listed}{more}); their comparisons are weak."
            )
    if any(s.service == UNKNOWN_SERVICE for s in services):
        warnings.append(f"Some log lines name no service; they are counted as {UNKNOWN_SERVICE!r}.")
    inc = windows.incident
    for window in windows.baselines:
        if window.start < inc.end and inc.start < window.end:
            warnings.append(
                f"Baseline window {window} overlaps the incident window; the overlap counts as "
                "incident only."
            )
    return warnings


def compare_view(
    view: WindowedFrame, settings: Settings, incident_id: str
) -> tuple[Findings, PatternCodes]:
    """The comparison part of the findings, and each row's pattern code for the later steps."""
    traffic = view.traffic
    total_incident = int(np.count_nonzero(traffic & (view.window == 0)))
    total_baseline = int(np.count_nonzero(traffic & (view.window > 0)))
    services = compare_services(view, settings)
    codes = mine_view_patterns(view)
    findings = Findings(
        incident_id=incident_id,
        windows=view.windows,
        total_incident_lines=total_incident,
        total_baseline_lines=total_baseline,
        services=services,
        patterns=compare_patterns(view, codes, settings),
        warnings=data_warnings(view, services, total_incident, total_baseline, settings),
    )
    return findings, codes


def compare_windows(
    frame: pd.DataFrame | pa.Table,
    windows: WindowSet,
    settings: Settings,
    incident_id: str = "",
) -> Findings:
    """The window comparison alone: service table, patterns and data warnings."""
    findings, _ = compare_view(window_view(frame, windows), settings, incident_id)
    return findings
