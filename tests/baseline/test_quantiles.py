"""Exact grouped percentiles by radix selection: numpy's result to the bit, in bounded memory."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest

import tasks.baseline.quantiles as quantiles_mod
from tasks.baseline.quantiles import grouped_percentiles_in_passes, sortable_keys, values_of

QUANTILES = (0.5, 0.95, 0.99)


def _numpy(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.full((n_groups, len(QUANTILES)), np.nan)
    for g in range(n_groups):
        mine = values[(groups == g) & ~np.isnan(values)]
        if mine.size:
            out[g] = np.percentile(mine, [q * 100 for q in QUANTILES])
    return out


class Passes:
    """The values in `parts` pieces, the same on every pass; counts the passes."""

    def __init__(self, groups: np.ndarray, values: np.ndarray, parts: int = 3) -> None:
        self.groups, self.values, self.parts, self.calls = groups, values, parts, 0

    def __call__(self):
        self.calls += 1
        bounds = np.linspace(0, len(self.values), self.parts + 1).astype(int)
        for lo, hi in itertools.pairwise(bounds):
            yield self.groups[lo:hi], self.values[lo:hi]


def _values(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "lognormal":
        return rng.lognormal(3, 1, n)
    if kind == "few distinct":
        return rng.integers(0, 5, n).astype(float)
    if kind == "signed, rounded":
        return np.round(rng.normal(0, 100, n), 3)
    if kind == "with nan":
        v = rng.lognormal(3, 1, n)
        v[rng.random(n) < 0.3] = np.nan
        return v
    if kind == "all equal":
        return np.full(n, 7.25)
    edges = [np.inf, -np.inf, -0.0, 0.0, 1e-300, 5e-324, -5e-324, 1.7e308]
    return np.concatenate([edges, rng.normal(0, 1, n)])[:n]


KINDS = ["lognormal", "few distinct", "signed, rounded", "with nan", "all equal", "edges"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("keep", "cells"), [(1 << 20, 1 << 20), (8, 64), (1, 2)], ids=["default", "small", "tiny"]
)
def test_the_same_as_numpy_whichever_path_it_takes(
    kind: str, keep: int, cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small budgets force the counting passes that narrow the buckets bit by bit.
    monkeypatch.setattr(quantiles_mod, "KEEP", keep)
    monkeypatch.setattr(quantiles_mod, "CELLS", cells)
    rng = np.random.default_rng(len(kind) + keep)
    for n_groups, n in [(1, 1), (1, 2), (3, 0), (5, 40), (17, 3000)]:
        groups = rng.integers(0, n_groups, n)
        values = _values(kind, n, rng)
        passes = Passes(groups, values)
        with np.errstate(invalid="ignore"):
            expected = _numpy(groups, values, n_groups)
        result, counts = grouped_percentiles_in_passes(passes, n_groups, QUANTILES)
        assert np.array_equal(result, expected, equal_nan=True), (kind, n_groups, n)
        ok = ~np.isnan(values)
        assert counts.tolist() == np.bincount(groups[ok], minlength=n_groups).tolist()
        if keep == 1 and n > 40 and kind != "all equal":
            assert passes.calls > 2  # the narrowing passes ran


def test_keys_sort_as_the_values_and_come_back_exactly() -> None:
    values = np.array([-np.inf, -1e308, -2.5, -5e-324, 0.0, 5e-324, 1.0, 2.5, 1e308, np.inf])
    keys = sortable_keys(values)
    assert np.all(np.diff(keys.astype(object)) > 0)
    assert np.array_equal(values_of(keys), values)
    # -0.0 is 0.0, as it is for numpy's sort.
    assert sortable_keys(np.array([-0.0]))[0] == sortable_keys(np.array([0.0]))[0]


def _traced_peak(n_parts: int, part: int = 1 << 16) -> int:
    def passes():
        for i in range(n_parts):
            rng = np.random.default_rng(i)
            yield rng.integers(0, 4, part), rng.lognormal(3, 1.2, part).round(3)

    tracemalloc.start()
    try:
        _, counts = grouped_percentiles_in_passes(passes, 4, QUANTILES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counts.sum() == n_parts * part
    return peak


def test_memory_follows_the_budgets_not_the_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 and 4 million values (8 and 32 MB), made part by part on the fly: the call's peak is
    the same for both, and below the values' size (what it holds besides the budgets is a part's
    worth of temporaries)."""
    monkeypatch.setattr(quantiles_mod, "KEEP", 1 << 16)
    monkeypatch.setattr(quantiles_mod, "CELLS", 1 << 16)
    small, large = _traced_peak(16), _traced_peak(64)
    assert large < 1.2 * small + 2**20, (small, large)
    assert large < 16 * 2**20, large  # the values alone are 32 MB
