"""Kaplan–Meier survival curves (with Greenwood standard errors) and the log-rank test, from
secret times, event indicators and groups pooled across sites.

The computation steps through public time boundaries b_0 < b_1 < ... < b_K. For an integer time
column (days, weeks) they are every whole time in its declared range, which makes the estimate
exactly Kaplan–Meier; otherwise they are the requested grid (the actuarial approximation: exact
when every event time is a grid time). One batch of comparisons [time > b_k] gives who is at
risk and who fails in each interval; deaths per interval are one secret matrix product; the
survival curve is a prefix product (log2 K rounds). Only the declared results are released.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import NumericalRangeError
from ..secret.functions import divide
from ..secret.precision import claim_bound, public_bound, scale_of, working_precision
from .checks import require_none
from .design import inverse_root, root, vector
from .disclosure import COUNT, ROWS, Requirement, declare
from .results import ReleasedResult, SecretResult

WORKING_BITS = 24
MAX_STEPS = 2000


class SurvivalCurve(SecretResult):
    KIND = "kaplan_meier"
    SECRET = ("survival", "se", "at_risk")
    PUBLIC = ("grid", "n")


class LogRank(SecretResult):
    KIND = "logrank"
    SECRET = ("chi2",)
    PUBLIC = ("dof",)


def _boundaries(time: Any, grid: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Public step boundaries and, for each grid time, the index of the last step at or before it."""
    points = np.sort(np.asarray(grid, dtype=np.float64).reshape(-1))
    if points.size == 0:
        raise ValueError(f"{what}: give at least one grid time")
    lo, hi = (float(v) for v in (public_bound(time)[0].min(), public_bound(time)[1].max()))
    if scale_of(time) == 0 and math.isfinite(lo) and math.isfinite(hi) and hi - lo + 1 <= MAX_STEPS:
        ends = np.arange(math.floor(lo), math.floor(hi) + 1, dtype=np.float64)  # every whole time
    else:
        ends = points
    edges = np.concatenate([[min(lo, float(ends[0])) - 1.0], ends])
    where = np.searchsorted(ends, points, side="right") - 1  # -1: before the first step
    return edges, where


def _risk_sets(time: Any, event: Any, edges: np.ndarray) -> tuple[Any, Any, Any]:
    """(beyond, failing, deaths): [time > edge] (n x K+1), 0/1 failure in each interval, deaths."""
    beyond = time[:, None] > edges[None, :]  # one comparison batch
    failing = beyond[:, :-1] - beyond[:, 1:]  # time in (edge_{k-1}, edge_k]
    deaths = event @ failing  # one round
    return beyond, failing, deaths


def _prefix_product(x: Any) -> Any:
    """Running products along the last axis in ceil(log2 K) rounds (values in [0, 1])."""
    k = x.shape[-1]
    shift = 1
    while shift < k:
        head = x[..., :shift]
        tail = claim_bound(x[..., shift:] * x[..., :-shift], 0.0, 1.0)
        x = np.concatenate([head, tail], axis=-1)
        shift *= 2
    return x


def kaplan_meier(time: Any, event: Any, grid: Any, where: Any = None) -> SurvivalCurve:
    """Survival probability at each public ``grid`` time, its Greenwood standard error and the
    number at risk at that time (still under observation). ``where``: a secret 0/1 column
    selecting the rows of one group (``cohort['drug=doac']``); which rows it selects stays secret."""
    what = "smpc.stats.kaplan_meier"
    t, e = vector(time, what), vector(event, what)
    n = len(t)
    edges, picks = _boundaries(t, grid, what)
    if where is None:
        beyond, _, deaths = _risk_sets(t, e, edges)
        at_risk = beyond[:, :-1].sum(axis=0)
    else:
        mask = vector(where, what)
        beyond = t[:, None] > edges[None, :]
        both = np.column_stack([mask, mask * e])  # one round
        at_risk = both[:, 0] @ beyond[:, :-1]
        deaths = both[:, 1] @ (beyond[:, :-1] - beyond[:, 1:])
    with working_precision(deaths, WORKING_BITS):
        risk = claim_bound(at_risk * 1.0, 0.0, float(n))
        # the hazards d / n and Greenwood's terms d / (n (n - d)) (each at most 1 where n > d, and
        # 0 where n = d): one division batch
        steps = deaths.shape[0]
        ratios: Any = divide(
            np.concatenate([deaths * 1.0, deaths * 1.0]),
            np.concatenate([risk, risk * (risk - deaths)]),
            known=(0.0, 1.0),
        )
        hazard, terms = ratios[:steps], ratios[steps:]
        survival = _prefix_product(claim_bound(1.0 - hazard, 0.0, 1.0))
        cumulative = _running_sum(terms)
        se = survival * root(claim_bound(cumulative, 0.0, float(len(edges))))
    picked = np.clip(picks, 0, None)
    before = picks < 0
    s_at = survival[picked] * (1 - before) + before * 1.0
    se_at = se[picked] * (1 - before)
    curve = SurvivalCurve(
        survival=s_at, se=se_at, at_risk=at_risk[picked], grid=np.sort(np.asarray(grid, dtype=float)), n=n
    )
    # what the released points tell: the number at risk at each, and the events between two
    # consecutive points (the curve's drop there); both are table cells
    cumulative_events = _running_sum(deaths)
    events_by = cumulative_events[picked] * (1 - before)
    between = events_by - np.concatenate([events_by[:1] * 0, events_by[:-1]])
    # and those who leave between two points without an event (censored): at risk at one point,
    # less at risk at the next, less the events of the steps in between
    # (from the start: the rows at risk at the first step)
    before_step = np.concatenate([cumulative_events[:1] * 0, cumulative_events])
    points = np.concatenate([at_risk[:1], at_risk[picked]])
    events_before = np.concatenate([before_step[:1], before_step[picked]])
    censored = (points[:-1] - points[1:]) - (events_before[1:] - events_before[:-1])
    counts = np.concatenate([at_risk[picked], between, censored])
    return declare(curve, Requirement(COUNT, counts), Requirement(ROWS, at_risk[:1]), covers=(event,))


