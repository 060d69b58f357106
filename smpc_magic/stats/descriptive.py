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

from ..errors import RangeNeededError, SecretValueError, StreamedRowsError
from ..secret.array import SecretArray
from ..secret.compare import absolute, amax, amin
from ..secret.core import as_secret
from ..secret.precision import claim_bound, public_bound, times_power_of_two, undeclared, working_precision
from ..secret.streamed import extremes, streamed_parts
from .design import Column, columns, exactly_scaled, normalised_all, quotient, root, stacked, variable_name
from .disclosure import COUNT, DOMINANCE, LEVELS, ROW_VALUE, ROWS, Requirement, declare
from .missing import refuse_missing, rows_observed
from .moments import diagonal, dof_factor, jacobi_scaling, moments
from .results import ReleasedResult, SecretResult
from .summary import Table

WORKING_BITS = 30


def _normalised_columns(x: Any, what: str) -> tuple[list[Column], list[str], int]:
    xs, names = columns(x, what, streamed=True)
    cols = normalised_all(xs, names, what)
    return cols, names, len(xs[0])


def _single(x: Any) -> bool:
    return not hasattr(x, "columns") and getattr(x, "ndim", 2) == 1


def _each(values: list[Any], single: bool) -> Any:
    return values[0] if single else np.concatenate([v.reshape(1) for v in values])


def mean(x: Any, axis: int = 0, by: Any = None) -> Any:
    """Column means (a frame's, a matrix's) or the mean of a vector; ``axis`` as numpy's.
    ``by``: per level of a categorical variable (levels x columns; see :func:`group_mean`)."""
    if by is not None:
        mean, _, counts, levels, _ = _group_moments(x, by, 1, "smpc.stats.mean")
        return declare(mean, *_group_rules(x, by, counts, levels), covers=(by,))
    parts = streamed_parts(x)
    if parts is not None:
        return _streamed_mean(x, parts[0].name)
    data = x.to_numpy() if hasattr(x, "to_numpy") and hasattr(x, "columns") else x
    if axis not in (0, -data.ndim) and data.ndim > 1:  # one mean per row: row-level values
        refuse_missing("smpc.stats.mean(x, axis=1)", x)
        return declare(data.mean(axis=axis), Requirement(ROW_VALUE))
    observed = _observed_by_column(x, "smpc.stats.mean")
    if observed is not None:  # means over each column's observed values (pandas' skipna)
        means, _, counts, weights = _column_moments(x, observed, 1, "smpc.stats.mean")
        rules = (Requirement(ROWS, counts), Requirement(DOMINANCE, lambda: absolute(data) * weights))
        return declare(means[0] if _single(x) else means, *rules)
    _require_ranges(x, "smpc.stats.mean")
    return declare(data.mean(axis=axis), Requirement(ROWS, len(data)), Requirement(DOMINANCE, lambda: absolute(data)))


def _require_ranges(x: Any, what: str) -> None:
    """A mean's accuracy is stated relative to the data (1e-4); a column without a declared range
    has a bound of what the encoding holds, and its sum drops bits relative to that (600 values
    of about 50 came out 0.04 off): stop before anything is sent, naming the columns."""
    xs, names = columns(x, what)
    missing = tuple(name for c, name in zip(xs, names) if undeclared(c))
    if missing:
        raise RangeNeededError(
            f"{what} states its accuracy relative to the data, and column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} {'have' if len(missing) > 1 else 'has'} no declared range (a plain "
            "x.sum() of up to about 30,000 non-integer values works without one, accurate relative to its bound)",
            inputs=tuple(c for c in xs if undeclared(c)),
        )


def _observed_by_column(x: Any, what: str) -> list[Any] | None:
    """Each column's observed rows (None for a column that may not be missing), or None when
    no column may be missing."""
    xs, _ = columns(x, what)
    masks = [rows_observed([c], len(c), what) for c in xs]
    return masks if any(m is not None for m in masks) else None


