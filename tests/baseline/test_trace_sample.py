"""The bounded trace sample (`trace_sample_limit`): exact up to the limit, a uniform bottom-k
sample above it whose estimates stay within their binomial error, and said so in the findings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tasks.baseline import build_findings
from tasks.baseline.frame import _BottomK, window_view
from tasks.baseline.traces import trace_signals
from tasks.contracts import object_id
from tasks.settings import Settings
from tests.baseline.test_traces import each_minute, shop, windows
from tests.frames import Logs


def _hashes(ids: list[str]) -> np.ndarray:
    # The same hash as the view's trace keys.
    return pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)


def _population(n_traces: int, lines_per_trace: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(line rows, trace hash per line): trace t owns rows t*L .. t*L+L-1."""
    hashes = _hashes([f"trace-{t:06d}" for t in range(n_traces)])
    return np.arange(n_traces * lines_per_trace), np.repeat(hashes, lines_per_trace)


def _feed(rows: np.ndarray, keys: np.ndarray, limit: int, batch: int):
    sampler = _BottomK(limit, np.int32)
    for start in range(0, rows.size, batch):
        sampler.add(rows[start : start + batch], keys[start : start + batch])
    return sampler.result()


def test_up_to_the_limit_every_line_is_kept_and_nothing_is_estimated() -> None:
    rows, keys = _population(500)
    sample = _feed(rows, keys, limit=500, batch=64)
    assert sample.exact and sample.sampled == sample.traces == 500 and sample.scale == 1.0
    assert np.array_equal(sample.rows, rows) and np.array_equal(sample.keys, keys)
    assert sample.lines == rows.size


def test_above_the_limit_the_traces_with_the_smallest_hashes_are_kept_whole() -> None:
    rows, keys = _population(100_000)
    limit = 1_000
    sample = _feed(rows, keys, limit=limit, batch=5_000)
    smallest = np.sort(np.unique(keys))[:limit]
    assert not sample.exact and sample.sampled == limit
    assert np.array_equal(np.unique(sample.keys), smallest)
    # Every line of a sampled trace, and no other.
    assert np.array_equal(sample.rows, rows[np.isin(keys, smallest)])
    assert sample.lines == rows.size
    # The same sample whatever the batches (the pass prunes at different moments).
    again = _feed(rows, keys, limit=limit, batch=777)
    assert np.array_equal(again.rows, sample.rows)
    # The "k minimum values" estimate of the trace count: relative error about 1/sqrt(k).
    assert abs(sample.traces / 100_000 - 1) <= 4 / math.sqrt(limit)


@pytest.mark.parametrize("share", [0.02, 0.3, 0.5])
def test_a_sampled_share_stays_within_its_binomial_bound(share: float) -> None:
    """Traces marked (say, failing) with a known share: the sample's share is within 4 sigma."""
    n, k = 60_000, 2_000
    rng = np.random.default_rng(11)
    marked_traces = rng.random(n) < share
    truth = marked_traces.mean()
    rows, keys = _population(n, lines_per_trace=1)
    sample = _feed(rows, keys, limit=k, batch=4_096)
    observed = marked_traces[sample.rows].mean()
    # Without replacement: the finite-population correction narrows the bound.
    sigma = math.sqrt(truth * (1 - truth) / k * (n - k) / (n - 1))
    assert abs(observed - truth) <= 4 * sigma, (observed, truth, sigma)
    # And the sample is not the first k traces: a sample of IDs in order would be biased here.
    assert not np.array_equal(sample.rows, np.arange(k))


def _slow_pricing() -> tuple[Logs, object]:
    logs = Logs()
    w = windows(10)
    shop(logs, w.baselines[0].start, 10, 12, pricing_ms=20)
    shop(logs, w.incident.start, 10, 12, pricing_ms=900)
    return logs, w


def test_findings_are_identical_when_the_traces_fit_the_limit() -> None:
    logs, w = _slow_pricing()  # 240 traces
    frame = logs.frame()
    exact = build_findings(frame, w, "INC-1", Settings(trace_sample_limit=240))
    default = build_findings(frame, w, "INC-1", Settings())
    drop = {"settings"}
    assert exact.model_dump(exclude=drop) == default.model_dump(exclude=drop)
    assert not any("sample" in warning for warning in exact.warnings)


