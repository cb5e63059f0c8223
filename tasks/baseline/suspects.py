"""Which service most likely started the incident: the origin, not the loudest.

In a cascade the callers of a failing service are usually louder than the service itself: every
request they cannot serve becomes an error line, often several. Counting errors would blame the
victims, so the score weighs evidence of *origin* instead. Each component lies in [0, 1]:

======================  ======  ============================================================
component               weight  what it measures
======================  ======  ============================================================
onset order (O)          0.30   exp(-minutes after the first deviation of any service / 5);
                                half for a fall in log volume (the commonest side effect)
significant errors (E)   0.30   its error rate rose: 1 when significant after BH, else graded
                                by how far its q-value goes towards the level (log scale)
blame by callers (B)     0.25   services whose rising error lines name this one, directly or
                                through a chain (A names B, B names C: C is reached by both),
                                relative to the most-blamed service
deepest in traces (T)    0.15   share of failing multi-service requests (same trace ID) in
                                which this service is the deepest: by naming (it names no
                                other member) or by structure (the first to log an error)
change before onset (C)  0.15   a change touching the service before it deviated: kind weight
                                (code/config/infra 1, restart/scaling/other 0.5) times
                                exp(-minutes before onset / 30)
new error patterns (N)   0.15   new error patterns first seen in this service (2 or more: 1)
                                (E and N count only the error lines that name no other service)
latency (L)              0.10   own span or call gap grew (log2 of the median ratio, graded
                                by its Mann-Whitney q), or the deepest in slow requests
missing from traces (M)  0.05   share of failing or slow requests it vanished from
throughput (P)           0.05   fall in requests per minute, graded by its exact test
points elsewhere (D)    -0.20   share of its incident error lines that name another service
                                whose mentions rose: its errors are someone else's
======================  ======  ============================================================

An error line names a service when a known service name is one of its tokens, also inside a
host name (payments:8080, payments.prod.svc.cluster.local, a pod payments-7f9c8d5b4-x2v9q, a
k8s service payments-svc); absolute paths are skipped, being the caller's own routes. A
caller -> callee edge counts when such lines rose: at least 3 in the incident and at least
double the baseline rate, so that everyday "timeout calling X" noise blames nobody.

A service is a suspect only if it deviated (onset, new error patterns, or E, L or P at least
half way to significance) or callers blame it or it vanished from traces; blame (B, T and M)
counts three quarters for a service whose own logs show nothing unusual (a crashed or
unreachable service may log nothing at all, so blame still counts). When no service qualifies
(short windows: nothing significant), every service with graded evidence is ranked by the same
score instead of ranking nothing. The weights
are round numbers set on real incidents (bench/rca.py on 60 OpenStack fault injections), not on
the generator: there the service's own error evidence (E) had to weigh as much as onset order,
as the first round of weights (E 0.05) let services that merely went quiet outrank the one that
failed. AS@1 stayed the same over a wide range around the chosen values (E 0.3-0.4, O 0.2-0.3,
N 0.1-0.3, L 0.05-0.1), which is why round values were kept. Every reason a suspect gets names
the numbers behind it. Ties break by earlier onset, then by name, so the ranking is deterministic.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tasks.baseline.comparison import ERROR_RATE_MIN_RATIO
from tasks.baseline.frame import UNKNOWN_SERVICE, WindowedFrame, where
from tasks.baseline.onset import SIGNAL_VOLUME
from tasks.baseline.traces import TraceSignals
from tasks.contracts import ChangeEvent, Onset, PatternFinding, ServiceStats, Suspect

WEIGHTS = {
    "onset": 0.30,
    "blame": 0.25,
    "traces": 0.15,
    "change": 0.15,
    "new_patterns": 0.15,
    "errors": 0.30,
    "latency": 0.10,
    "missing": 0.05,
    "throughput": 0.05,
    "deflection": -0.20,
}
DEVIATION_MIN = 0.5
VOLUME_ONSET_FACTOR = 0.5  # a service going quiet is the commonest side effect of any incident
ONSET_DECAY_MINUTES = 5.0
CHANGE_DECAY_MINUTES = 30.0
CHANGE_LOOKBACK_MINUTES = 120.0
CHANGE_SKEW_SECONDS = 60.0  # CloudTrail and application clocks disagree by this much
CHANGE_KIND_WEIGHT = {
    "deploy": 1.0,
    "config": 1.0,
    "version": 1.0,
    "iam": 1.0,
    "network": 1.0,
    "database": 1.0,
    "restart": 0.5,
    "scaling": 0.5,
    "other": 0.5,
}
UNDEVIATED_BLAME_FACTOR = 0.75  # blame of a callee whose own logs look normal
MIN_BLAME_LINES = 3
BLAME_RISE = 2.0
MIN_CHAIN_TRACES = 3
MIN_NEW_PATTERN_COUNT = 3
MAX_SUSPECTS = 10
MAX_EVIDENCE = 12

# Host names carry a service name with decorations: pods (payments-7f9c8d5b4-x2v9q), k8s
# service suffixes (payments-svc), so these are stripped when the exact token is unknown.
_TOKEN_SPLIT = r"[^a-z0-9_\-]+"
_PATH = r"(^|[\s\"'=(\[])/[^\s\"')\]]*"
_DECORATION = r"(-[a-z0-9]{5,10}-[a-z0-9]{5}|-[a-z0-9]{5}|-(svc|service|headless|internal))$"


@dataclass
class _Blame:
    """Error lines naming another service: row -> named service (code)."""

    rows: np.ndarray
    callee: np.ndarray
    rising: set[tuple[int, int]] = field(default_factory=set)  # (caller, callee) edges
    counts: dict[tuple[int, int], int] = field(default_factory=dict)  # incident lines per edge


def _blameable(view: WindowedFrame) -> list[str | None]:
    """Lower-cased name per service code, None for those that cannot be blamed.

    Only services with log lines of their own count: CloudTrail rows name AWS services (ecs,
    ssm) that would otherwise match ordinary words, and "(unknown)" is nobody.
    """
    traffic = set(np.unique(view.service[view.traffic]).tolist())
    return [
        name.lower() if code in traffic and name != UNKNOWN_SERVICE else None
        for code, name in enumerate(view.service_names)
    ]


def _names_in(
    rows: np.ndarray, messages: pa.Array, names: list[str | None], alternation: str
) -> tuple[np.ndarray, np.ndarray]:
    """(row, service code) for every known service named as a token in one chunk of rows."""
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    messages = pc.utf8_lower(pc.fill_null(messages, ""))
    mentions = pc.match_substring_regex(messages, alternation).to_numpy(zero_copy_only=False)
    if not mentions.any():
        return empty
    rows = rows[mentions]
    # An absolute path is a route the service itself serves ("POST /api/checkout -> 502"), not
    # a service it calls; host names (payments:8080, http://payments/...) stay.
    messages = pc.replace_substring_regex(messages.filter(pa.array(mentions)), _PATH, r"\1")
    tokens = pc.split_pattern_regex(messages, _TOKEN_SPLIT)
    parent = pc.list_parent_indices(tokens).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(tokens)
    value_set = pa.array([n if n else "\x00" for n in names], flat.type)
    exact = pc.index_in(flat, value_set=value_set)
    stripped = pc.index_in(pc.replace_substring_regex(flat, _DECORATION, ""), value_set=value_set)
    code = pc.fill_null(pc.coalesce(exact, stripped), -1).to_numpy(zero_copy_only=False)
    hit = code >= 0
    return rows[parent[hit]].astype(np.int64), code[hit].astype(np.int64)


def _named_services(view: WindowedFrame, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, service code) for every known service a message names as a token, self excluded."""
    names = _blameable(view)
    candidates = [n for n in names if n]
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    if rows.size == 0 or not candidates:
        return empty
    # One cheap pass drops lines that mention no service at all before tokenising.
    alternation = "|".join(re.escape(n) for n in sorted(candidates, key=len, reverse=True))
    # Messages are read a batch at a time: incidents can have millions of error lines.
    found = [
        _names_in(part, chunk, names, alternation) for part, chunk in view.chunks("message", rows)
    ]
    row = np.concatenate([f[0] for f in found])
    callee = np.concatenate([f[1] for f in found])
    foreign = callee != view.service[row]
    if not foreign.any():
        return empty
    pairs = np.unique(np.stack([row[foreign], callee[foreign]]), axis=1)
    return pairs[0], pairs[1]