def _column_moments(
    x: Any, observed: list[Any], ddof: int, what: str, spread: bool = False
) -> tuple[Any, Any, Any, Any]:
    """(means, variances with ``ddof`` — or with ``spread`` standard deviations —, counts, 0/1
    weights rows x columns) of each column over its observed rows, in the data's units: sums of
    the normalised values and their squares weighted by the rows observed, then one division
    batch by the secret counts."""
    cols, _, n = _normalised_columns(x, what)
    z: Any = stacked(cols)
    every = as_secret(next(m for m in observed if m is not None), np.ones(n, dtype=np.int64))
    weights: Any = np.column_stack([m if m is not None else every for m in observed])
    p = len(cols)
    with working_precision(z, WORKING_BITS):
        both: Any = np.column_stack([z, z * z]) * np.column_stack([weights, weights])
        sums = both.sum(axis=0)
        counts = claim_bound(weights.sum(axis=0), 0.0, float(n))
        size = claim_bound(counts + (counts < 0.5), 1.0, float(n))  # a column never observed divides by 1
        below = claim_bound(counts - float(ddof), -float(ddof), float(n))
        divisor = below + (below < 0.5) * (1.0 - below)  # too few rows: divide by 1 (the factor is 0)
        ratios: Any = quotient(
            np.concatenate([sums, counts * 1.0]),
            np.concatenate([size, size, divisor]),
            known=(-1.0, float(ddof + 1)),
        )
        mean_z = claim_bound(ratios[:p], -1.0, 1.0)
        second = claim_bound(ratios[p : 2 * p], 0.0, 1.0)
        factor = claim_bound(ratios[2 * p :] * (below > 0.5), 0.0, float(ddof + 1))
        var_z = claim_bound(second - mean_z * mean_z, 0.0, 1.0) * factor
        exponents = np.array([c.exponent for c in cols])
        mean = exactly_scaled(mean_z, exponents) + np.array([c.centre for c in cols])
        var_z = claim_bound(var_z, 0.0, float(ddof + 1))
        second_out = exactly_scaled(root(var_z), exponents) if spread else exactly_scaled(var_z, 2 * exponents)
    return mean, second_out, counts, weights


def _streamed_mean(x: Any, frame: str) -> Any:
    """Means of rows read in blocks: centre + 2**exponent times the normalised mean, exactly."""
    cols, _, n = _normalised_columns(x, "smpc.stats.mean")

    def refused() -> Any:
        raise StreamedRowsError.about(
            frame, "a site's policy checks dominance, which needs each row's contribution; nothing was released"
        )

    with working_precision(cols[0].z, WORKING_BITS):
        m = moments(cols, "smpc.stats.mean", spread=False).m
        out = [times_power_of_two(m[j], col.exponent) + col.centre for j, col in enumerate(cols)]
    return declare(_each(out, _single(x)), Requirement(ROWS, n), Requirement(DOMINANCE, refused))


def _group_rules(x: Any, by: Any, counts: Any, levels: list[str]) -> tuple[Requirement, ...]:
    """Per level: enough rows behind each non-empty group, few enough levels, and (if a
    policy asks) no dominant contribution within a group."""

    def contributions() -> Any:
        data: Any = np.column_stack(columns(x, "smpc.stats.mean")[0])
        groups = _groups(by, len(data), "smpc.stats.mean")[0]
        size = absolute(data)  # rows x columns
        return (size[:, None, :] * groups[:, :, None]).reshape(len(data), -1)  # one round

    return (
        Requirement(ROWS, counts, empty_ok=True),
        Requirement(LEVELS, len(levels)),
        Requirement(DOMINANCE, contributions),  # computed only if a policy checks dominance
    )