def test_a_small_sample_keeps_the_top_suspect_and_says_it_is_a_sample() -> None:
    logs, w = _slow_pricing()
    findings = build_findings(logs.frame(), w, "INC-1", Settings(trace_sample_limit=80))
    assert findings.suspects[0].service == "pricing"
    (warning,) = [x for x in findings.warnings if "sample" in x]
    assert "80 of about" in warning and "trace_sample_limit" in warning
    pricing = next(s for s in findings.services if s.service == "pricing")
    assert pricing.call_gap_slower
    # Rates are scaled back to all traces: 12 a minute, within the sample's error.
    assert pricing.traces_per_min is not None
    assert abs(pricing.traces_per_min.incident - 12) <= 12 * 4 / math.sqrt(80) + 12 * 0.5


def test_a_small_sample_keeps_the_deepest_failing_service() -> None:
    logs = Logs()
    w = windows(10)
    shop(logs, w.baselines[0].start, 10, 6, pricing_ms=20)
    for second in range(0, 60, 6):
        each_minute(
            logs,
            w.incident.start + pd.Timedelta(seconds=second),
            [
                ("gateway", 0.0, "GET /cart received", "info"),
                ("cart", 5.0, "loading cart", "info"),
                ("pricing", 10, "NullPointerException in PriceRule.apply", "error"),
                ("cart", 15, "pricing call failed: HTTP 500", "error"),
                ("gateway", 20, "GET /cart 502", "error"),
            ],
        )
    view = window_view(logs.frame(), w)
    full = trace_signals(view, Settings())
    part = trace_signals(view, Settings(trace_sample_limit=40))
    assert full.n_failing == 100 and full.scale == 1.0 and not full.warnings
    assert 0 < part.n_failing < 40 and part.scale > 1.0 and part.warnings
    pricing = view.code_of("pricing")
    assert int(np.argmax(part.failing_deepest)) == pricing
    assert part.failing_deepest[pricing] == part.n_failing


def test_line_numbers_and_statuses_that_do_not_fit_small_integers_are_kept_whole() -> None:
    logs = Logs()
    w = windows(5)
    logs.add(w.incident.start, "cart", "a", status=70_000)
    logs.add(w.incident.start, "cart", "b", status=503)
    frame = logs.frame()
    frame.loc[0, "line"] = 2**40
    view = window_view(frame, w)
    assert sorted(view.lines.locate(view.orig)[1].tolist()) == [2, 2**40]
    # Both are errors; only the real HTTP status counts in the status mix.
    assert view.is_error.tolist() == [True, True]
    assert view.status_lines.tolist() == [[0, 0, 503, 1]]
    fitting = Logs()
    fitting.add(w.incident.start, "cart", "b", status=503)
    small = window_view(fitting.frame(), w)
    assert small.lines.locate(small.orig)[1].tolist() == [1]


def test_service_and_object_codes_fall_back_to_int32_when_int16_cannot_hold_them() -> None:
    w = windows(5)
    few = Logs()
    few.add(w.incident.start, "cart", "a")
    small = window_view(few.frame(), w)
    assert {small.service.dtype, small.lines.obj.dtype} == {np.dtype(np.int16)}
    # 40,000 objects and instances, each with one line: codes above 32,767 must stay exact.
    many = Logs()
    for i in range(40_000):
        many.add(w.incident.start, "cart", f"line {i}", instance=f"cart-{i}")
    frame = many.frame()
    frame["object_key"] = [f"logs/cart-{i:05d}.log" for i in range(len(frame))]
    view = window_view(frame, w)
    assert view.lines.obj.dtype == np.int32
    assert len(set(view.evidence(np.arange(len(view.ts))))) == 40_000
    # Instances are read for the rows that need them (changes), not held by the view.
    rows = np.arange(len(view.ts))
    codes, instance_names = view.value_codes("instance", rows)
    names = np.asarray(instance_names, dtype=object)[codes]
    assert len(set(names.tolist())) == 40_000 and codes.max() == 40_000
    last = int(np.flatnonzero(names == "cart-39999")[0])
    obj, _ = view.lines.locate(view.orig[[last]])
    assert view.object_ids[obj[0]] == object_id("app", "logs/cart-39999.log")
