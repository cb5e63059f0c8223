"""What traces say: per-service latency and throughput from log lines, and who sits deepest in
the requests that fail or slow down.

Logs that carry a trace (or request) ID and a timestamp carry latency, even when no line
states a duration. Per service, from the lines of each trace:

- own span: the time from the service's first to its last line in the trace (how long it
  worked on the request);
- call gap: the time from the line just before the service's first line in the trace, written
  by another service (its caller), to that first line (how long the call took to arrive and
  start: queueing, network delay, a starved CPU);
- throughput: traces the service took part in, per minute.

Incident against baseline: latencies with a one-sided Mann-Whitney U test (no distributional
assumption; for the small samples that short windows give, the exact permutation distribution),
Benjamini-Hochberg across services; throughput with the exact conditional binomial test of
two Poisson rates, in both directions (a slow or stuck service serves fewer requests).

Trace structure, for the incident's traces that fail (an error line) or slow down (longer than
the baseline's 95th percentile for traces entering at the same service):

- deepest: in failing traces, the service that logged the first error (errors travel up the
  call chain, so the origin errs first); in slow traces, the last service to join (delay
  builds up below the callers, which wait);
- missing: services present in most baseline traces entering at the same service (at least
  half) but absent from the incident's failing or slow ones, beyond chance (exact binomial
  lower tail). A service that crashed or hung stops appearing in the requests it should serve.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import PermutationMethod, binom, mannwhitneyu

from tasks.baseline.frame import TraceSample, WindowedFrame, where
from tasks.baseline.stats import bh_qvalues, make_change, rate_increase_pvalues, sig
from tasks.contracts import ServiceStats
from tasks.settings import Settings

MIN_LATENCY_SAMPLES = 3  # per window, for a latency comparison
EXACT_MAX_SAMPLES = 16  # up to C(16, 8) = 12870 arrangements: enumerated exactly
LATENCY_MIN_RATIO = 1.5  # a latency rise smaller than this is not called significant
SLOW_QUANTILE = 0.95
MIN_ROOT_TRACES = 4  # baseline traces entering at a service, to call one slow or a member missing
MISSING_MIN_PRESENCE = 0.5
MISSING_ALPHA = 0.01
EXAMPLES = 2


@dataclass
class Latency:
    """One latency measure per service code: medians (ms), sample sizes and the test."""

    incident_ms: np.ndarray
    baseline_ms: np.ndarray
    n_incident: np.ndarray
    n_baseline: np.ndarray
    p: np.ndarray  # nan where untested
    q: np.ndarray
    significant: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Latency:
        nan = np.full(n, np.nan)
        zero = np.zeros(n, dtype=np.int64)
        return cls(nan, nan.copy(), zero, zero.copy(), nan.copy(), nan.copy(), np.zeros(n, bool))

    @property
    def ratio(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.incident_ms / self.baseline_ms


@dataclass
class TraceSignals:
    """Everything the traces say, per service code (arrays) or per incident."""

    traced_share: float  # share of window lines with a trace ID
    span: Latency
    gap: Latency
    traces_incident: np.ndarray  # traces per service
    traces_baseline: np.ndarray
    throughput_p_drop: np.ndarray  # p-value of "fewer traces per minute", nan if untested
    throughput_p_rise: np.ndarray
    n_failing: int = 0
    failing_deepest: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_slow: int = 0
    slow_deepest: np.ndarray = field(default_factory=lambda: np.zeros(0))
    slow_member: np.ndarray = field(default_factory=lambda: np.zeros(0))  # slow traces with it
    missing: np.ndarray = field(default_factory=lambda: np.zeros(0))  # affected traces lacking it
    missing_expected: np.ndarray = field(default_factory=lambda: np.zeros(0))  # ...that had it
    examples: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # (signal, svc)
    # Traces per trace analysed: 1.0 when every trace was; above, counts are of a sample.
    scale: float = 1.0
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Lines:
    """The traced lines in the windows, sorted by trace, time and view row."""

    trace: np.ndarray  # trace codes, numbered in order of first appearance in the view
    service: np.ndarray
    ts: np.ndarray
    error: np.ndarray
    row: np.ndarray  # view row
    incident: np.ndarray  # the line's trace starts in the incident window


@dataclass
class _Pairs:
    """One entry per (trace, service), in order of first appearance among the sorted lines."""

    trace: np.ndarray
    service: np.ndarray
    first: np.ndarray  # time of the service's first line in the trace
    last: np.ndarray
    lines: np.ndarray
    error: np.ndarray  # any error line
    erred: np.ndarray  # time of the first error line (int64 max if none)
    incident: np.ndarray
    row: np.ndarray  # view row of the first line


def _members(view: WindowedFrame, sample: TraceSample) -> _Lines | None:
    """One entry per traced line (of the sampled traces) in a window, as numpy arrays."""
    rows = sample.rows
    if rows.size == 0:
        return None
    trace, _ = pd.factorize(sample.keys)
    sample.rows = sample.keys = None  # the lines below replace them
    ts = view.ts[rows]
    # Rows are distinct, so this order is total.
    order = np.lexsort((rows, ts, trace))
    trace, ts, rows = trace[order], ts[order], rows[order]
    del order
    # A trace belongs to the window of its first line (a request straddling the boundary is
    # counted once).
    starts = np.flatnonzero(np.r_[True, trace[1:] != trace[:-1]])
    incident = np.repeat(view.window[rows[starts]] == 0, np.diff(np.r_[starts, trace.size]))
    return _Lines(trace, view.service[rows], ts, view.is_error[rows], rows, incident)


def _pairs(lines: _Lines, n: int, settings: Settings) -> tuple[_Pairs, Latency]:
    """The (trace, service) aggregates, and the call gaps, which need the lines.

    Consumes `lines`: each per-line array is dropped as soon as its per-pair counterpart
    exists (a trace has about as many services as lines), so the two never coexist whole.
    """
    size = lines.trace.size
    # One int64 key per line; a stable sort keeps each pair's lines in time order.
    key = lines.trace * (int(lines.service.max()) + 1) + lines.service
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    del key
    first_pos = order[starts]
    last_pos = order[np.r_[starts[1:], size] - 1]
    counts = np.diff(np.r_[starts, size])
    error = np.logical_or.reduceat(lines.error[order], starts)
    # Within a trace, lines are in time order, so the first error line is the earliest.
    erred = np.minimum.reduceat(
        np.where(lines.error[order], lines.ts[order], np.iinfo(np.int64).max), starts
    )
    del order, starts
    by_appearance = np.argsort(first_pos, kind="stable")
    first_pos, last_pos = first_pos[by_appearance], last_pos[by_appearance]
    counts, error, erred = counts[by_appearance], error[by_appearance], erred[by_appearance]
    del by_appearance
    first_of_service = np.zeros(size, dtype=bool)
    first_of_service[first_pos] = True
    gap = _gap(lines, first_of_service, n, settings)
    del first_of_service
    last = lines.ts[last_pos]
    del last_pos
    taken = {}
    for name in ("trace", "service", "ts", "incident", "row"):
        taken[name] = getattr(lines, name)[first_pos]
        setattr(lines, name, None)
    lines.error = None
    pairs = _Pairs(
        trace=taken["trace"],
        service=taken["service"],
        first=taken["ts"],
        last=last,
        lines=counts,
        error=error,
        erred=erred,
        incident=taken["incident"],
        row=taken["row"],
    )
    return pairs, gap


def _compare(
    service: np.ndarray, ms: np.ndarray, incident: np.ndarray, n_services: int, settings: Settings
) -> Latency:
    out = Latency.empty(n_services)
    tested = []
    for s in np.unique(service).tolist():
        mine = service == s
        a, b = ms[mine & incident], ms[mine & ~incident]
        out.n_incident[s], out.n_baseline[s] = a.size, b.size
        if a.size:
            out.incident_ms[s] = float(np.median(a))
        if b.size:
            out.baseline_ms[s] = float(np.median(b))
        if a.size >= MIN_LATENCY_SAMPLES and b.size >= MIN_LATENCY_SAMPLES:
            # Small samples (short windows): the exact permutation distribution, which also
            # copes with ties; otherwise scipy's normal approximation with tie correction.
            small = a.size + b.size <= EXACT_MAX_SAMPLES
            method = PermutationMethod(n_resamples=np.inf) if small else "asymptotic"
            out.p[s] = mannwhitneyu(a, b, alternative="greater", method=method).pvalue
            tested.append(s)
    if tested:
        out.q[tested] = bh_qvalues(out.p[tested])
        with np.errstate(invalid="ignore", divide="ignore"):
            big = out.incident_ms >= LATENCY_MIN_RATIO * out.baseline_ms
        out.significant = (out.q <= settings.significance_level) & big
    return out


def _span(pairs: _Pairs, n: int, settings: Settings) -> Latency:
    multi = pairs.lines >= 2
    return _compare(
        pairs.service[multi],
        (pairs.last[multi] - pairs.first[multi]) / 1000.0,
        pairs.incident[multi],
        n,
        settings,
    )


def _gap(lines: _Lines, first_of_service: np.ndarray, n: int, settings: Settings) -> Latency:
    # A call gap: the first line of a service in a trace, after a line of another service.
    trace, svc = lines.trace, lines.service
    entry = np.flatnonzero(
        np.r_[False, (trace[1:] == trace[:-1]) & (svc[1:] != svc[:-1])] & first_of_service
    )
    gap_ms = (lines.ts[entry] - lines.ts[entry - 1]) / 1000.0
    return _compare(svc[entry], gap_ms, lines.incident[entry], n, settings)


def _throughput(
    pairs: _Pairs, view: WindowedFrame, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    inc = np.bincount(pairs.service[pairs.incident], minlength=n).astype(float)
    base = np.bincount(pairs.service[~pairs.incident], minlength=n).astype(float)
    t_i, t_b = float(view.minutes[0]), view.baseline_minutes
    rise = np.full(n, np.nan)
    drop = np.full(n, np.nan)
    seen = (inc + base) > 0
    if t_i > 0 and t_b > 0 and seen.any():
        rise[seen] = rate_increase_pvalues(inc[seen], base[seen], t_i, t_b)
        drop[seen] = rate_increase_pvalues(base[seen], inc[seen], t_b, t_i)
        # "Fewer in the incident" is "more in the baseline"; a zero incident count is tested too.
        none = seen & (inc == 0)
        drop[none] = (t_b / (t_i + t_b)) ** base[none]
    return inc, base, drop, rise


def _first_per_trace(trace: np.ndarray) -> np.ndarray:
    """Index of the first entry of each run of equal trace codes."""
    return np.flatnonzero(np.r_[True, trace[1:] != trace[:-1]]) if trace.size else trace[:0]


def _add_examples(sig_: TraceSignals, signal: str, service: np.ndarray, row: np.ndarray) -> None:
    for s in np.unique(service).tolist():
        sig_.examples[(signal, int(s))] = row[service == s][:EXAMPLES].tolist()


def _structure(pairs: _Pairs, sig_: TraceSignals, n: int) -> None:
    """Deepest services and missing members in the incident's failing and slow traces."""
    # Pairs come grouped by trace, traces numbered 0, 1, ... in that order.
    starts = _first_per_trace(pairs.trace)
    size = np.diff(np.r_[starts, pairs.trace.size])  # services per trace
    t_incident = pairs.incident[starts]
    # A trace's first pair holds its first line: its service is where the trace entered.
    root = pairs.service[starts]
    duration = np.maximum.reduceat(pairs.last, starts) - np.minimum.reduceat(pairs.first, starts)

    failing_trace = np.zeros(starts.size, dtype=bool)
    failing_trace[pairs.trace[pairs.incident & pairs.error]] = True
    cand = np.flatnonzero(failing_trace[pairs.trace] & (size > 1)[pairs.trace] & pairs.error)
    cand = cand[np.lexsort((pairs.service[cand], pairs.erred[cand], pairs.trace[cand]))]
    deepest = cand[_first_per_trace(pairs.trace[cand])]
    sig_.n_failing = int(deepest.size)
    sig_.failing_deepest = np.bincount(pairs.service[deepest], minlength=n).astype(float)
    _add_examples(sig_, "failing", pairs.service[deepest], pairs.row[deepest])

    base = ~t_incident
    counts = np.bincount(root[base], minlength=n)
    slow_limit = np.full(n, np.nan)
    if base.any():
        # pandas' quantile, as before, so that the limits are the same to the last bit.
        limit = pd.Series(duration[base]).groupby(root[base]).quantile(SLOW_QUANTILE)
        at = limit.index.to_numpy()
        slow_limit[at] = np.where(counts[at] >= MIN_ROOT_TRACES, limit.to_numpy(), np.nan)
    slow_trace = t_incident & (duration > slow_limit[root]) & (size > 1)
    slow = np.flatnonzero(slow_trace[pairs.trace])
    ordered = slow[np.lexsort((pairs.service[slow], pairs.first[slow], pairs.trace[slow]))]
    last = ordered
    if ordered.size:
        last = ordered[np.r_[_first_per_trace(pairs.trace[ordered])[1:], ordered.size] - 1]
    sig_.n_slow = int(last.size)
    sig_.slow_deepest = np.bincount(pairs.service[last], minlength=n).astype(float)
    sig_.slow_member = np.bincount(pairs.service[slow], minlength=n).astype(float)
    _add_examples(sig_, "slow", pairs.service[last], pairs.row[last])

    # Missing members: per entry service, how often each service appears in baseline traces,
    # against how often it appears in the incident's failing or slow ones.
    affected = failing_trace | slow_trace
    if not affected.any():
        return
    # Pairs counted per (entry service, service), on one small integer key per pair.
    key = np.repeat(root.astype(np.int32 if n * n < 2**31 else np.int64) * n, size)
    key += pairs.service.astype(key.dtype, copy=False)
    in_base = np.bincount(key[~pairs.incident], minlength=n * n).reshape(n, n)
    in_affected = np.bincount(key[affected[pairs.trace]], minlength=n * n).reshape(n, n)
    del key
    n_affected = np.bincount(root[affected], minlength=n)
    for entry in np.flatnonzero(n_affected).tolist():
        n_base = int(counts[entry])
        if n_base < MIN_ROOT_TRACES:
            continue
        n_aff = int(n_affected[entry])
        for s in np.flatnonzero(in_base[entry]).tolist():
            share = in_base[entry, s] / n_base
            if share < MISSING_MIN_PRESENCE or s == entry:
                continue
            k = int(in_affected[entry, s])
            if binom.cdf(k, n_aff, share) < MISSING_ALPHA:
                sig_.missing[s] += n_aff - k
                sig_.missing_expected[s] += round(n_aff * share)