def var(x: Any, axis: int = 0, ddof: int = 1, by: Any = None) -> Any:
    """Variance of each column (``ddof=1``: the sample variance, as pandas and R); ``by``: per
    level of a categorical variable (levels x columns)."""
    if by is not None:
        _, variance, counts, levels, _ = _group_moments(x, by, ddof, "smpc.stats.var")
        rules = (Requirement(ROWS, counts, empty_ok=True), Requirement(LEVELS, len(levels)))
        return declare(variance, *rules, covers=(by,))
    if axis != 0:
        raise ValueError("smpc.stats.var works down the rows (axis=0)")
    observed = _observed_by_column(x, "smpc.stats.var") if streamed_parts(x) is None else None
    if observed is not None:
        _, variance, counts, _ = _column_moments(x, observed, ddof, "smpc.stats.var")
        return declare(variance[0] if _single(x) else variance, Requirement(ROWS, counts))
    cols, _, n = _normalised_columns(x, "smpc.stats.var")
    if n <= ddof:
        raise ValueError(f"smpc.stats.var: {n} rows and ddof={ddof} leave no degrees of freedom")
    with working_precision(cols[0].z, WORKING_BITS):
        c = diagonal(moments(cols, "smpc.stats.var").c) * (n / (n - ddof))
        out = [times_power_of_two(c[j], 2 * col.exponent) for j, col in enumerate(cols)]
    return declare(_each(out, _single(x)), Requirement(ROWS, n))


def std(x: Any, axis: int = 0, ddof: int = 1, by: Any = None) -> Any:
    """Standard deviation of each column (square root of :func:`var`); ``by``: per level."""
    if by is not None:
        return group_mean(x, by, ddof=ddof).std
    if axis != 0:
        raise ValueError("smpc.stats.std works down the rows (axis=0)")
    observed = _observed_by_column(x, "smpc.stats.std") if streamed_parts(x) is None else None
    if observed is not None:
        _, spread, counts, _ = _column_moments(x, observed, ddof, "smpc.stats.std", spread=True)
        return declare(spread[0] if _single(x) else spread, Requirement(ROWS, counts))
    cols, _, n = _normalised_columns(x, "smpc.stats.std")
    if n <= ddof:
        raise ValueError(f"smpc.stats.std: {n} rows and ddof={ddof} leave no degrees of freedom")
    with working_precision(cols[0].z, WORKING_BITS):
        c = claim_bound(diagonal(moments(cols, "smpc.stats.std").c), 0.0, 1.0)
        spread = root(c) * math.sqrt(n / (n - ddof))
        out = [times_power_of_two(spread[j], col.exponent) for j, col in enumerate(cols)]
    return declare(_each(out, _single(x)), Requirement(ROWS, n))


def cov(x: Any, ddof: int = 1) -> Any:
    """The covariance matrix of the columns (rows are observations, as pandas ``DataFrame.cov``)."""
    cols, _, n = _normalised_columns(x, "smpc.stats.cov")
    observed = _complete_cases(x, n, "smpc.stats.cov")
    with working_precision(cols[0].z, WORKING_BITS):
        mom = moments(cols, "smpc.stats.cov", observed=observed)
        c = mom.c * dof_factor(mom.used, ddof)
        exponents = np.array([col.exponent for col in cols])
        return declare(exactly_scaled(c, exponents[:, None] + exponents[None, :]), Requirement(ROWS, mom.used))


def corr(x: Any) -> Any:
    """The Pearson correlation matrix of the columns."""
    cols, _, n = _normalised_columns(x, "smpc.stats.corr")
    observed = _complete_cases(x, n, "smpc.stats.corr")
    with working_precision(cols[0].z, WORKING_BITS):
        mom = moments(cols, "smpc.stats.corr", observed=observed)
        _, r = jacobi_scaling(mom.c)
        return declare(r, Requirement(ROWS, mom.used))


def _complete_cases(x: Any, n: int, what: str) -> Any:
    """The rows where every column is observed (None when none may be missing, or for rows read
    in blocks, whose sites leave nothing out: see :func:`_no_missing_in_blocks`)."""
    if streamed_parts(x) is not None:
        return None
    return rows_observed(columns(x, what)[0], n, what)


