"""The baseline stage's statistics: the incident window against normal windows, deterministically.

Every number in the postmortem comes from here. Per service and per log pattern we count lines
and errors in the incident window and in the pooled baselines, normalise by window length, and
test whether the incident rate is higher than chance allows.

The significance test
---------------------
For a count k_i in the incident window (exposure t_i) against k_b in the baselines (exposure
t_b), conditioning on the total n = k_i + k_b turns the comparison of two Poisson rates into a
binomial one: under "no change", k_i ~ Binomial(n, t_i / (t_i + t_b)). The p-value is the upper
tail P(K >= k_i), computed for all patterns at once with the regularised incomplete beta
function. Exposure is minutes for pattern rates and lines for a service's error rate (so the
latter compares error fractions, not raw error counts that rise with traffic).

Log lines are burstier than Poisson: a chatty pattern wobbling by 3% over 40 minutes is
"significant" under a plain Poisson test with hundreds of thousands of lines. So both counts are
first divided by a quasi-Poisson dispersion factor phi >= 1, estimated from how the baseline's
per-minute counts scatter (Pearson chi-square over degrees of freedom). P-values are corrected
for the many patterns (or services) tested with Benjamini–Hochberg at
`settings.significance_level`. A change is reported as significant only when it also matters
in size: a pattern must at least double (`SPIKE_MIN_RATIO`), a service's error rate must rise
by half (`ERROR_RATE_MIN_RATIO`). Only increases are tested: an incident is about what went up.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betainc
from scipy.stats import false_discovery_control

from tasks.contracts import Change


def sig(value: float | None, digits: int = 6) -> float | None:
    """Round to significant digits, so findings.json quotes numbers a reader can check."""
    if value is None or not np.isfinite(value):
        return None
    return float(f"{float(value):.{digits}g}")


def make_change(incident: float | None, baseline: float | None) -> Change:
    delta = incident - baseline if incident is not None and baseline is not None else None
    ratio = incident / baseline if delta is not None and baseline else None
    return Change(
        incident=sig(incident), baseline=sig(baseline), delta=sig(delta), ratio=sig(ratio)
    )


def rate_increase_pvalues(
    k_incident: np.ndarray,
    k_baseline: np.ndarray,
    exposure_incident: np.ndarray | float,
    exposure_baseline: np.ndarray | float,
    dispersion: np.ndarray | float = 1.0,
) -> np.ndarray:
    """One-sided p-values for "the incident rate is higher", conditional binomial, vectorised.

    Counts are divided by the dispersion (quasi-Poisson); the binomial tail is evaluated with
    the incomplete beta function, which accepts the resulting non-integer counts.
    """
    k_i = np.asarray(k_incident, dtype=float) / dispersion
    n = (np.asarray(k_incident, dtype=float) + np.asarray(k_baseline, dtype=float)) / dispersion
    e_i = np.broadcast_to(np.asarray(exposure_incident, dtype=float), k_i.shape)
    e_b = np.broadcast_to(np.asarray(exposure_baseline, dtype=float), k_i.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = e_i / (e_i + e_b)
    p = np.ones_like(k_i)
    testable = (k_i > 0) & (e_i > 0) & (e_b > 0)
    p[testable] = betainc(k_i[testable], n[testable] - k_i[testable] + 1.0, share[testable])
    return np.clip(p, 0.0, 1.0)


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    if p.size == 0:
        return p
    return false_discovery_control(p, method="bh")


def flagged_counts(keys: np.ndarray, flagged: np.ndarray, size: int) -> np.ndarray:
    """`np.bincount(keys, weights=flagged, minlength=size)`: the same float64 counts of the
    flagged rows, without a float weight for every row."""
    return np.bincount(keys[flagged], minlength=size).astype(np.float64)


#: Up to this many (group, bin) cells, `_cells` counts them in an array; above, it merges the
#: distinct cells of each block.
DENSE_CELLS = 1 << 20
#: Rows per block in `_cells`: its 8-byte cell keys exist a block at a time.
CELL_BLOCK = 1 << 20


def _cells(
    group: np.ndarray, bin_: np.ndarray, n_bins: int, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (group, bin) cells as group * n_bins + bin, ascending, with their counts.

    What `np.unique(keys, return_counts=True)` gives, a block of rows at a time: over millions
    of rows, the keys, their sorted copy and its flags were the largest temporaries of the
    comparison.
    """
    blocks = range(0, len(group), CELL_BLOCK)

    def keys(lo: int) -> np.ndarray:
        return group[lo : lo + CELL_BLOCK].astype(np.int64) * n_bins + bin_[lo : lo + CELL_BLOCK]

    size = n_groups * n_bins
    if size <= DENSE_CELLS:
        counts = np.zeros(size, dtype=np.int64)
        for lo in blocks:
            counts += np.bincount(keys(lo), minlength=size)
        cells = np.flatnonzero(counts)
        return cells, counts[cells]
    parts = [np.unique(keys(lo), return_counts=True) for lo in blocks]
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cells, inverse = np.unique(np.concatenate([c for c, _ in parts]), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([n for _, n in parts]))
    return cells, counts.astype(np.int64)


def _at_least_one(chi2: np.ndarray, df: np.ndarray | int) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = chi2 / df
    return np.where(np.isfinite(estimate), np.maximum(estimate, 1.0), 1.0)


def minute_dispersion(
    group: np.ndarray, bin_: np.ndarray, n_groups: int, n_bins: int
) -> np.ndarray:
    """Quasi-Poisson dispersion of each group's per-minute counts: Pearson X² / df, at least 1.

    Sparse: only non-empty cells are visited; the empty minutes enter through the mean.
    """
    if n_bins < 2 or group.size == 0:
        return np.ones(n_groups)
    cells, counts = _cells(group, bin_, n_bins, n_groups)
    owner = cells // n_bins
    total = np.bincount(owner, weights=counts, minlength=n_groups)
    squares = np.bincount(owner, weights=counts.astype(float) ** 2, minlength=n_groups)
    mean = total / n_bins
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = (squares - n_bins * mean**2) / mean
    return _at_least_one(chi2, n_bins - 1)


def fraction_dispersion(
    group: np.ndarray, bin_: np.ndarray, flagged: np.ndarray, n_groups: int, n_bins: int
) -> np.ndarray:
    """Dispersion of each group's per-minute share of flagged lines (errors among lines).

    Expected flagged lines in a minute are the group's overall share times the minute's lines;
    X² = sum over minutes of (observed - expected)² / expected.
    """
    if n_bins < 2 or group.size == 0:
        return np.ones(n_groups)
    line_cells, lines = _cells(group, bin_, n_bins, n_groups)
    error_cells, errors = _cells(group[flagged], bin_[flagged], n_bins, n_groups)
    lines_there = lines[np.searchsorted(line_cells, error_cells)]
    owner = error_cells // n_bins
    total_errors = np.bincount(owner, weights=errors, minlength=n_groups)
    total_lines = np.bincount(line_cells // n_bins, weights=lines, minlength=n_groups)
    minutes = np.bincount(line_cells // n_bins, minlength=n_groups)
    weighted = np.bincount(
        owner, weights=errors.astype(float) ** 2 / lines_there, minlength=n_groups
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = weighted / (total_errors / total_lines) - total_errors
    return _at_least_one(chi2, np.maximum(minutes - 1, 1))
