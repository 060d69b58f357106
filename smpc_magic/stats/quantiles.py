"""Quantiles and medians of pooled secret columns, as numpy's and pandas' default ("linear":
between the two order statistics around (n - 1) q).

The column is sorted with an oblivious sorting network (:mod:`smpc_magic.secret.sorting`), the
rows left out (missing values, a filter) placed last; the two order statistics are read at a
public position (or, when the rows kept are a secret count, at a secret position found by one
comparison batch) and interpolated. Nothing about the order is opened. A quantile lies between
two rows' values, so it is released only when at least ``min_rows`` rows lie on each side of
it (the minimum and the maximum never are; see README, "Disclosure control").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import SecretValueError
from ..secret.array import SecretArray
from ..secret.compare import less_than_zero
from ..secret.core import as_secret
from ..secret.precision import claim_bound, public_bound
from ..secret.sorting import sort_rows
from .design import columns
from .disclosure import ROWS, Requirement, declare
from .missing import rows_observed

WHAT = "smpc.stats.quantile"


def quantile(x: Any, q: Any) -> Any:
    """The ``q`` quantile(s) (numbers in [0, 1]) of a secret column, or of each column of a
    frame (columns x quantiles); ``where=`` restricts it to a secret subset."""
    levels = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if levels.ndim != 1 or levels.size == 0 or not np.all((levels >= 0) & (levels <= 1)):
        raise ValueError(f"{WHAT}: q must be numbers between 0 and 1 (0.5 for the median), got {q!r}")
    xs, _ = columns(x, WHAT)
    found = [_of_column(c, levels) for c in xs]
    values: Any = np.stack([v for v, _ in found]) if len(found) > 1 else found[0][0]
    sides: Any = np.concatenate([s.reshape(-1) for _, s in found])
    if np.ndim(q) == 0:
        values = values[..., 0]
    return declare(values, Requirement(ROWS, sides))


def median(x: Any) -> Any:
    """The median (the 0.5 quantile, as numpy's)."""
    return quantile(x, 0.5)


def _of_column(x: Any, levels: np.ndarray) -> tuple[Any, Any]:
    """(quantiles, rows at or below and above each quantile's lower order statistic)."""
    if not isinstance(x, SecretArray) or x.ndim != 1:
        raise SecretValueError(f"{WHAT} needs a secret column")
    n = len(x)
    low, high = (float(v) for v in (public_bound(x)[0].min(), public_bound(x)[1].max()))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise SecretValueError(f"{WHAT}: the column needs a declared range (its values are sorted within it)")
    kept = rows_observed([x], n, WHAT)
    key = x if kept is None else x + (1 - kept) * (high - low + 1.0)  # rows left out sort last
    ordered, _ = sort_rows(key, as_secret(x, np.zeros((n, 1), dtype=np.int64)))
    ordered = claim_bound(ordered, low, high + (0 if kept is None else high - low + 1.0))
    if kept is None:  # public positions: (n - 1) q
        h = (n - 1) * levels
        below = np.floor(h).astype(np.int64)
        above = np.minimum(below + 1, n - 1)
        frac = h - below
        lower, upper = ordered[below], ordered[above]
        value = lower + (upper - lower) * frac
        counts: Any = as_secret(x, np.concatenate([below + 1, n - below - 1]))
    else:  # a secret count of rows: the position (count - 1) q is secret
        count = claim_bound(kept.sum() * 1.0, 0.0, float(n))
        h = claim_bound((count.reshape(1) - 1.0) * levels, -1.0, float(n))  # one value per quantile
        positions = np.arange(n, dtype=np.float64)
        at_or_below = 1 - less_than_zero(h[:, None] - positions[None, :])  # [i <= h]: one batch
        first = at_or_below - np.concatenate([at_or_below[:, 1:], at_or_below[:, :1] * 0], axis=1)
        nxt = np.concatenate([first[:, -1:] * 0, first[:, :-1]], axis=1)  # the position after floor(h)
        picked: Any = np.concatenate([first, nxt]) @ ordered  # one round
        floor_h = first @ positions
        frac = claim_bound(h - floor_h, 0.0, 1.0)
        # (at q = 1 the upper neighbour is a row left out or none, and frac is 0)
        lower, upper = picked[: len(levels)], picked[len(levels) :]
        value = lower + (upper - lower) * frac
        below_count = floor_h + 1.0
        counts = np.concatenate([below_count, count - below_count])
    # released: an aggregate of the column's rows (its sites, its selections), not of sorted rows
    anchor = x.sum() * 1.0
    value = claim_bound(value, low, high)
    value._prov = anchor._prov.mapped("quantile").fitted(value.shape)
    return value, counts