class Description(SecretResult):
    KIND = "describe"
    SECRET = ("count", "mean", "std", "min", "max")  # count: each column's observed rows
    PUBLIC = ("n", "names")


def describe(frame: Any) -> Description:
    """count, mean, std, min and max of every column (``DataFrame.describe`` without quantiles)."""
    parts = streamed_parts(frame)
    if parts is not None:  # rows read in blocks: each site's extremes, then a comparison tree
        source, cols, names = parts
        ends = extremes(source, [c.name for c in cols])
        single = len(cols) == 1 and not hasattr(frame, "columns")
        mean_all, std_all = _streamed_mean(frame, source.name), std(frame)
        table = Description(
            count=as_secret(mean_all, np.full(len(cols), len(source), dtype=np.int64)),
            mean=mean_all.reshape(-1) if single else mean_all,
            std=std_all.reshape(-1) if single else std_all,
            min=amin(ends[:, 0, :], axis=0),
            max=amax(ends[:, 1, :], axis=0),
            n=len(source),
            names=np.array(names),
        )
        return declare(table, Requirement(ROWS, len(source)), Requirement(ROW_VALUE, fields=("min", "max")))
    xs, names = columns(frame, "smpc.stats.describe")
    data: SecretArray = np.column_stack(xs)  # type: ignore[assignment]
    n, k = data.shape
    observed = _observed_by_column(list(xs), "smpc.stats.describe")
    if observed is None:
        # min x = -max(-x): one comparison tree over [x, -x] finds both
        both: Any = np.concatenate([data, -data], axis=1)
        top = amax(both, axis=0)
        count: Any = as_secret(data, np.full(k, n, dtype=np.int64))
        mean_all, std_all, rows = data.mean(axis=0), std(list(xs)), n
    else:  # each column over its observed rows; a missing entry is moved to an end it cannot win
        mean_all, std_all, count, weights = _column_moments(list(xs), observed, 1, "smpc.stats.describe", spread=True)
        low = np.array([float(c.bound[0].min()) for c in xs])
        high = np.array([float(c.bound[1].max()) for c in xs])
        filled: Any = np.concatenate([data - low, data - high], axis=1) * np.column_stack([weights, weights])
        extreme: Any = np.concatenate([filled[:, :k] + low, -(filled[:, k:] + high)], axis=1)
        top = amax(extreme, axis=0)
        rows = count
    table = Description(count=count, mean=mean_all, std=std_all, min=-top[k:], max=top[:k], n=n, names=np.array(names))
    # the minimum and the maximum are one patient's values each; the counts are counts
    rules = (
        Requirement(ROWS, rows, fields=("mean", "std", "min", "max")),
        Requirement(COUNT, count, fields=("count",)),
        Requirement(ROW_VALUE, fields=("min", "max")),
    )
    return declare(table, *rules)


class DescriptionResult(ReleasedResult):
    KIND = "describe"

    def table(self) -> Table:
        names = [str(n) for n in np.atleast_1d(self.fields["names"])]
        shown = [f for f in Description.SECRET if f != "count" and f in self.fields]
        rows = []
        for i, name in enumerate(names):
            count = int(round(float(np.atleast_1d(self.fields["count"])[i]))) if self.has("count") else int(self.n)
            rows.append([name, str(count), *(f"{float(np.atleast_1d(self.fields[f])[i]):.4f}" for f in shown)])
        return Table("Pooled description (secure)", ["", "count", *shown], rows)


class GroupMeans(SecretResult):
    KIND = "group_means"
    SECRET = ("mean", "std", "count")
    PUBLIC = ("levels", "names", "variable")  # variable: the grouping's name ("" if computed)


