"""Descriptive statistics of pooled secret columns: means, variances, standard deviations,
covariance and correlation matrices, a ``describe`` table, and group-wise means over a
categorical column.

Variances and covariances come from the same normalised moments as the regressions (columns
centred and scaled by public numbers from their declared ranges, at 30 fractional bits), so a
column of costs in pounds keeps its precision, and the scaling back is exact.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..secret.compare import amax, amin
from ..secret.functions import divide
from ..secret.precision import claim_bound, public_bound, times_power_of_two, working_precision
from .design import Column, columns, exactly_scaled, normalised, root
from .moments import diagonal, jacobi_scaling, moments
from .results import ReleasedResult, SecretResult

WORKING_BITS = 30


def _normalised_columns(x: Any, what: str) -> tuple[list[Column], list[str], int]:
    xs, names = columns(x, what)
    cols = [normalised(c, name, what) for c, name in zip(xs, names)]
    return cols, names, len(xs[0])


def _single(x: Any) -> bool:
    return not hasattr(x, "columns") and getattr(x, "ndim", 2) == 1


def _each(values: list[Any], single: bool) -> Any:
    return values[0] if single else np.concatenate([v.reshape(1) for v in values])


def mean(x: Any, axis: int = 0) -> Any:
    """Column means (a frame's, a matrix's) or the mean of a vector; ``axis`` as numpy's."""
    data = x.to_numpy() if hasattr(x, "to_numpy") and hasattr(x, "columns") else x
    return data.mean(axis=axis)


def var(x: Any, axis: int = 0, ddof: int = 1) -> Any:
    """Variance of each column (``ddof=1``: the sample variance, as pandas and R)."""
    if axis != 0:
        raise ValueError("smpc.stats.var works down the rows (axis=0)")
    cols, _, n = _normalised_columns(x, "smpc.stats.var")
    if n <= ddof:
        raise ValueError(f"smpc.stats.var: {n} rows and ddof={ddof} leave no degrees of freedom")
    with working_precision(cols[0].z, WORKING_BITS):
        c = diagonal(moments(cols).c) * (n / (n - ddof))
        out = [times_power_of_two(c[j], 2 * col.exponent) for j, col in enumerate(cols)]
    return _each(out, _single(x))


def std(x: Any, axis: int = 0, ddof: int = 1) -> Any:
    """Standard deviation of each column (square root of :func:`var`)."""
    if axis != 0:
        raise ValueError("smpc.stats.std works down the rows (axis=0)")
    cols, _, n = _normalised_columns(x, "smpc.stats.std")
    if n <= ddof:
        raise ValueError(f"smpc.stats.std: {n} rows and ddof={ddof} leave no degrees of freedom")
    with working_precision(cols[0].z, WORKING_BITS):
        c = claim_bound(diagonal(moments(cols).c), 0.0, 1.0)
        spread = root(c) * math.sqrt(n / (n - ddof))
        out = [times_power_of_two(spread[j], col.exponent) for j, col in enumerate(cols)]
    return _each(out, _single(x))


def cov(x: Any, ddof: int = 1) -> Any:
    """The covariance matrix of the columns (rows are observations, as pandas ``DataFrame.cov``)."""
    cols, _, n = _normalised_columns(x, "smpc.stats.cov")
    with working_precision(cols[0].z, WORKING_BITS):
        c = moments(cols).c * (n / (n - ddof))
        exponents = np.array([col.exponent for col in cols])
        return exactly_scaled(c, exponents[:, None] + exponents[None, :])


def corr(x: Any) -> Any:
    """The Pearson correlation matrix of the columns."""
    cols, _, _ = _normalised_columns(x, "smpc.stats.corr")
    with working_precision(cols[0].z, WORKING_BITS):
        _, r = jacobi_scaling(moments(cols).c)
        return r


class Description(SecretResult):
    KIND = "describe"
    SECRET = ("mean", "std", "min", "max")
    PUBLIC = ("n", "names")