def trace_signals(view: WindowedFrame, settings: Settings) -> TraceSignals:
    """Latency, throughput and structure from the trace IDs in the windows (see the docstring)."""
    n = len(view.service_names)
    empty = Latency.empty(n)
    nan = np.full(n, np.nan)
    signals = TraceSignals(
        traced_share=0.0,
        span=empty,
        gap=Latency.empty(n),
        traces_incident=np.zeros(n),
        traces_baseline=np.zeros(n),
        throughput_p_drop=nan,
        throughput_p_rise=nan.copy(),
        failing_deepest=np.zeros(n),
        slow_deepest=np.zeros(n),
        slow_member=np.zeros(n),
        missing=np.zeros(n),
        missing_expected=np.zeros(n),
    )
    rows = where(view.traffic & (view.window >= 0))
    sample = view.sampled_traces(rows, settings.trace_sample_limit)
    signals.traced_share = sample.lines / rows.size if rows.size else 0.0
    del rows
    if not sample.exact:
        signals.scale = sample.scale
        signals.warnings.append(
            f"Trace figures are estimates from a uniform sample of {sample.sampled:,} of about "
            f"{sample.traces:,.0f} traces in the windows (trace_sample_limit): trace counts "
            "are of the sample, rates are scaled to all traces."
        )
    lines = _members(view, sample)
    if lines is None:
        return signals
    # The rest needs only the (trace, service) aggregates: _pairs lets the per-line arrays go.
    pairs, signals.gap = _pairs(lines, n, settings)
    del lines
    signals.span = _span(pairs, n, settings)
    (
        signals.traces_incident,
        signals.traces_baseline,
        signals.throughput_p_drop,
        signals.throughput_p_rise,
    ) = _throughput(pairs, view, n)
    _structure(pairs, signals, n)
    return signals