def _groups(by: Any, n: int, what: str) -> tuple[Any, Any, list[str], bool]:
    """(one-hot rows x levels, counts, level names, public?) for a secret or public grouping."""
    if isinstance(by, list | tuple | np.ndarray):
        labels = np.asarray(by)
        if labels.shape != (n,):
            raise ValueError(f"{what}: by= needs one label per row ({n}), got shape {labels.shape}")
        levels = np.unique(labels)
        public = (labels[:, None] == levels[None, :]).astype(np.int64)
        return public, public.sum(axis=0), [str(v) for v in levels], True
    if isinstance(by, SecretArray) and by.ndim == 1:
        secret, found = _coded(by, what)
        return secret, secret.sum(axis=0), found, False
    groups, found = columns(by, f"{what}(by=...)", "level")
    for g in groups:
        low, high = public_bound(g)
        if not g.is_integer or float(low.min()) < 0 or float(high.max()) > 1:
            raise SecretValueError(
                f"{what}: by= as several columns needs one 0/1 column per level (frame.categorical('v')); a column "
                f"holds values in [{float(low.min()):g}, {float(high.max()):g}]. For one column of whole-number codes, "
                "pass that column alone"
            )
    secret = np.column_stack(groups)
    return secret, secret.sum(axis=0), found, False


def _secret_parts(by: Any) -> list[Any]:
    if isinstance(by, SecretArray):
        return [by]
    if isinstance(by, list | tuple | np.ndarray):
        return []
    return list(columns(by, "by=")[0])


#: the most levels a secret column of whole-number codes may have as a grouping
MAX_CODED_LEVELS = 64


def _coded(by: Any, what: str) -> tuple[Any, list[str]]:
    """A secret column of whole-number codes (0/1/2 for age bands) as one 0/1 column per code
    its declared range allows (one comparison batch); the codes are the level names."""
    low, high = public_bound(by)
    lo, hi = float(low.min()), float(high.max())
    if not by.is_integer or not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo + 1 > MAX_CODED_LEVELS:
        kind = "whole-number" if by.is_integer else "fixed-point"
        # whole numbers over too wide a range: its declared range is the fix (none declared:
        # the cell stops with RangeRequiredError listing every column without one)
        raise (RangeNeededError if by.is_integer else SecretValueError)(
            f"{what}: by= is a secret column of {kind} values in [{lo:g}, {hi:g}]; a grouping needs whole-number "
            f"codes with at most {MAX_CODED_LEVELS} levels. Declare it as an integer with its range (in the study "
            "schema, or `%smpc private NAME --range 0 2`), or pass frame.categorical('v') (one 0/1 column per level)"
        )
    codes = np.arange(int(math.ceil(lo)), int(math.floor(hi)) + 1)
    one_hot: Any = by[:, None] == codes[None, :]
    return one_hot, [str(int(c)) for c in codes]


