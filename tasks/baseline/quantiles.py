"""Exact percentiles per group over values read in passes, in memory that does not grow with them.

numpy's percentile (its default, linear method) needs two order statistics per group and
quantile: the values at ranks floor((n - 1) q) and the one after. They are found here by radix
selection on the values' bits, without holding the values:

1. a first pass counts each group's values per bucket of their leading bits, which says in
   which bucket each wanted rank lies;
2. each later pass counts, by their next bits, only the values in those buckets;
3. once the buckets hold few values in all (`KEEP`), one more pass keeps them, and sorting them
   gives the ranks exactly.

Memory is the bucket counters (at most `CELLS`) and the values kept at the end (at most `KEEP`),
whatever the number of values. The result is numpy's to the last bit: the same two values, then
numpy's own interpolation formula (tested against `np.percentile`). The cost is a few passes
over the values: two (one count, one keep) on the bench/draft.py incidents at 1 and 10 GB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

#: One pass over the values: (group code, value) pairs in parts; nan values are not counted.
Passes = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]

#: Bucket counters per pass (8 bytes each): bounds the memory of a counting pass.
CELLS = 1 << 20
#: Values kept for the final sort, across all groups and quantiles.
KEEP = 1 << 20

_SIGN = np.uint64(1 << 63)
_NONE = np.uint64(2**64 - 1)  # no bucket: a prefix of under 64 bits never has this value


def sortable_keys(values: np.ndarray) -> np.ndarray:
    """Unsigned integers that sort as the float64 `values` do (no nan); -0.0 is 0.0."""
    bits = (values + 0.0).view(np.uint64)  # + 0.0 turns -0.0 into 0.0
    negative = (bits & _SIGN) != 0
    return np.where(negative, ~bits, bits | _SIGN)


def values_of(keys: np.ndarray) -> np.ndarray:
    """The float64 values of `sortable_keys`."""
    keys = np.asarray(keys, dtype=np.uint64)
    positive = (keys & _SIGN) != 0
    return np.where(positive, keys & ~_SIGN, ~keys).view(np.float64)


def grouped_percentiles_in_passes(
    passes: Passes, n_groups: int, quantiles: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """[group, quantile] percentiles of the values `passes` yields, as `np.percentile` gives them
    for each group's values (nan for a group without values), and each group's number of
    values. `passes()` is called once per pass and must yield the same values each time."""
    out = np.full((n_groups, len(quantiles)), np.nan)
    if n_groups == 0:
        return out, np.zeros(0, dtype=np.int64)
    shift = 64 - _digit_bits(n_groups, 64)
    counts = np.zeros(n_groups << (64 - shift), dtype=np.int64)
    for group, keys in _keyed(passes):
        counts += np.bincount(
            (group.astype(np.int64) << (64 - shift)) + (keys >> np.uint64(shift)).astype(np.int64),
            minlength=counts.size,
        )
    counts = counts.reshape(n_groups, -1)
    sizes = counts.sum(axis=1)
    present = np.flatnonzero(sizes)
    if present.size == 0 or not quantiles:
        return out, sizes
    # numpy's ranks: percentile q is quantile (q * 100) / 100, so the same float goes in.
    q = np.true_divide(np.array([x * 100 for x in quantiles], dtype=np.float64), 100)
    virtual = (sizes[present, None] - 1) * q[None, :]
    low = np.floor(virtual)
    high = low + 1
    above = virtual >= (sizes[present, None] - 1)
    low[above] = sizes[present, None].repeat(len(q), axis=1)[above] - 1
    high[above] = low[above]
    gamma = virtual - np.where(above, -1.0, low)  # numpy's gamma, where it clips to the last
    ranks = np.stack([low, high], axis=-1).astype(np.int64)  # [present, quantile, 2]

    # Each wanted (group, rank) once; its bucket, and how many of the group's values lie below.
    t_group = np.repeat(present, ranks.shape[1] * 2)
    t_rank = ranks.reshape(-1)
    wanted, back = np.unique(np.stack([t_group, t_rank]), axis=1, return_inverse=True)
    w_group, w_rank = wanted
    bucket, below, inside = _locate(np.cumsum(counts, axis=1), w_group, w_rank)
    prefix = bucket.astype(np.uint64)
    known = 64 - shift
    found = _select(passes, n_groups, w_group, w_rank - below, prefix, inside, known)

    at = found[back].reshape(len(present), len(q), 2)
    result = _lerp(at[..., 0], at[..., 1], gamma)
    out[present] = result
    return out, sizes


def _select(
    passes: Passes,
    n_groups: int,
    group: np.ndarray,
    rank: np.ndarray,
    prefix: np.ndarray,
    inside: np.ndarray,
    known: int,
) -> np.ndarray:
    """The value at `rank` among the values of `group` whose key starts with `prefix` (`known`
    bits, `inside` of them), for each wanted order statistic."""
    while True:
        if known == 64:
            return values_of(prefix)
        buckets, of = np.unique(
            np.stack([group, prefix.astype(np.int64)]), axis=1, return_inverse=True
        )
        b_group = buckets[0]
        b_prefix = prefix[np.unique(of, return_index=True)[1]]
        b_inside = np.zeros(buckets.shape[1], dtype=np.int64)
        b_inside[of] = inside
        table = _bucket_table(n_groups, b_group, b_prefix)
        if int(b_inside.sum()) <= KEEP:
            kept, starts = _kept_values(passes, table, 64 - known, b_inside)
            return kept[starts[of] + rank]
        bits = _digit_bits(buckets.shape[1], 64 - known)
        counts = np.zeros(buckets.shape[1] << bits, dtype=np.int64)
        for g, keys in _keyed(passes):
            bucket = _bucket_of(table, g, keys, 64 - known)
            hit = bucket >= 0
            digit = (keys[hit] << np.uint64(known)) >> np.uint64(64 - bits)
            counts += np.bincount(
                (bucket[hit] << bits) + digit.astype(np.int64), minlength=counts.size
            )
        sub, below, inside = _locate(np.cumsum(counts.reshape(len(b_group), -1), axis=1), of, rank)
        rank = rank - below
        prefix = (prefix << np.uint64(bits)) | sub.astype(np.uint64)
        known += bits


def _bucket_table(n_groups: int, group: np.ndarray, prefix: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per group, the prefixes of its buckets (`_NONE` past the last) and their bucket numbers."""
    width = int(np.bincount(group, minlength=n_groups).max())
    prefixes = np.full((n_groups, width), _NONE, dtype=np.uint64)
    numbers = np.full((n_groups, width), -1, dtype=np.int64)
    slot = np.zeros(len(group), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, g in enumerate(group.tolist()):
        slot[i] = seen.get(g, 0)
        seen[g] = slot[i] + 1
    prefixes[group, slot] = prefix
    numbers[group, slot] = np.arange(len(group))
    return prefixes, numbers


def _bucket_of(
    table: tuple[np.ndarray, ...], group: np.ndarray, keys: np.ndarray, shift: int
) -> np.ndarray:
    """The bucket number of each value, -1 for values in no wanted bucket."""
    prefixes, numbers = table
    match = prefixes[group] == (keys >> np.uint64(shift))[:, None]
    slot = match.argmax(axis=1)
    return np.where(match.any(axis=1), numbers[group, slot], -1)


def _kept_values(
    passes: Passes, table: tuple[np.ndarray, ...], shift: int, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The values of the wanted buckets, sorted by bucket then value, and where each starts."""
    kept_bucket, kept_keys = [], []
    for group, keys in _keyed(passes):
        bucket = _bucket_of(table, group, keys, shift)
        hit = bucket >= 0
        kept_bucket.append(bucket[hit])
        kept_keys.append(keys[hit])
    bucket = np.concatenate(kept_bucket) if kept_bucket else np.zeros(0, dtype=np.int64)
    keys = np.concatenate(kept_keys) if kept_keys else np.zeros(0, dtype=np.uint64)
    order = np.lexsort((keys, bucket))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return values_of(keys[order]), starts


def _locate(
    cumulative: np.ndarray, row: np.ndarray, rank: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each (row of running counts, rank): the bucket holding the rank, the count below
    that bucket and the count in it."""
    bucket = np.array(
        [np.searchsorted(cumulative[r], k, side="right") for r, k in zip(row, rank, strict=True)],
        dtype=np.int64,
    )
    upto = cumulative[row, bucket]
    below = np.where(bucket > 0, cumulative[row, np.maximum(bucket - 1, 0)], 0)
    return bucket, below, upto - below


def _keyed(passes: Passes) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    for group, values in passes():
        ok = ~np.isnan(values)
        if ok.any():
            yield np.asarray(group)[ok].astype(np.int64), sortable_keys(values[ok])


def _digit_bits(n_buckets: int, left: int) -> int:
    """Bits of the next digit: as many as `CELLS` counters allow for `n_buckets`, at most `left`."""
    bits = max(1, (CELLS // max(n_buckets, 1)).bit_length() - 1)
    return min(bits, left, 16)


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's interpolation between order statistics (numpy/lib/_function_base_impl.py)."""
    # Infinite latencies make nan here as they do in numpy; numpy warns, so would this.
    with np.errstate(invalid="ignore"):
        diff = b - a
        out = a + diff * t
        np.subtract(b, diff * (1 - t), out=out, where=t >= 0.5)
    return out
