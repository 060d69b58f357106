"""Kaplan–Meier survival curves (with Greenwood standard errors) and the log-rank test, from
secret times, event indicators and groups pooled across sites.

Both are exact at every event time, whatever the times' resolution (days, or years as real
numbers): the rows are sorted by time with an oblivious sorting network (events before
censorings at equal times), so the risk set at each row is a suffix count and no time is
opened. Kaplan–Meier steps the curve by (1 - d / r) at each row (tied events telescope to
(r - d) / r, and so do Greenwood's terms) and reads it at the public grid times; the log-rank
test reads each block of equal times at its first and last row. Only the declared results are
released; the counts they imply are checked by the policies' rules.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..errors import NumericalRangeError
from ..secret.compare import less_than_zero
from ..secret.core import as_secret
from ..secret.functions import divide
from ..secret.precision import claim_bound, scale_of, working_precision
from ..secret.sorting import block_first, block_last, prefix_product, prefix_sum, sort_rows, suffix_sum
from .checks import require_none
from .design import inverse_root, root, vector
from .disclosure import COUNT, ROWS, Requirement, declare
from .missing import require_row_data, rows_observed
from .results import ReleasedResult, SecretResult
from .summary import Table
from .time_points import register_time_points

WORKING_BITS = 24


class SurvivalCurve(SecretResult):
    KIND = "kaplan_meier"
    SECRET = ("survival", "se", "at_risk", "nobs")  # nobs: the rows of the curve (the group's)
    PUBLIC = ("grid", "n")


class LogRank(SecretResult):
    KIND = "logrank"
    SECRET = ("chi2",)
    PUBLIC = ("dof",)


def kaplan_meier(time: Any, event: Any, grid: Any, where: Any = None) -> SurvivalCurve:
    """The product-limit (Kaplan–Meier) survival probability at each public ``grid`` time, its
    Greenwood standard error, the number at risk at that time (time >= it) and the rows of the
    curve (``nobs``). ``where``: a secret 0/1 column selecting the rows of one group
    (``cohort['drug=doac']``); which rows it selects stays secret.

    Exact at every event time, whatever the times' resolution: the rows are sorted by time
    obliviously (events before censorings at the same time, as lifelines counts them), each row
    then steps the curve by (1 - d / r) (tied events telescope to (r - d) / r), and the curve is
    read at the grid times. Costs a sorting network (about log2(n)^2 / 2 comparison batches)."""
    what = "smpc.stats.kaplan_meier"
    t, e = vector(time, what), vector(event, what)
    require_row_data(t, what, "time")
    n = len(t)
    points = _grid(grid, what)
    register_time_points(t, "kaplan_meier", points, what, e)  # (another curve in the cell: the same points)
    m = vector(where, what) if where is not None else None
    kept = rows_observed([t, e] + ([m] if m is not None else []), n, what)  # missing values, a filter
    if kept is not None:
        m = kept if m is None else m * kept
    # at or before each grid time, and still at risk there: one comparison batch on the input rows
    flags = t[:, None] - points[None, :]
    upto, at_or_after = _le_ge(flags)
    me = e * m if m is not None else e
    every = m if m is not None else as_secret(e, np.ones(n, dtype=np.int64))
    weights: Any = np.column_stack([every, me])
    # [rows in the curve, its events] x [T <= g, T >= g]: one secret product
    tallies = weights.T @ np.column_stack([upto, at_or_after])
    k = len(points)
    ended, events_by, at_risk = tallies[0, :k], tallies[1, :k], tallies[0, k:]
    size = weights[:, 0].sum()
    # the curve's steps, in time order: events first among equal times
    unit = 2.0 ** -scale_of(t)
    key = t * 2 - me * unit
    in_curve = weights[:, 0]
    payload: Any = np.column_stack([me, in_curve, upto])
    _, rows = sort_rows(key, payload)
    d, r_in = rows[:, 0], rows[:, 1]
    risk = suffix_sum(r_in)  # those at risk at each row's time (the row itself included)
    deaths_like = d * 1.0
    with working_precision(deaths_like, WORKING_BITS):
        top = float(n)
        r = claim_bound(risk * 1.0, 0.0, top)
        alone = r < 1.5  # the last one at risk (Greenwood's term is undefined there: 0)
        # Greenwood's terms d / (r (r - 1)) are about 1 / n^2 early in a large curve, below the
        # fixed-point step: they are computed n times larger (at most n / 2), in the same batch
        quotient_top: Any = np.concatenate([np.ones(n), np.full(n, top)])
        ratios: Any = divide(
            np.concatenate([deaths_like, deaths_like * (1 - alone) * top]),
            np.concatenate([r + (1.0 - r_in), r * (r - 1.0) + alone]),
            known=(0.0, quotient_top),
        )
        hazard, terms = ratios[:n], ratios[n:]
        survival = prefix_product(claim_bound(1.0 - hazard, 0.0, 1.0))
        # (the sum of d / (r (r - 1)) over a curve is below 1, so n times it is below n)
        cumulative = claim_bound(prefix_sum(terms), 0.0, top)
        # the last row at or before each grid time (rows are in time order): differences of [T <= g]
        a = rows[:, 2:]
        last = a - np.concatenate([a[1:], a[:1] * 0])
        read: Any = last.T @ np.column_stack([survival, cumulative])  # one round
        none_yet = 1 - a[0]  # no row at or before the grid time: survival 1, no variance
        s_at = read[:, 0] + none_yet
        se_at = s_at * root(claim_bound(read[:, 1], 0.0, top)) * (1.0 / np.sqrt(top))
    # released: an aggregate of the curve's rows (like the counts below), not of sorted rows
    anchor = tallies[0, :k] * 1.0 + (t.sum() + me.sum()) * 1.0  # (the times', events' and rows' facts)
    for value in (s_at, se_at):
        value._prov = anchor._prov.mapped("kaplan_meier")
    curve = SurvivalCurve(survival=s_at, se=se_at, at_risk=at_risk, nobs=size, grid=points, n=n)
    # what the released points tell: the number at risk at each, the events between two
    # consecutive points (the curve's drop there) and those who left without an event
    # (censored) between them and before the first
    between = events_by - np.concatenate([events_by[:1] * 0, events_by[:-1]])
    left = ended - np.concatenate([ended[:1] * 0, ended[:-1]])
    counts = np.concatenate([at_risk, between, left - between, size.reshape(1)])
    return declare(curve, Requirement(COUNT, counts), Requirement(ROWS, size.reshape(1)), covers=(event,))


def _grid(grid: Any, what: str) -> np.ndarray:
    points = np.unique(np.asarray(grid, dtype=np.float64).reshape(-1))
    if points.size == 0 or not np.isfinite(points).all():
        raise ValueError(f"{what}: give at least one finite grid time")
    return points


def _le_ge(differences: Any) -> tuple[Any, Any]:
    """[d <= 0] and [d >= 0] of one secret array, in one comparison batch."""
    both: Any = np.concatenate([-differences, differences], axis=1)
    below = both < 0  # [-d < 0] = [d > 0] and [d < 0]
    k = differences.shape[1]
    return 1 - below[:, :k], 1 - below[:, k:]


def logrank(time: Any, event: Any, group: Any, grid: Any | None = None) -> LogRank:
    """The log-rank chi-square comparing survival in ``group == 1`` and ``group == 0`` (a secret
    0/1 column), with 1 degree of freedom, over every distinct event time (as lifelines'
    ``logrank_test``). ``grid`` is accepted for older cells and not used.

    The rows are sorted by time obliviously; rows with the same time form a block (one
    comparison batch finds where blocks start) whose risk set and events are read at its first
    and last row by two segmented scans (log2(n) rounds each)."""
    what = "smpc.stats.logrank"
    t, e, g = vector(time, what), vector(event, what), vector(group, what)
    require_row_data(t, what, "time")
    n = len(t)
    unit = 2.0 ** -scale_of(t)
    kept = rows_observed([t, e, g], n, what)  # missing values, a filter: those rows are not at risk
    if kept is not None:
        both: Any = np.column_stack([e, g]) * kept[:, None]  # one round
        e, g = both[:, 0], both[:, 1]
    every = kept if kept is not None else as_secret(e, np.ones(n, dtype=np.int64))
    eg = e * g  # one round
    payload: Any = np.column_stack([t * 1.0, e, g, eg, every])
    _, rows = sort_rows(t * 2 - e * unit, payload)
    ts, es, gs = rows[:, 0], rows[:, 1], rows[:, 2]
    # a row continues the block of the row before it when their times are equal
    same = less_than_zero(ts[1:] - ts[:-1] - unit)  # times differ by a whole unit or are equal
    continues: Any = np.concatenate([same[:1] * 0, same])
    at_risk, in_group = suffix_sum(rows[:, 4]), suffix_sum(gs)
    events_to = prefix_sum(es)
    head = block_first(continues, np.column_stack([at_risk, in_group, events_to - es]))
    tail = block_last(continues, events_to[:, None])[:, 0]
    r, r1, deaths = head[:, 0], head[:, 1], tail - head[:, 2]
    with working_precision(ts, WORKING_BITS):
        risk = claim_bound(r * 1.0, 0.0, float(n))
        d = claim_bound(deaths * 1.0, 0.0, float(n))
        # one at risk, none at risk (a row left out may have none): one comparison batch
        flags = less_than_zero(cast(Any, np.concatenate([risk - 1.5, risk - 0.5])))
        alone, empty = flags[:n], flags[n:]
        ratios: Any = divide(
            np.concatenate([r1 * 1.0, risk - d]),
            np.concatenate([risk + empty, risk - 1.0 + alone]),
            known=(0.0, 1.0),
        )
        share, spread = ratios[:n], ratios[n:]
        expected = claim_bound((es * share).sum(), 0.0, float(n))
        variance = claim_bound((es * share * (1.0 - share) * spread).sum(), 0.0, float(n))
        difference = claim_bound(rows[:, 3].sum() - expected, -float(n), float(n))
        # sums over all the sorted rows: aggregates of the input rows (as the counts below),
        # which the check and the release are decided by
        events, all_events, sizes, rows_in = eg.sum(), e.sum(), g.sum(), every.sum()
        counts = np.concatenate([x.reshape(1) for x in (events, all_events - events, sizes, rows_in - sizes)])
        anchor = (counts * 1.0).sum() + t.sum() * 1.0  # (the times', events' and groups' facts)
        for value in (variance, difference):
            value._prov = anchor._prov.mapped("logrank")
        require_none(
            variance < 2.0**-12,
            NumericalRangeError(f"{what}: no event happened while both groups were at risk; nothing was released"),
        )
        # (O - E) / sqrt(V), squared: relative precision that of 1/sqrt, whatever V's range
        score = difference * inverse_root(claim_bound(variance, 2.0**-12, float(n)))
        chi2 = score * score
    # the events and the rows of each group: the chi-square is a function of them
    rules = (Requirement(COUNT, counts), Requirement(ROWS, rows_in.reshape(1)))
    return declare(LogRank(chi2=chi2, dof=1), *rules, covers=(event, group))


class SurvivalResult(ReleasedResult):
    KIND = "kaplan_meier"

    def plot(self, ax: Any = None, label: str = "secure Kaplan–Meier") -> Any:
        """A step plot of the released curve (matplotlib), with a 95% band when se was released."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        grid, survival = np.asarray(self.grid), np.asarray(self.survival)
        ax.step(np.concatenate([[0.0], grid]), np.concatenate([[1.0], survival]), where="post", label=label)
        if self.has("se"):
            se = np.asarray(self.se)
            ax.fill_between(
                grid, np.clip(survival - 1.96 * se, 0, 1), np.clip(survival + 1.96 * se, 0, 1), step="post", alpha=0.2
            )
        ax.set_xlabel("time")
        ax.set_ylabel("survival")
        ax.set_ylim(0, 1.02)
        return ax

    def table(self) -> Table:
        n = int(round(float(self.nobs))) if self.has("nobs") else int(self.n)
        rows = []
        for i, t in enumerate(np.atleast_1d(self.grid)):
            rows.append(
                [
                    f"{t:g}",
                    f"{np.atleast_1d(self.survival)[i]:.4f}" if self.has("survival") else "",
                    f"{np.atleast_1d(self.se)[i]:.4f}" if self.has("se") else "",
                    str(int(round(np.atleast_1d(self.at_risk)[i]))) if self.has("at_risk") else "",
                ]
            )
        return Table(f"Kaplan–Meier (secure, pooled n = {n})", ["time", "survival", "se", "at risk"], rows)


class LogRankResult(ReleasedResult):
    KIND = "logrank"

    @property
    def pvalue(self) -> float:
        from scipy import stats as dist

        return float(dist.chi2.sf(self.chi2, self.dof))

    def summary(self) -> str:
        return f"Log-rank test (secure, pooled): chi2 = {self.chi2:.4f}, dof = {int(self.dof)}, p = {self.pvalue:.4g}"