def _running_sum(x: Any) -> Any:
    """Cumulative sums along the last axis: a public lower-triangular matrix product (no rounds)."""
    k = x.shape[-1]
    return x @ np.triu(np.ones((k, k), dtype=np.int64))


def logrank(time: Any, event: Any, group: Any, grid: Any | None = None) -> LogRank:
    """The log-rank chi-square comparing survival in ``group == 1`` and ``group == 0`` (a secret
    0/1 column), with 1 degree of freedom. ``grid``: the step boundaries for a non-integer time."""
    what = "smpc.stats.logrank"
    t, e, g = vector(time, what), vector(event, what), vector(group, what)
    n = len(t)
    edges, _ = _boundaries(t, grid if grid is not None else [float(public_bound(t)[1].max())], what)
    beyond, failing, deaths = _risk_sets(t, e, edges)
    at_risk = beyond[:, :-1].sum(axis=0)
    paired = np.column_stack([g, g * e])  # one round
    in_group = paired[:, 0] @ beyond[:, :-1]
    deaths_group = paired[:, 1] @ failing
    with working_precision(deaths, WORKING_BITS):
        risk = claim_bound(at_risk * 1.0, 0.0, float(n))
        # the group's share of those at risk, and (n - d) / (n - 1) (0 when n = 1): one batch
        steps = in_group.shape[0]
        ratios: Any = divide(
            np.concatenate([in_group * 1.0, risk - deaths]), np.concatenate([risk, risk - 1.0]), known=(0.0, 1.0)
        )
        share, spread = ratios[:steps], ratios[steps:]
        expected = deaths * share
        variance = claim_bound((expected * (1.0 - share) * spread).sum(), 0.0, float(n))
        difference = claim_bound((deaths_group - expected).sum(), -float(n), float(n))
        require_none(
            variance < 2.0**-12,
            NumericalRangeError(f"{what}: no event happened while both groups were at risk; nothing was released"),
        )
        # (O - E) / sqrt(V), squared: relative precision that of 1/sqrt, whatever V's range
        score = difference * inverse_root(claim_bound(variance, 2.0**-12, float(n)))
        chi2 = score * score
    # the events and the rows of each group: the chi-square is a function of them
    events = deaths_group.sum()
    sizes = g.sum()
    counts = np.concatenate([x.reshape(1) for x in (events, deaths.sum() - events, sizes, n - sizes)])
    return declare(LogRank(chi2=chi2, dof=1), Requirement(COUNT, counts), Requirement(ROWS, n), covers=(event, group))


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

    def summary(self) -> str:
        lines = [
            f"Kaplan–Meier (secure, pooled n = {self.n})",
            f"{'time':>10}{'survival':>12}{'se':>10}{'at risk':>10}",
        ]
        for i, t in enumerate(np.atleast_1d(self.grid)):
            s = f"{np.atleast_1d(self.survival)[i]:>12.4f}" if self.has("survival") else " " * 12
            se = f"{np.atleast_1d(self.se)[i]:>10.4f}" if self.has("se") else " " * 10
            r = f"{int(round(np.atleast_1d(self.at_risk)[i])):>10}" if self.has("at_risk") else ""
            lines.append(f"{t:>10g}{s}{se}{r}")
        return "\n".join(lines)


class LogRankResult(ReleasedResult):
    KIND = "logrank"

    @property
    def pvalue(self) -> float:
        from scipy import stats as dist

        return float(dist.chi2.sf(self.chi2, self.dof))

    def summary(self) -> str:
        return f"Log-rank test (secure, pooled): chi2 = {self.chi2:.4f}, dof = {int(self.dof)}, p = {self.pvalue:.4g}"