def find_blame(view: WindowedFrame) -> _Blame:
    """Error lines naming other services, and the caller->callee edges that rose in the incident."""
    error_rows = where(view.traffic & view.is_error & (view.window >= 0))
    rows, callee = _named_services(view, error_rows)
    blame = _Blame(rows=rows, callee=callee)
    t_i, t_b = float(view.minutes[0]), view.baseline_minutes
    n_services = len(view.service_names)
    edge = view.service[rows].astype(np.int64) * n_services + callee
    incident = view.window[rows] == 0
    inc_edges, inc_counts = np.unique(edge[incident], return_counts=True)
    base_edges, base_counts = np.unique(edge[~incident], return_counts=True)
    base = dict(zip(base_edges.tolist(), base_counts.tolist(), strict=True))
    for key, count in zip(inc_edges.tolist(), inc_counts.tolist(), strict=True):
        pair = divmod(key, n_services)
        blame.counts[pair] = count
        base_rate = base.get(key, 0) / t_b if t_b > 0 else 0.0
        if count >= MIN_BLAME_LINES and (base_rate == 0 or count / t_i >= BLAME_RISE * base_rate):
            blame.rising.add(pair)
    return blame


def blame_reach(edges: set[tuple[int, int]], n_services: int) -> np.ndarray:
    """For each service, how many others reach it along blame edges (caller -> callee)."""
    callees: dict[int, set[int]] = {}
    for caller, callee in edges:
        callees.setdefault(caller, set()).add(callee)
    reached_by = np.zeros(n_services)
    for start in callees:
        seen: set[int] = set()
        stack = [start]
        while stack:
            for nxt in callees.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        for node in seen - {start}:
            reached_by[node] += 1
    return reached_by