def _latency_change(lat: Latency, s: int) -> tuple[object, float | None, bool]:
    if np.isnan(lat.incident_ms[s]) and np.isnan(lat.baseline_ms[s]):
        return None, None, False
    inc = None if np.isnan(lat.incident_ms[s]) else float(lat.incident_ms[s])
    base = None if np.isnan(lat.baseline_ms[s]) else float(lat.baseline_ms[s])
    return make_change(inc, base), sig(lat.p[s]), bool(lat.significant[s])


def annotate_services(
    services: list[ServiceStats], view: WindowedFrame, signals: TraceSignals
) -> list[ServiceStats]:
    """The services table with the trace-derived columns filled in."""
    t_i, t_b = float(view.minutes[0]), view.baseline_minutes
    out = []
    for st in services:
        s = view.code_of(st.service)
        if s is None or signals.traces_incident[s] + signals.traces_baseline[s] == 0:
            out.append(st)
            continue
        span, span_p, span_sig = _latency_change(signals.span, s)
        gap, gap_p, gap_sig = _latency_change(signals.gap, s)
        p_drop, p_rise = signals.throughput_p_drop[s], signals.throughput_p_rise[s]
        out.append(
            st.model_copy(
                update={
                    "span_ms": span,
                    "span_p_value": span_p,
                    "span_slower": span_sig,
                    "call_gap_ms": gap,
                    "call_gap_p_value": gap_p,
                    "call_gap_slower": gap_sig,
                    "traces_per_min": make_change(
                        signals.scale * signals.traces_incident[s] / t_i if t_i > 0 else None,
                        signals.scale * signals.traces_baseline[s] / t_b if t_b > 0 else None,
                    ),
                    "traces_p_value": sig(np.nanmin([p_drop, p_rise]))
                    if not (np.isnan(p_drop) and np.isnan(p_rise))
                    else None,
                }
            )
        )
    return out
