"""Pooled first and second moments of normalised columns: the one secret summary every
regression starts from, computed with one X'X product and never released."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import PrecisionError, StreamedRowsError
from ..secret.array import SecretArray
from ..secret.compare import clip_below
from ..secret.precision import claim_bound, frac_bits_of, known_product
from ..secret.streamed import StreamedColumn
from .checks import require_none
from .design import Column, inverse_root, quotient, stacked

#: Variances of normalised columns below this are treated as this (a column whose spread is
#: under 1/256 of its declared range): it keeps 1/sqrt(variance) inside a known range.
VARIANCE_FLOOR = 2.0**-16


@dataclass
class Moments:
    """Means ``m`` and covariance ``c`` of the normalised columns (|z| <= 1), secret, over the
    ``count`` rows used: ``n`` (public) or, with missing values left out, a secret count."""

    n: int
    m: SecretArray
    c: SecretArray
    count: Any = None
    total: Any = None  # the weights' sum, for weighted moments

    @property
    def used(self) -> Any:
        """The rows used: the public n, or the secret count of complete rows."""
        return self.n if self.count is None else self.count


def moments(
    cols: list[Column],
    what: str = "a statistic",
    spread: bool = True,
    observed: Any = None,
    weights: Any = None,
    weight_top: float = 1.0,
) -> Moments:
    """Means and covariance of the columns over the n rows (one Gram product, one outer product).
    Columns of rows read in blocks come from the sites' own passes over their rows instead.

    ``spread``: the result depends on each column's spread (a variance, a correlation, a
    regression), so each column's variance must be well above the error the working precision
    leaves on its normalised values; otherwise the cell stops with a :class:`PrecisionError`
    (checked with the other checks at its end) instead of releasing a wrong number.

    ``observed``: a secret 0/1 vector of the rows to use (the complete cases,
    :func:`~smpc_magic.stats.missing.rows_observed`); the means and covariance are then over
    those rows, and ``count`` says how many they are.

    ``weights``: a secret weight per row (from 0 to ``weight_top``): the means and covariance are
    weighted (each row's share its weight over the weights' total), as weighted least squares
    needs; ``count`` stays the number of rows used and ``total`` is the weights' sum."""
    count = total = None
    streamed: list[StreamedColumn] = [c.z for c in cols if isinstance(c.z, StreamedColumn)]
    if streamed:
        if weights is not None:
            raise StreamedRowsError.about(streamed[0].frame.name, "weights= needs rows that are shared")
        frame = streamed[0].frame
        if len(streamed) < len(cols) or any(c.frame is not frame for c in streamed):
            raise StreamedRowsError.about(frame.name, "every column of this statistic must come from the same rows")
        n = frame.n_rows
        m, second = frame.moments(
            [c.name for c in streamed],
            [c.centre for c in cols],
            [c.exponent for c in cols],
            frame._streams.ctx.frac_bits,
        )
    elif weights is not None:
        each = weights * observed if observed is not None else weights
        z = stacked(cols)
        n = z.shape[0]
        m, second, total = _weighted_sums(z, each, n, weight_top)
        count = claim_bound(observed.sum() * 1.0, 0.0, float(n)) if observed is not None else None
    elif observed is not None:
        z = stacked(cols) * observed[:, None]  # a missing row: all 0 (and 0 * 0 = 0 in the Gram)
        n = z.shape[0]
        m, second, count = _observed_sums(z, observed, n)
    else:
        z = stacked(cols)
        n = z.shape[0]
        gram = claim_bound(z.T @ z, -float(n), float(n))
        m = claim_bound(z.sum(axis=0) / n, -1.0, 1.0)
        second = claim_bound(gram / n, -1.0, 1.0)
    outer = claim_bound(m[:, None] * m[None, :], -1.0, 1.0)
    c = claim_bound(second - outer, -1.0, 1.0)
    if spread:
        _require_resolved(diagonal(c), cols, what)
    return Moments(n, m, c, count, total)


def require_spread(cols: list[Column], what: str) -> None:
    """The precision check of :func:`moments` for a statistic that fits without the moments (a
    Newton fit): a range far wider than the data then fails as a range, with its own bit, not as
    an inverse that did not converge. Over every row (a missing entry counts as 0, so the check
    can only err towards passing). One Gram product, never released."""
    if cols:
        moments(cols, what, spread=True)


def _weighted_sums(z: Any, each: Any, n: int, top: float) -> tuple[Any, Any, Any]:
    """Weighted means and second moments of the rows of ``z`` (|z| <= 1) with weights ``each``
    (0 to ``top``): the weighted sums and Gram product divided by the weights' total in one batch;
    and that total."""
    k = z.shape[1]
    weighted = z * each[:, None]
    gram = claim_bound(weighted.T @ z, -float(n) * top, float(n) * top)
    total = claim_bound(each.sum() * 1.0, 0.0, float(n) * top)
    size = claim_bound(total + (total < 0.5), 0.5, float(n) * top + 1.0)  # no weight at all: divide by 1
    tops = np.concatenate([weighted.sum(axis=0), gram.reshape(-1)])
    ratios: Any = quotient(tops, size + np.zeros(k + k * k), known=(-1.0, 1.0))
    return claim_bound(ratios[:k], -1.0, 1.0), claim_bound(ratios[k:].reshape(k, k), -1.0, 1.0), total


