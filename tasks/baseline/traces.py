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

from tasks.baseline.frame import WindowedFrame
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


def _members(view: WindowedFrame) -> pd.DataFrame | None:
    """One row per traced line in a window: trace code, service, time, error, view row."""
    rows = np.flatnonzero(view.traffic & (view.window >= 0))
    if rows.size == 0:
        return None
    keys, has_trace = view.trace_keys()
    valid = has_trace[rows]
    if not valid.any():
        return None
    rows = rows[valid]
    codes, _ = pd.factorize(keys[rows])
    df = pd.DataFrame(
        {
            "trace": codes,
            "service": view.service[rows],
            "ts": view.ts[rows],
            "error": view.is_error[rows],
            "row": rows,
        }
    )
    # A trace belongs to the window of its first line (a request straddling the boundary is
    # counted once).
    first_window = view.window[rows][df.groupby("trace")["ts"].transform("idxmin").to_numpy()]
    df["incident"] = first_window == 0
    return df.sort_values(["trace", "ts", "row"], kind="stable").reset_index(drop=True)


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


def _spans_and_gaps(df: pd.DataFrame, n: int, settings: Settings) -> tuple[Latency, Latency]:
    grouped = df.groupby(["trace", "service"], sort=False)
    per = grouped.agg(first=("ts", "first"), last=("ts", "last"), lines=("ts", "size"))
    per = per.reset_index()
    per["incident"] = grouped["incident"].first().to_numpy()
    multi = per[per["lines"] >= 2]
    span = _compare(
        multi["service"].to_numpy(),
        (multi["last"] - multi["first"]).to_numpy() / 1000.0,
        multi["incident"].to_numpy(),
        n,
        settings,
    )
    # A call gap: the first line of a service in a trace, after a line of another service.
    same_trace = np.r_[False, df["trace"].to_numpy()[1:] == df["trace"].to_numpy()[:-1]]
    svc = df["service"].to_numpy()
    prev_svc = np.r_[-1, svc[:-1]]
    first_of_service = ~df.duplicated(["trace", "service"]).to_numpy()
    entry = same_trace & first_of_service & (prev_svc != svc)
    ts = df["ts"].to_numpy()
    gap_ms = (ts - np.r_[ts[0], ts[:-1]]) / 1000.0
    gap = _compare(svc[entry], gap_ms[entry], df["incident"].to_numpy()[entry], n, settings)
    return span, gap


def _throughput(
    df: pd.DataFrame, view: WindowedFrame, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    pairs = df.drop_duplicates(["trace", "service"])
    inc = np.bincount(pairs["service"][pairs["incident"]], minlength=n).astype(float)
    base = np.bincount(pairs["service"][~pairs["incident"]], minlength=n).astype(float)
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


def _structure(df: pd.DataFrame, sig_: TraceSignals, n: int) -> None:
    """Deepest services and missing members in the incident's failing and slow traces."""
    per = (
        df.groupby(["trace", "service"], sort=False)
        .agg(
            first=("ts", "first"),
            last=("ts", "last"),
            error=("error", "any"),
            incident=("incident", "first"),
            row=("row", "first"),
        )
        .reset_index()
    )
    bounds = per.groupby("trace").agg(start=("first", "min"), end=("last", "max"))
    per = per.join(bounds, on="trace")
    root = per.sort_values(["trace", "first"], kind="stable").drop_duplicates("trace")
    root = root.set_index("trace")["service"]
    per["root"] = per["trace"].map(root)
    per["duration"] = per["end"] - per["start"]
    traces = per.drop_duplicates("trace").set_index("trace")
    n_services_in = per.groupby("trace")["service"].size()
    traces["size"] = n_services_in

    failing_ids = per.loc[per["incident"] & per["error"], "trace"].unique()
    failing = per[per["trace"].isin(failing_ids) & per["trace"].map(n_services_in).gt(1)]
    errors = df[df["error"] & df["trace"].isin(failing["trace"].unique())]
    first_error = errors.groupby(["trace", "service"], sort=False)["ts"].min().rename("erred")
    deepest = (
        failing[failing["error"]]
        .join(first_error, on=["trace", "service"])
        .sort_values(["trace", "erred", "service"], kind="stable")
        .drop_duplicates("trace", keep="first")
    )
    sig_.n_failing = int(deepest["trace"].nunique())
    sig_.failing_deepest = np.bincount(deepest["service"], minlength=n).astype(float)
    for s, rows in deepest.groupby("service")["row"]:
        sig_.examples[("failing", int(s))] = rows.head(EXAMPLES).tolist()

    base = traces[~traces["incident"]]
    counts = base.groupby("root").size()
    slow_limit = base.groupby("root")["duration"].quantile(SLOW_QUANTILE)
    slow_limit = slow_limit[counts >= MIN_ROOT_TRACES]
    inc = traces[traces["incident"] & traces["root"].isin(slow_limit.index)]
    slow_ids = inc.index[
        (inc["duration"].to_numpy() > inc["root"].map(slow_limit).to_numpy())
        & (inc["size"].to_numpy() > 1)
    ]
    slow = per[per["trace"].isin(slow_ids)]
    last = slow.sort_values(["trace", "first", "service"], kind="stable").drop_duplicates(
        "trace", keep="last"
    )
    sig_.n_slow = int(last["trace"].nunique())
    sig_.slow_deepest = np.bincount(last["service"], minlength=n).astype(float)
    sig_.slow_member = np.bincount(slow["service"], minlength=n).astype(float)
    for s, rows in last.groupby("service")["row"]:
        sig_.examples[("slow", int(s))] = rows.head(EXAMPLES).tolist()

    # Missing members: per entry service, how often each service appears in baseline traces,
    # against how often it appears in the incident's failing or slow ones.
    affected_ids = np.union1d(failing_ids, slow_ids)
    affected = traces.loc[traces.index.isin(affected_ids)]
    if affected.empty:
        return
    base_members = per[~per["incident"]]
    for entry, group in affected.groupby("root"):
        n_base = int(counts.get(entry, 0))
        if n_base < MIN_ROOT_TRACES:
            continue
        present_b = base_members[base_members["root"] == entry].groupby("service").size() / n_base
        present_b = present_b[(present_b >= MISSING_MIN_PRESENCE) & (present_b.index != entry)]
        if present_b.empty:
            continue
        members = per[per["trace"].isin(group.index)]
        n_aff = len(group)
        for s, share in present_b.items():
            k = int((members["service"] == s).sum())
            if binom.cdf(k, n_aff, share) < MISSING_ALPHA:
                sig_.missing[int(s)] += n_aff - k
                sig_.missing_expected[int(s)] += round(n_aff * share)


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
    df = _members(view)
    if df is None:
        return signals
    in_windows = int(np.count_nonzero(view.traffic & (view.window >= 0)))
    signals.traced_share = len(df) / in_windows if in_windows else 0.0
    signals.span, signals.gap = _spans_and_gaps(df, n, settings)
    (
        signals.traces_incident,
        signals.traces_baseline,
        signals.throughput_p_drop,
        signals.throughput_p_rise,
    ) = _throughput(df, view, n)
    _structure(df, signals, n)
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
                        signals.traces_incident[s] / t_i if t_i > 0 else None,
                        signals.traces_baseline[s] / t_b if t_b > 0 else None,
                    ),
                    "traces_p_value": sig(np.nanmin([p_drop, p_rise]))
                    if not (np.isnan(p_drop) and np.isnan(p_rise))
                    else None,
                }
            )
        )
    return out