def describe(frame: Any) -> Description:
    """count, mean, std, min and max of every column (``DataFrame.describe`` without quantiles)."""
    xs, names = columns(frame, "smpc.stats.describe")
    data: Any = np.column_stack(xs)
    return Description(
        mean=data.mean(axis=0),
        std=std(list(xs)),
        min=amin(data, axis=0),
        max=amax(data, axis=0),
        n=len(xs[0]),
        names=np.array(names),
    )


class DescriptionResult(ReleasedResult):
    KIND = "describe"

    def summary(self) -> str:
        names = [str(n) for n in np.atleast_1d(self.fields["names"])]
        rows = [f"{'':<14}{'count':>10}" + "".join(f"{f:>14}" for f in Description.SECRET if f in self.fields)]
        for i, name in enumerate(names):
            cells = "".join(
                f"{float(np.atleast_1d(self.fields[f])[i]):>14.4f}" for f in Description.SECRET if f in self.fields
            )
            rows.append(f"{name:<14}{int(self.n):>10}{cells}")
        return "Pooled description (secure)\n" + "\n".join(rows)


class GroupMeans(SecretResult):
    KIND = "group_means"
    SECRET = ("mean", "count")
    PUBLIC = ("levels", "names")


def group_mean(x: Any, by: Any, levels: list[str] | None = None) -> GroupMeans:
    """Means of each column within each level of a categorical variable. ``by`` is secret (a
    one-hot matrix ``frame.one_hot('drug')`` or a frame of level columns
    ``frame.categorical('drug')``: who is in which group stays secret) or public (one label per
    pooled row, e.g. the site of each row: no communication at all). An empty group's mean is 0
    (its count says so)."""
    xs, names = columns(x, "smpc.stats.group_mean")
    data: Any = np.column_stack(xs)
    if isinstance(by, list | tuple | np.ndarray):
        labels = np.asarray(by)
        if labels.shape != (len(xs[0]),):
            raise ValueError(f"smpc.stats.group_mean: by= needs one label per row ({len(xs[0])}), got {labels.shape}")
        found_public = [str(v) for v in np.unique(labels)]
        public_one_hot = (labels[:, None] == np.unique(labels)[None, :]).astype(np.int64)
        counts = public_one_hot.sum(axis=0)
        sums = public_one_hot.T @ data  # a public matrix times a secret one: local
        means = sums * (1.0 / np.maximum(counts, 1))[:, None]
        return GroupMeans(
            mean=means,
            count=data[: len(counts), 0] * 0 + counts,
            levels=np.array(levels or found_public),
            names=np.array(names),
        )
    groups, found = columns(by, "smpc.stats.group_mean(by=...)", "level")
    one_hot: Any = np.column_stack(groups)
    counts = one_hot.sum(axis=0)
    sums = one_hot.T @ data  # levels x columns, one round
    floor = claim_bound(counts + (counts < 0.5), 1.0, float(len(xs[0])))  # an empty group divides by 1
    lo, hi = (np.asarray(v) for v in public_bound(data))
    known = (min(0.0, float(lo.min())), max(0.0, float(hi.max())))  # a mean lies in the data's range
    means = divide(sums, floor[:, None], known=known)
    return GroupMeans(mean=means, count=counts, levels=np.array(levels or found), names=np.array(names))


class GroupMeansResult(ReleasedResult):
    KIND = "group_means"

    def summary(self) -> str:
        names = [str(n) for n in np.atleast_1d(self.fields["names"])]
        lines = ["Group means (secure, pooled)", f"{'level':<16}{'count':>10}" + "".join(f"{n:>14}" for n in names)]
        for i, level in enumerate(np.atleast_1d(self.levels)):
            count = f"{int(round(np.atleast_1d(self.count)[i])):>10}" if self.has("count") else " " * 10
            means = "".join(f"{v:>14.4f}" for v in np.atleast_2d(self.mean)[i]) if self.has("mean") else ""
            lines.append(f"{str(level):<16}{count}{means}")
        return "\n".join(lines)