def _observed_sums(z: Any, observed: Any, n: int) -> tuple[Any, Any, Any]:
    """Means and second moments of the rows of ``z`` (already 0 outside ``observed``) over the
    observed rows: sums and the Gram product divided by the secret count in one batch."""
    k = z.shape[1]
    gram = claim_bound(z.T @ z, -float(n), float(n))
    count = claim_bound(observed.sum(), 0.0, float(n))
    size = claim_bound(count + (count < 0.5), 1.0, float(n))  # no complete row: divide by 1
    tops = np.concatenate([z.sum(axis=0), gram.reshape(-1)])
    ratios: Any = quotient(tops, size + np.zeros(k + k * k), known=(-1.0, 1.0))
    m = claim_bound(ratios[:k], -1.0, 1.0)
    second = claim_bound(ratios[k:].reshape(k, k), -1.0, 1.0)
    return m, second, count


#: how far above the working precision's resolution (2**-bits) a normalised column's variance
#: must lie: its relative error is then at most about 2**-(SPREAD_MARGIN - 1)
SPREAD_MARGIN = 12


def _require_resolved(variances: Any, cols: list[Column], what: str) -> None:
    bits = frac_bits_of(variances)
    floor = 2.0 ** (SPREAD_MARGIN - bits)
    listed = ", ".join(repr(c.name) for c in cols)
    widths = ", ".join(f"{c.name!r}: {c.centre - 2.0**c.exponent:g} to {c.centre + 2.0**c.exponent:g}" for c in cols)
    require_none(
        variances < floor,
        PrecisionError(
            f"{what}: a column varies too little within its declared range to be computed to the stated accuracy "
            f"(its standard deviation is below {math.sqrt(floor):.2g} of the range's half-width; the ranges "
            f"normalised are {widths}). The cause is a declared range much wider than the data (which column "
            f"is not opened): declare a range close to the data's for {listed} (in the study schema, with "
            "`%smpc private NAME --range MIN MAX`, or from a released `smpc.stats.envelope`). "
            "Nothing of this cell was released"
        ),
    )


def diagonal(c: SecretArray) -> SecretArray:
    k = np.arange(c.shape[0])
    return c[k, k]


def jacobi_scaling(c: SecretArray) -> tuple[Any, Any]:
    """d = 1/sqrt(diag(c)) (floored) and R = D c D, the correlation matrix (|R| <= 1): the
    preconditioning that makes the inverse's accuracy depend on collinearity only."""
    variances = clip_below(claim_bound(diagonal(c), 0.0, 1.0), VARIANCE_FLOOR)
    d = claim_bound(inverse_root(variances), 1.0 - 2.0**-8, 2.0**8 * (1 + 2.0**-8))
    # one Newton step at the working precision, d (3 - v d^2) / 2: squares 1/sqrt's relative
    # error (rarely 5e-4 at 24 bits), so that the correlation matrix's diagonal is 1 to 1e-6
    square = known_product(d, d, 0.0, 2.0**16 * 1.01, "1/sqrt refinement")
    near_one = known_product(variances, square, 0.5, 1.5, "1/sqrt refinement")
    d = claim_bound(
        known_product(d, 1.5 - 0.5 * near_one, 0.0, 2.0**8 * 1.01, "1/sqrt refinement"),
        1.0 - 2.0**-8,
        2.0**8 * (1 + 2.0**-8),
    )
    outer = d[:, None] * d[None, :]
    # |c_jk| d_j d_k <= 1 by Cauchy-Schwarz (up to the rounding of 1/sqrt): full precision
    r = known_product(c, outer, -1.05, 1.05, "scaling to a correlation matrix")
    return d, r


def dof_factor(used: Any, parameters: int) -> Any:
    """n / (n - parameters) for the rows used (public, or a secret count of complete rows; 0
    when there are too few, which the rules on the rows refuse to release)."""
    if not isinstance(used, SecretArray):
        return used / (used - parameters)
    below = claim_bound(used - float(parameters), -float(parameters), float(used.bound[1].max()))
    ratio = quotient(used * 1.0, below + (below < 0.5) * (1.0 - below), known=(0.0, float(parameters + 1)))
    return claim_bound(ratio * (below > 0.5), 0.0, float(parameters + 1))


def inverse_root_rows(used: Any, n: int) -> Any:
    """1 / sqrt(rows used): public, or of a secret count (1e-5 relative; no row: 1)."""
    if not isinstance(used, SecretArray):
        return 1.0 / math.sqrt(used)
    return inverse_root(claim_bound(used + (used < 0.5), 1.0, float(n)))