def _group_moments(x: Any, by: Any, ddof: int, what: str) -> tuple[Any, Any, Any, list[str], list[Column]]:
    """Per level: (mean, variance with ``ddof``, count) of every column, in the data's units.
    Sums of the normalised columns and their squares come from one product with the one-hot
    matrix (a public grouping costs no round); a level with no rows has mean 0 and a level with
    ddof rows or fewer variance 0 (their counts say so)."""
    cols, names, n = _normalised_columns(x, what)
    one_hot, counts, levels, public = _groups(by, n, what)
    if streamed_parts(x) is None:  # complete cases: rows where a column or the group is missing are left out
        observed = rows_observed([*columns(x, what)[0], *_secret_parts(by)], n, what)
        if observed is not None:
            one_hot = one_hot * observed[:, None]
            counts, public = one_hot.sum(axis=0), False
    z: Any = stacked(cols)
    with working_precision(z, WORKING_BITS):
        both: Any = np.column_stack([z, z * z])
        sums = one_hot.T @ both  # levels x 2p: a public one-hot is local, a secret one one round
        p = len(cols)
        if public:
            size = np.maximum(counts, 1).astype(np.float64)
            mean_z = sums[:, :p] * (1.0 / size)[:, None]
            second = sums[:, p:] * (1.0 / size)[:, None]
            factor: Any = np.where(counts > ddof, counts / np.maximum(counts - ddof, 1), 0.0)
        else:
            size = claim_bound(counts + (counts < 0.5), 1.0, float(n))  # an empty level divides by 1
            below = claim_bound(counts - float(ddof), -float(ddof), float(n))
            levels_n = len(counts)
            # the means, the second moments and the ddof factors: one division batch
            tops = np.concatenate([sums.reshape(-1), counts * 1.0])
            bottoms = np.concatenate([(size[:, None] + np.zeros((1, 2 * p))).reshape(-1), below])
            ratios: Any = quotient(tops, bottoms, known=(-1.0, float(ddof + 1)))
            both = ratios[: levels_n * 2 * p].reshape(levels_n, 2 * p)
            mean_z = claim_bound(both[:, :p], -1.0, 1.0)
            second = claim_bound(both[:, p:], 0.0, 1.0)
            factor = ratios[levels_n * 2 * p :] * (counts > ddof)
        var_z = claim_bound(second - mean_z * mean_z, 0.0, 1.0) * factor[:, None]
        exponents = np.array([c.exponent for c in cols])
        shape = (len(levels), p)
        mean = exactly_scaled(mean_z, np.broadcast_to(exponents, shape)) + np.array([c.centre for c in cols])
        variance = exactly_scaled(claim_bound(var_z, 0.0, float(ddof + 1)), np.broadcast_to(2 * exponents, shape))
    return mean, variance, counts, levels, cols


def group_mean(x: Any, by: Any, levels: list[str] | None = None, ddof: int = 1) -> GroupMeans:
    """Mean, standard deviation and count of each column within each level of a categorical
    variable. ``by`` is secret (``frame.categorical('drug')`` or a one-hot matrix: who is in
    which group stays secret) or public (one label per pooled row, e.g. each row's site)."""
    mean, variance, counts, found, cols = _group_moments(x, by, ddof, "smpc.stats.group_mean")
    with working_precision(mean, WORKING_BITS):
        spread = exactly_scaled(
            root(exactly_scaled(variance, np.broadcast_to([-2 * c.exponent for c in cols], variance.shape))),
            np.broadcast_to([c.exponent for c in cols], variance.shape),
        )
    names = [c.name for c in cols]
    table = GroupMeans(
        mean=mean,
        std=spread,
        count=counts,
        levels=np.array(levels or found),
        names=np.array(names),
        variable=variable_name(by) if not isinstance(by, list | tuple | np.ndarray) else "",
    )
    rows, few_levels, dominance = _group_rules(x, by, counts, found)
    return declare(
        table,
        Requirement(ROWS, counts, fields=("mean", "std"), empty_ok=True),
        Requirement(COUNT, counts, fields=("count",)),
        few_levels,
        Requirement(DOMINANCE, dominance.value, fields=("mean",)),
        covers=(by,),
    )


class GroupMeansResult(ReleasedResult):
    KIND = "group_means"

    def table(self) -> Table:
        names = [str(n) for n in np.atleast_1d(self.fields["names"])]
        variable = str(np.asarray(self.fields.get("variable", "")))
        header = [variable or "level", "count"] + [f"{n} {what}" for n in names for what in ("mean", "sd")]
        rows = []
        for i, level in enumerate(np.atleast_1d(self.levels)):
            row = [str(level), str(int(round(np.atleast_1d(self.count)[i]))) if self.has("count") else ""]
            for j in range(len(names)):
                row.append(f"{np.atleast_2d(self.mean)[i][j]:.4f}" if self.has("mean") else "")
                row.append(f"{np.atleast_2d(self.std)[i][j]:.4f}" if self.has("std") else "")
            rows.append(row)
        by = f" by {variable}" if variable else ""
        return Table(f"Group means{by} (secure, pooled)", header, rows)
