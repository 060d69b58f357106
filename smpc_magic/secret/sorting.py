"""Oblivious sorting and scans of secret rows: the order stays secret.

:func:`sort_rows` runs Batcher's bitonic network: log2(N) (log2(N) + 1) / 2 layers for N rows
(padded to a power of two), each one comparison batch of N/2 pairs (9 rounds) and one product
round that swaps the pairs' keys and payload columns together. Which pairs swapped stays
secret, so the sorted rows cannot be linked to the input rows. :func:`prefix_sum` and
:func:`suffix_sum` are local (shares add); :func:`prefix_product` takes ceil(log2 N) rounds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .compare import less_than_zero
from .core import SecretCore as SecretArray
from .core import as_secret
from .precision import claim_bound


def sort_rows(key: SecretArray, payload: SecretArray) -> tuple[SecretArray, SecretArray]:
    """``key`` (n) in ascending order and the rows of ``payload`` (n x p) in the same order.

    Rows are padded to a power of two with keys above ``key``'s public bound (they sort last
    and are dropped). Equal keys keep no particular order."""
    n = len(key)
    size = 1 << max(0, math.ceil(math.log2(max(n, 1))))
    top = float(key.bound[1].max()) + 1.0
    if size > n:
        pad_key = as_secret(key, np.full(size - n, top))
        pad_rows = as_secret(payload, np.zeros((size - n, payload.shape[1]), dtype=np.int64))
        key = np.concatenate([key, pad_key])  # type: ignore[assignment]
        payload = np.concatenate([payload, pad_rows])  # type: ignore[assignment]
    rows: Any = np.column_stack([key, payload])
    # a permutation keeps each column within its own bound (interval arithmetic on the swaps
    # would widen it at every layer)
    low, high = (np.broadcast_to(b, rows.shape) for b in rows.bound)
    low, high = low.min(axis=0, keepdims=True), high.max(axis=0, keepdims=True)
    index = np.arange(size)
    k = 2
    while k <= size:
        j = k // 2
        while j >= 1:
            partner = index ^ j
            lo, hi = index[partner > index], partner[partner > index]
            ascending = ((lo & k) == 0).astype(np.int64)
            a, b = rows[lo], rows[hi]
            out_of_order = less_than_zero(b[:, 0] - a[:, 0])  # [key_hi < key_lo]
            swap = out_of_order * (2 * ascending - 1) + (1 - ascending)  # descending blocks: the other way
            delta = swap[:, None] * (b - a)  # one round for the key and every payload column
            moved: Any = np.concatenate([a + delta, b - delta])
            rows = claim_bound(moved[np.argsort(np.concatenate([lo, hi]), kind="stable")], low, high)
            j //= 2
        k *= 2
    return rows[:n, 0], rows[:n, 1:]


def prefix_sum(x: SecretArray) -> SecretArray:
    """Running sums down axis 0 (log2 n shifted additions; no communication)."""
    n = len(x)
    shift = 1
    out: Any = x
    while shift < n:
        out = np.concatenate([out[:shift], out[shift:] + out[:-shift]])
        shift *= 2
    return out  # type: ignore[no-any-return]


def suffix_sum(x: SecretArray) -> SecretArray:
    """Sums from each row to the last, down axis 0 (no communication)."""
    return prefix_sum(x[::-1])[::-1]


def prefix_product(x: SecretArray, lo: float = 0.0, hi: float = 1.0) -> SecretArray:
    """Running products down axis 0 in ceil(log2 n) rounds, for values within [lo, hi] whose
    products stay there (probabilities)."""
    n = len(x)
    shift = 1
    out: Any = x
    while shift < n:
        tail = claim_bound(out[shift:] * out[:-shift], lo, hi)
        out = np.concatenate([out[:shift], tail])
        shift *= 2
    return out  # type: ignore[no-any-return]


def block_first(continues: Any, values: Any, lo: float | None = None, hi: float | None = None) -> Any:
    """Each row's ``values`` (rows x k) replaced by those of the first row of its block, where
    ``continues`` is a secret 0/1 column, 1 for a row in the same block as the row before it
    (a segmented scan: ceil(log2 N) product rounds). ``lo``, ``hi``: the values' range, which
    the result keeps (each result is one of the values; without it the interval bound would
    triple every round)."""
    size = len(continues)
    flags, out = continues, values
    shift = 1
    while shift < size:
        step: Any = np.column_stack([out[shift:] - out[:-shift], flags[:-shift, None]]) * flags[shift:, None]
        out = np.concatenate([out[:shift], out[shift:] - step[:, :-1]])
        if lo is not None and hi is not None:
            out = claim_bound(out, lo, hi)
        flags = np.concatenate([flags[:shift] * 0, step[:, -1]])
        shift *= 2
    return out


def block_last(continues: Any, values: Any, lo: float | None = None, hi: float | None = None) -> Any:
    """Each row's ``values`` replaced by those of the last row of its block (as :func:`block_first`
    on the reversed rows)."""
    ends = np.concatenate([continues[1:], continues[:1] * 0])  # a row whose next row continues it
    return block_first(ends[::-1], values[::-1], lo, hi)[::-1]