def _trace_members(view: WindowedFrame, blame: _Blame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Who is involved in each failing incident trace, and who names whom in it.

    Involved: services with error lines in the trace, and services those lines name. Each
    member comes with its first involvement (time and row). Only traces with 2+ members stay.
    """
    rows = where(view.traffic & view.is_error & (view.window == 0))
    keys, has_trace = view.trace_keys(rows)
    rows = rows[has_trace]
    trace_codes, _ = pd.factorize(keys[has_trace])
    erroring = pd.DataFrame(
        {"trace": trace_codes, "service": view.service[rows], "ts": view.ts[rows], "row": rows}
    )
    in_traces = np.isin(blame.rows, rows)
    naming_rows = blame.rows[in_traces]
    named = pd.DataFrame(
        {
            "trace": pd.Series(trace_codes, index=rows).loc[naming_rows].to_numpy(),
            "service": blame.callee[in_traces],
            "ts": view.ts[naming_rows],
            "row": naming_rows,
            "caller": view.service[naming_rows],
        }
    )
    members = (
        pd.concat([erroring, named.drop(columns="caller")])
        .sort_values(["trace", "ts", "service"], kind="stable")
        .drop_duplicates(["trace", "service"])
    )
    members = members[members.groupby("trace")["service"].transform("size") >= 2]
    namers = named[["trace", "caller"]].drop_duplicates().rename(columns={"caller": "service"})
    return members, namers


def trace_depth_credit(
    view: WindowedFrame, blame: _Blame
) -> tuple[np.ndarray, int, dict[int, list[int]]]:
    """Per service, in how many failing multi-service traces it is the deepest; and their count.

    A member whose error lines name another member is a caller, not the deepest. Of the rest,
    the first involved (first error, or first named) gets the credit: errors travel up the
    call chain, so the deepest failure is also the earliest. Also returns up to two example
    rows per credited service.
    """
    credit = np.zeros(len(view.service_names))
    members, namers = _trace_members(view, blame)
    n_chains = int(members["trace"].nunique())
    if n_chains == 0:
        return credit, 0, {}
    flagged = members.merge(namers.assign(caller=True), on=["trace", "service"], how="left")
    flagged["caller"] = flagged["caller"].fillna(False).astype(bool)
    # A cycle (each names the other) leaves no candidate; then everyone in the trace competes.
    any_free = (~flagged["caller"]).groupby(flagged["trace"]).transform("any")
    candidates = flagged[~flagged["caller"] | ~any_free]
    deepest = candidates.sort_values(["trace", "ts", "service"], kind="stable")
    deepest = deepest.drop_duplicates("trace")
    counts = deepest["service"].value_counts()
    credit[counts.index.to_numpy()] = counts.to_numpy()
    examples = deepest.groupby("service")["row"].apply(lambda r: r.head(2).tolist()).to_dict()
    return credit, n_chains, examples


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def _minutes(a: datetime, b: datetime) -> float:
    return (a - b).total_seconds() / 60.0


def _fmt_minutes(m: float) -> str:
    m = abs(m)
    return f"{m:.0f} min" if m >= 1 else f"{m * 60:.0f} s"


@dataclass
class _Candidate:
    service: int
    name: str
    parts: dict[str, float] = field(default_factory=dict)
    reasons: list[tuple[float, str]] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    onset: Onset | None = None
    deviated: bool = False
    listed: bool = False

    @property
    def score(self) -> float:
        return sum(WEIGHTS[k] * v for k, v in self.parts.items())


def _onset_part(cand: _Candidate, onsets: list[Onset]) -> None:
    if cand.onset is None:
        return
    first = onsets[0].at
    lag = _minutes(cand.onset.at, first)
    signal = cand.onset.signal
    factor = VOLUME_ONSET_FACTOR if signal == SIGNAL_VOLUME else 1.0
    cand.parts["onset"] = factor * math.exp(-max(lag, 0.0) / ONSET_DECAY_MINUTES)
    verb = "fell" if signal == SIGNAL_VOLUME else "rose"
    when = f"{cand.onset.at:%H:%M}"
    if lag <= 0:
        later = [o for o in onsets if o.service != cand.name and o.at > cand.onset.at]
        if later:
            gap = _fmt_minutes(_minutes(later[0].at, cand.onset.at))
            text = f"first to deviate: {signal} {verb} at {when}, {gap} before {later[0].service}"
        else:
            text = f"first to deviate: {signal} {verb} at {when}"
    else:
        text = f"deviated at {when} ({signal}), {_fmt_minutes(lag)} after {onsets[0].service}"
    cand.reasons.append((WEIGHTS["onset"] * cand.parts["onset"], text))
    cand.evidence += cand.onset.evidence_ids[:3]


def _blame_part(cand: _Candidate, view: WindowedFrame, blame: _Blame, reach: np.ndarray) -> None:
    if reach.max(initial=0) <= 0 or reach[cand.service] <= 0:
        return
    cand.parts["blame"] = reach[cand.service] / reach.max()
    direct = sorted(
        ((blame.counts[(c, s)], c) for c, s in blame.rising if s == cand.service), reverse=True
    )
    lines = sum(n for n, _ in direct)
    callers = ", ".join(f"{view.service_names[c]} ({n})" for n, c in direct[:4])
    text = f"named in {lines} rising error lines of {len(direct)} other service(s): {callers}"
    indirect = int(reach[cand.service]) - len(direct)
    if indirect > 0:
        text += f"; {indirect} more reach it through them"
    cand.reasons.append((WEIGHTS["blame"] * cand.parts["blame"], text))
    if direct:
        top = direct[0][1]
        mine = blame.rows[
            (blame.callee == cand.service)
            & (view.service[blame.rows] == top)
            & (view.window[blame.rows] == 0)
        ]
        cand.evidence += view.evidence(mine[:3])


def _trace_part(
    cand: _Candidate,
    view: WindowedFrame,
    credit: np.ndarray,
    n_chains: int,
    examples: dict[int, list[int]],
) -> None:
    if n_chains < MIN_CHAIN_TRACES or credit[cand.service] <= 0:
        return
    cand.parts["traces"] = credit[cand.service] / n_chains
    cand.reasons.append(
        (
            WEIGHTS["traces"] * cand.parts["traces"],
            f"the deepest failing service in {int(credit[cand.service])} of {n_chains} failing "
            "requests (trace IDs) that involve several services",
        )
    )
    cand.evidence += view.evidence(examples.get(cand.service, []))


def _change_part(cand: _Candidate, changes: list[ChangeEvent], reference: datetime | None) -> None:
    if reference is None:
        return
    best: tuple[float, ChangeEvent, float] | None = None
    for change in changes:
        if change.service != cand.name:
            continue
        before = _minutes(reference, change.at)
        if before < -CHANGE_SKEW_SECONDS / 60 or before > CHANGE_LOOKBACK_MINUTES:
            continue
        value = CHANGE_KIND_WEIGHT[change.kind] * math.exp(-max(before, 0) / CHANGE_DECAY_MINUTES)
        if best is None or value > best[0]:
            best = (value, change, before)
    if best is None:
        return
    value, change, before = best
    cand.parts["change"] = value
    by = f" by {change.actor}" if change.actor else ""
    cand.reasons.append(
        (
            WEIGHTS["change"] * value,
            f"changed shortly before it deviated: {change.kind}, {change.summary}{by} at "
            f"{change.at:%H:%M}, {_fmt_minutes(before)} before",
        )
    )
    cand.evidence += change.evidence_ids[:2]


def _pattern_part(cand: _Candidate, patterns: list[PatternFinding]) -> None:
    new = [
        p
        for p in patterns
        if p.is_new
        and p.level in ("error", "fatal")
        and cand.name in p.services
        and (p.is_spike or p.incident_count >= MIN_NEW_PATTERN_COUNT)
    ]
    if not new:
        return
    new.sort(key=lambda p: (p.first_seen or datetime.max, p.pattern_id))
    cand.parts["new_patterns"] = min(1.0, len(new) / 2)
    cand.reasons.append(
        (
            WEIGHTS["new_patterns"] * cand.parts["new_patterns"],
            f"{len(new)} new error pattern(s) never seen in the baseline, e.g. "
            f'"{new[0].template[:100]}" ({new[0].incident_count} lines)',
        )
    )
    cand.evidence += new[0].exemplars[:1]


def _errors_part(cand: _Candidate, stats: ServiceStats | None, alpha: float) -> None:
    if stats is None or stats.q_value is None or not stats.errors_incident:
        return
    rate = stats.error_rate
    if rate.baseline and (rate.incident or 0) < ERROR_RATE_MIN_RATIO * rate.baseline:
        return
    # Graded, so that a rise too short to reach significance still counts for something.
    value = 1.0 if stats.significant else _strength(stats.q_value, alpha)
    if value <= 0:
        return
    cand.parts["errors"] = value
    base = f"{rate.baseline:.2%}" if rate.baseline is not None else "n/a"
    cand.reasons.append(
        (
            WEIGHTS["errors"] * value,
            f"error rate {base} → {rate.incident:.2%} ({stats.errors_incident} error lines, "
            f"q = {stats.q_value:.2g})",
        )
    )


def _deflection_part(cand: _Candidate, view: WindowedFrame, blame: _Blame) -> None:
    errors = int(
        np.count_nonzero(
            view.traffic & view.is_error & (view.window == 0) & (view.service == cand.service)
        )
    )
    targets = {callee for caller, callee in blame.rising if caller == cand.service}
    if errors == 0 or not targets:
        return
    mine = (
        (view.service[blame.rows] == cand.service)
        & (view.window[blame.rows] == 0)
        & np.isin(blame.callee, list(targets))
    )
    share = len(np.unique(blame.rows[mine])) / errors
    cand.parts["deflection"] = share
    top = max(targets, key=lambda t: (blame.counts.get((cand.service, t), 0), -t))
    cand.reasons.append(
        (
            WEIGHTS["deflection"] * share,
            f"{share:.0%} of its own error lines name another service (mostly "
            f"{view.service_names[top]}): its errors look like someone else's",
        )
    )


def _strength(p: float, alpha: float) -> float:
    """How far a p-value goes towards significance: 0 at p = 1, 1 at p <= alpha (log scale).

    With short windows and few lines nothing may reach alpha; this keeps the evidence graded
    instead of all or nothing, so the ranking still orders services by what they show.
    """
    if p is None or not np.isfinite(p):
        return 0.0
    return float(np.clip(math.log10(max(p, 1e-300)) / math.log10(alpha), 0.0, 1.0))


def _latency_part(
    cand: _Candidate, view: WindowedFrame, signals: TraceSignals, alpha: float
) -> None:
    """Its own span or its call gap grew (Mann-Whitney), or it sits last in the slow traces."""
    best = (0.0, "")
    s = cand.service
    # A caller's span grows while it waits for a slow callee: in the slow requests where
    # another service sits deeper, its span is not its own latency.
    waiting = 0.0
    if signals.n_slow:
        waiting = (signals.slow_member[s] - signals.slow_deepest[s]) / signals.n_slow
    for lat, what, factor in (
        (signals.span, "own span", 1.0 - waiting),
        (signals.gap, "call gap", 1.0),
    ):
        ratio = lat.ratio[s]
        if not np.isfinite(ratio) or ratio <= 1.0:
            continue
        effect = min(1.0, math.log2(ratio))  # 1 at a doubling
        value = effect * _strength(lat.q[s], alpha) * max(factor, 0.0)
        if value > best[0]:
            text = (
                f"{what} per request (median, from trace IDs) {lat.baseline_ms[s]:.0f} ms → "
                f"{lat.incident_ms[s]:.0f} ms over {int(lat.n_incident[s])} requests "
                f"(Mann-Whitney q = {lat.q[s]:.2g})"
            )
            best = (value, text)
    if signals.n_slow >= MIN_CHAIN_TRACES and signals.slow_deepest[s] > 0:
        share = signals.slow_deepest[s] / signals.n_slow
        if share > best[0]:
            best = (
                share,
                f"the deepest service in {int(signals.slow_deepest[s])} of "
                f"{signals.n_slow} requests slower than the baseline's 95th percentile",
            )
            cand.evidence += view.evidence(signals.examples.get(("slow", s), []))
    if best[0] <= 0:
        return
    cand.parts["latency"] = best[0]
    cand.reasons.append((WEIGHTS["latency"] * best[0], best[1]))


def _missing_part(cand: _Candidate, signals: TraceSignals) -> None:
    """It vanished from the failing or slow requests it normally takes part in."""
    missing = signals.missing[cand.service]
    expected = signals.missing_expected[cand.service]
    if missing <= 0 or expected <= 0:
        return
    cand.parts["missing"] = min(1.0, missing / expected)
    cand.reasons.append(
        (
            WEIGHTS["missing"] * cand.parts["missing"],
            f"absent from {int(missing)} failing or slow requests where the baseline would "
            f"have had it in about {int(expected)}",
        )
    )


def _throughput_part(
    cand: _Candidate, view: WindowedFrame, signals: TraceSignals, alpha: float
) -> None:
    """It served significantly fewer requests (traces) per minute."""
    s = cand.service
    t_i, t_b = float(view.minutes[0]), view.baseline_minutes
    if t_i <= 0 or t_b <= 0 or signals.traces_baseline[s] == 0:
        return
    before = signals.traces_baseline[s] / t_b
    now = signals.traces_incident[s] / t_i
    if now >= before:
        return
    value = (1.0 - now / before) * _strength(signals.throughput_p_drop[s], alpha)
    if value <= 0:
        return
    cand.parts["throughput"] = value
    cand.reasons.append(
        (
            WEIGHTS["throughput"] * value,
            f"requests (trace IDs) per minute fell from {before:.1f} to {now:.1f} "
            f"(exact test p = {signals.throughput_p_drop[s]:.2g})",
        )
    )


def _structure_depth(cand: _Candidate, view: WindowedFrame, signals: TraceSignals) -> None:
    """The deepest erring service of the failing requests, by who joined the trace last."""
    if signals.n_failing < MIN_CHAIN_TRACES or signals.failing_deepest[cand.service] <= 0:
        return
    if cand.parts.get("deflection", 0.0) >= 0.5:  # its errors name a callee: not the deepest
        return
    share = signals.failing_deepest[cand.service] / signals.n_failing
    if share <= cand.parts.get("traces", 0.0):
        return
    cand.parts["traces"] = share
    cand.reasons.append(
        (
            WEIGHTS["traces"] * share,
            f"the deepest failing service in {int(signals.failing_deepest[cand.service])} of "
            f"{signals.n_failing} failing requests that involve several services (the first "
            "to log an error in each)",
        )
    )
    cand.evidence += view.evidence(signals.examples.get(("failing", cand.service), []))


def _own_deviation(cand: _Candidate, stats: ServiceStats | None) -> bool:
    return (
        cand.onset is not None
        or bool(stats and stats.significant)
        or "new_patterns" in cand.parts
        # Graded parts count as a deviation only once they are most of the way to significance.
        or any(cand.parts.get(k, 0.0) >= DEVIATION_MIN for k in ("errors", "latency", "throughput"))
    )


def _breakdown(cand: _Candidate) -> str:
    """ "0.30 onset + 0.25 blame − 0.13 deflection": the score, term by term."""
    terms = sorted(((WEIGHTS[k] * v, k) for k, v in cand.parts.items()), key=lambda t: -t[0])
    text = ""
    for value, name in terms:
        sign = "" if not text else (" + " if value >= 0 else " − ")
        if not text and value < 0:
            sign = "− "
        text += f"{sign}{abs(value):.2f} {name.replace('_', ' ')}"
    return text


def _suspect(cand: _Candidate, rank: int) -> Suspect:
    reasons = [text for _, text in sorted(cand.reasons, key=lambda r: -abs(r[0]))]
    score = max(cand.score, 0.0)
    reasons.append(f"score {score:.2f} = {_breakdown(cand)}")
    return Suspect(
        service=cand.name,
        rank=rank,
        score=round(score, 3),
        reasons=reasons,
        evidence_ids=list(dict.fromkeys(cand.evidence))[:MAX_EVIDENCE],
        parts={k: round(v, 4) for k, v in cand.parts.items()},
    )


def _score_services(
    view: WindowedFrame,
    services: list[ServiceStats],
    patterns: list[PatternFinding],
    onsets: list[Onset],
    changes: list[ChangeEvent],
    signals: TraceSignals,
    alpha: float,
) -> list[_Candidate]:
    """Every service with its score components, unfiltered and unsorted."""
    n_services = len(view.service_names)
    stats = {s.service: s for s in services}
    by_service = {o.service: o for o in onsets}
    blame = find_blame(view)
    reach = blame_reach(blame.rising, n_services)
    credit, n_chains, examples = trace_depth_credit(view, blame)
    first_onset = onsets[0].at if onsets else None

    candidates = []
    for code, name in enumerate(view.service_names):
        if name == UNKNOWN_SERVICE:
            continue
        cand = _Candidate(code, name, onset=by_service.get(name))
        st = stats.get(name)
        _onset_part(cand, onsets)
        _blame_part(cand, view, blame, reach)
        _trace_part(cand, view, credit, n_chains, examples)
        _change_part(cand, changes, cand.onset.at if cand.onset else first_onset)
        _pattern_part(cand, patterns)
        _errors_part(cand, st, alpha)
        _deflection_part(cand, view, blame)
        # Error lines that name the service they failed to reach are evidence against that
        # service, not this one: its own error evidence counts only for the rest.
        own = 1.0 - cand.parts.get("deflection", 0.0)
        for part in ("errors", "new_patterns"):
            if part in cand.parts:
                cand.parts[part] *= own
        _structure_depth(cand, view, signals)
        _latency_part(cand, view, signals, alpha)
        _missing_part(cand, signals)
        _throughput_part(cand, view, signals, alpha)
        cand.deviated = _own_deviation(cand, st)
        cand.listed = bool(cand.deviated or reach[code] > 0 or "missing" in cand.parts)
        if not cand.deviated:
            for part in ("blame", "traces", "missing"):
                if part in cand.parts:
                    cand.parts[part] *= UNDEVIATED_BLAME_FACTOR
            if any(p in cand.parts for p in ("blame", "traces", "missing")):
                cand.reasons.append(
                    (0.0, "its own logs show no deviation, so the blame counts three quarters")
                )
        candidates.append(cand)
    return candidates


def rank_suspects(
    view: WindowedFrame,
    services: list[ServiceStats],
    patterns: list[PatternFinding],
    onsets: list[Onset],
    changes: list[ChangeEvent],
    signals: TraceSignals,
    alpha: float,
) -> list[Suspect]:
    """Services ranked by how likely each is the incident's origin (see the module docstring).

    A suspect must have deviated or be blamed. When no service qualifies (short windows, few
    lines: nothing significant), the services with any graded evidence are ranked instead, by
    the same score, rather than ranking nothing.
    """
    scored = _score_services(view, services, patterns, onsets, changes, signals, alpha)
    candidates = [c for c in scored if c.listed]
    if not candidates:
        candidates = [c for c in scored if c.score > 0]
    candidates.sort(
        key=lambda c: (-round(c.score, 6), c.onset.at.timestamp() if c.onset else math.inf, c.name)
    )
    return [_suspect(cand, rank) for rank, cand in enumerate(candidates[:MAX_SUSPECTS], start=1)]
