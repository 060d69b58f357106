"""Cox regression's risk sets on a public time grid the study declares (``coxph(..., grid=)``).

The cut points c1 < c2 < ... split time into intervals (-inf, c1], (c1, c2], ..., (c_last, inf);
a row belongs to the interval its time falls in, the events of one interval are tied, and an
interval's risk set is every row of that interval or a later one. Which interval a row falls in
is one comparison batch with the cut points (once per fit, no sort); each Newton iteration then
needs one secret matrix product (rows x intervals by rows x the risk-set sums) and one division
batch per interval (Breslow) or per row (Efron, whose l-th tied event needs its own risk set).

The fit is that of the times grouped into the intervals, so it equals the exact fit when each
interval holds at most one distinct time (whole days with a cut at every day, weeks with a cut
at every week) and otherwise that of the times rounded up to their interval's end. Its cost
grows with rows x intervals: 10^4 rows on 34 intervals took 22 s and 0.97 GB per party; the
comparison batch's material is held at once, so beyond MAX_GRID_CELLS a fit is refused (10^5
rows on 34 intervals reached 8 GB per party).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SecretValueError
from ..secret.core import as_secret
from ..secret.functions import divide
from ..secret.precision import claim_bound, public_bound, scale_of, working_precision
from ..secret.sorting import prefix_sum

#: rows x intervals above this are refused (each is a secret 0/1 entry held while fitting, with
#: its comparison's material: about 3 KB per entry per party today)
MAX_GRID_CELLS = 10**6
#: intervals of a grid (a cut at every day of a few years at most)
MAX_CUTS = 4096


def grid_cuts(grid: Any, what: str) -> np.ndarray:
    """The grid's cut points as a checked array: public, finite, strictly increasing (where they
    lie against the time's declared range is checked by :func:`on_time_scale`)."""
    try:
        cuts = np.asarray(grid, dtype=float)
    except (TypeError, ValueError):
        raise SecretValueError(
            f"{what}: grid= takes public cut points in the time's unit (a list of increasing numbers, such as "
            "range(1, 61) for months), not a secret or text"
        ) from None
    if cuts.ndim != 1 or not 1 <= len(cuts) <= MAX_CUTS:
        raise SecretValueError(f"{what}: grid= is a list of 1 to {MAX_CUTS} cut points in the time's unit")
    if not np.all(np.isfinite(cuts)) or np.any(np.diff(cuts) <= 0):
        raise SecretValueError(f"{what}: grid='s cut points must be finite numbers in increasing order, each once")
    return cuts


def on_time_scale(cuts: np.ndarray, t: Any, what: str) -> np.ndarray:
    """The cut points rounded to the time's fixed-point step, as the times were when encoded (a
    time equal to a cut, 0.1 for example, then compares as equal, not a step above it); cut
    points outside the time's declared range are refused (they would tie every event)."""
    step = 2.0 ** -scale_of(t)
    low, high = (float(b.min()) if i == 0 else float(b.max()) for i, b in enumerate(public_bound(t)))
    outside = cuts[(cuts < low) | (cuts >= high)]
    if outside.size:
        raise SecretValueError(
            f"{what}: grid='s cut point {outside[0]:g} lies outside time's declared range [{low:g}, {high:g}): "
            "every row would fall on one side of it. Give cut points between the earliest and the latest time"
        )
    rounded = np.round(cuts / step) * step
    if np.any(np.diff(rounded) <= 0):
        raise SecretValueError(f"{what}: grid='s cut points are closer than time's fixed-point step ({step:g})")
    return rounded


class GridRiskSets:
    """The grid's intervals of every row (computed once), and each iteration's sums over the
    events of (z - mean of z over the risk set, mean of z z' less the mean's square)."""

    def __init__(
        self, t: Any, events: Any, kept: Any, design: Any, p: int, cuts: np.ndarray, ties: str, top: float, what: str
    ):
        n = len(t)
        if n * (len(cuts) + 1) > MAX_GRID_CELLS:
            raise SecretValueError(
                f"{what}: {n} rows on a grid of {len(cuts) + 1} intervals is beyond the {MAX_GRID_CELLS:,} rows x "
                "intervals a fit holds in memory: use a coarser grid (months rather than days), or the exact fit "
                "(without grid=) for fewer rows"
            )
        self.p = p
        self.design, self.events, self.ties, self.top = design, events, ties, top
        # at risk in interval k: time > the cut before it (every row in the first): one batch
        later: Any = (t[:, None] > cuts[None, :]) * 1
        self.at_risk: Any = np.concatenate([as_secret(later, np.ones((n, 1), dtype=np.int64)), later], axis=1)
        # the event's interval: at risk in it and not in the next (one product with the events)
        reached: Any = events[:, None] * self.at_risk
        nxt: Any = np.concatenate([reached[:, 1:], reached[:, :1] * 0], axis=1)
        self.tied: Any = reached - nxt  # rows x intervals: 1 where the row's event falls
        self.counts: Any = self.tied.sum(axis=0)  # events per interval
        #: the rows at risk in each interval (time beyond its start), used rows only: counts
        #: (a cut that leaves a patient or two beyond it would make a fit of theirs)
        used: Any = self.at_risk * kept[:, None] if kept is not None else self.at_risk
        self.at_risk_counts: Any = used.sum(axis=0)
        self.fractions = self._efron_fractions(n) if ties == "efron" else None

    def _efron_fractions(self, n: int) -> Any:
        """Each event row's l / d: l events of its interval before it, d in its interval."""
        before: Any = prefix_sum(self.tied) - self.tied
        rank: Any = (self.tied * before).sum(axis=1)  # one round
        size: Any = self.tied @ self.counts  # its interval's events (one product)
        with working_precision(self.design, 24):
            return divide(rank * 1.0, claim_bound(size * 1.0, 0.0, float(n)), known=(0.0, 1.0))

    def sums(self, w: Any) -> Any:
        """Over the events: [z - risk-set mean of z, risk-set mean of z z' - its square]."""
        p, top = self.p, self.top
        weighted: Any = np.column_stack([w, self.design * w[:, None]])  # one round
        risk = claim_bound(self.at_risk.T @ weighted, -top, top)  # intervals x (1 + p + q): one product
        z = self.design[:, :p]
        if self.fractions is None:  # Breslow: every tied event of an interval sees its whole risk set
            means = divide(risk[:, 1:], risk[:, :1], known=(-1.0, 1.0))  # one batch, per interval
            terms = risk_set_terms(means, p)
            score = self.events @ z - self.counts @ terms[:, :p]  # one product for both
            return np.concatenate([score, self.counts @ terms[:, p:]])
        # Efron: the l-th of d tied events sees its interval's risk set less l / d of their weights
        tied_sums = claim_bound(self.tied.T @ weighted, -top, top)  # the interval's events' weights
        both = claim_bound(self.tied @ np.concatenate([risk, tied_sums], axis=1), -top, top)  # per row
        k = risk.shape[1]
        own = both[:, :k] - both[:, k:] * self.fractions[:, None]
        means = divide(own[:, 1:], own[:, :1], known=(-1.0, 1.0))  # one batch, per row
        terms = risk_set_terms(means, p)
        return self.events @ np.column_stack([z - terms[:, :p], terms[:, p:]])


def risk_set_terms(means: Any, p: int) -> Any:
    """[mean of z, mean of z z' - (mean of z)(mean of z)'] (the upper triangle), one round."""
    upper = np.triu_indices(p)
    mz, mzz = means[:, :p], means[:, p:]
    return np.column_stack([mz, mzz - mz[:, upper[0]] * mz[:, upper[1]]])
