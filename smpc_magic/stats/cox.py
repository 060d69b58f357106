"""Cox proportional hazards regression on pooled secret rows: the adjusted hazard ratios of a
cohort study, by Newton's method on the partial likelihood with a fixed, public number of
iterations; standard errors from the inverse information at the last iterate.

Risk sets come from an oblivious sort by default, so the fit is that of the exact event times
(days, or years as real numbers); with ``grid=`` they come from a public time grid instead
(:mod:`.cox_grid`: no sort, the fit of the times grouped into the grid's intervals, which scales
to 10^5 rows). Sorted, with Efron's or Breslow's handling of tied times: the
rows are sorted by time once (events before censorings at equal times, a sorting network of
about log2(n)^2 / 2 comparison batches), which rows share a time is found once (one
comparison batch), and each row's risk set is then a suffix sum read at the first row of its
block of equal times (a segmented scan, log2(n) rounds). Efron's fractions l / d (the l-th of
d tied events) are computed once, with one division batch.

Each iteration: the linear predictor and its exponential for every row (one batch), the
weighted sums over the risk sets of 1, z and z z' (suffix sums, no rounds; read at the blocks'
first rows; Efron also reads the tied events' sums at the blocks' last rows), one division
batch (the risk-set means of z and z z'), the score and the information (one product each),
both divided by the number of events, and the Newton step from the information's inverse
(Jacobi-preconditioned Newton–Schulz). Covariates are centred and scaled by public numbers
from their declared ranges (a Cox model has no intercept, so only the scale maps back). Whether
Newton converged and whether every linear predictor stayed where the exponential is accurate
are checked (one bit each) before anything is released.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..errors import NumericalRangeError, SecretValueError
from ..secret.compare import less_than_zero
from ..secret.core import as_secret
from ..secret.functions import divide, exp, rsqrt
from ..secret.precision import claim_bound, known_matmul, public_bound, scale_of, times_power_of_two, working_precision
from ..secret.sorting import block_first, block_last, prefix_sum, sort_rows, suffix_sum
from .checks import require_none
from .cox_grid import GridRiskSets, grid_cuts, on_time_scale, risk_set_terms
from .design import columns, normalised_all, root, stacked, vector
from .disclosure import COUNT, PARAMETERS, ROWS, Requirement, declare
from .missing import require_row_data, rows_observed
from .moments import diagonal, require_spread
from .newton import inverse_information, require_converged
from .results import ReleasedResult, SecretResult
from .summary import Table, coefficients
from .time_points import register_time_points

DEFAULT_ITERATIONS = 6
DEFAULT_MAX_CONDITION = 2.0**12
#: Coefficients on the normalised scale (|z| <= 1) stay within this (a hazard ratio of e**8
#: across half a covariate's declared range); every linear predictor within ETA_LIMIT.
COEF_LIMIT = 8.0
ETA_LIMIT = 8.0
WORKING_BITS = 24
WHAT = "smpc.stats.coxph"
TIES = ("efron", "breslow")


class CoxFit(SecretResult):
    KIND = "coxph"
    SECRET = ("coef", "se", "nobs", "events")
    PUBLIC = ("n", "names", "iterations", "ties", "grid")  # grid: the cut points (none: exact times)


def coxph(
    X: Any,
    time: Any,
    event: Any,
    *,
    ties: str = "efron",
    strata: Any = None,
    grid: Any = None,
    iterations: int = DEFAULT_ITERATIONS,
    max_condition: float = DEFAULT_MAX_CONDITION,
) -> CoxFit:
    """Cox proportional hazards regression of (``time``, ``event``) on the columns of ``X``:
    ``exp(coef)`` are hazard ratios (``.hazard_ratios``). ``event`` is 1 for an event and 0 for
    a censored time; ``ties`` is ``"efron"`` (as lifelines and R's survival) or ``"breslow"``.
    ``strata``: a secret column of whole-number codes; each stratum has its own baseline hazard
    (risk sets hold rows of the same stratum), as lifelines' ``strata=`` and R's ``strata()``.
    ``grid``: public cut points in the time's unit; times are grouped into the intervals they
    make and an interval's events are tied (exact when each interval holds one distinct time),
    which costs rows x intervals comparisons once instead of a sort (see ``cox_grid``)."""
    if ties not in TIES:
        raise SecretValueError(f"{WHAT}: ties= is 'efron' or 'breslow', not {ties!r}")
    if int(iterations) < 1:
        raise SecretValueError(f"{WHAT}: iterations= is a whole number of Newton steps, at least 1")
    xs, names = columns(X, f"{WHAT}(X, time, event)")
    t, e = vector(time, f"{WHAT}(time=)"), vector(event, f"{WHAT}(event=)")
    n, p = len(t), len(xs)
    if len(e) != n or any(len(c) != n for c in xs):
        raise SecretValueError(f"{WHAT}: X, time and event need the same number of rows")
    for column, name in zip(xs, names):  # a public label per row (a site) would give per-site hazards
        require_row_data(column, WHAT, f"covariate {name!r}")
    require_row_data(t, WHAT, "time")
    require_row_data(e, WHAT, "event")
    low, high = public_bound(e)
    if float(low.min()) < -1e-3 or float(high.max()) > 1 + 1e-3 or scale_of(e) != 0:
        raise SecretValueError(
            f"{WHAT}: event is 1 for an event and 0 for a censored time: a whole-number 0/1 column (a binary "
            f"variable or a comparison) whose range is (0, 1); it is [{float(low.min()):g}, {float(high.max()):g}]"
            + (" with fractions" if scale_of(e) else "")
        )
    s = _strata(strata, n)
    cuts = grid_cuts(grid, WHAT) if grid is not None else None
    if cuts is not None and s is not None:
        raise SecretValueError(
            f"{WHAT}: strata= with grid= is not available: fit a stratified model on the exact times (without grid=)"
        )
    if cuts is not None:
        cuts = on_time_scale(cuts, t, WHAT)
    register_time_points(t, "coxph", cuts, WHAT, e)  # (another coxph in the cell: the same points)
    kept = rows_observed(
        [*xs, t, e, *([s] if s is not None else [])], n, WHAT
    )  # missing values, a filter: those rows are in no risk set
    cols = normalised_all(xs, names, WHAT)
    z = stacked(cols)
    upper = np.triu_indices(p)
    q = len(upper[0])
    sizes = at_risk = None
    with working_precision(z, WORKING_BITS):
        require_spread(cols, WHAT)
        events = e * kept if kept is not None else e
        every = kept if kept is not None else as_secret(e, np.ones(n, dtype=np.int64))
        pairs = z[:, upper[0]] * z[:, upper[1]]  # z_j z_l for the information matrix (one round)
        total = claim_bound(events.sum() * 1.0, 0.0, float(n))  # (of the input rows, not the sorted ones)
        require_none(total < 0.5, NumericalRangeError(f"{WHAT}: there are no events, so nothing was released"))
        # the input rows' facts (the strata's selections too)
        anchor = (z.sum(axis=0).sum() + t.sum() + events.sum() + (s.sum() if s is not None else 0)) * 1.0
        top = float(n) * float(np.exp(ETA_LIMIT))
        if cuts is None:
            sorted_sets = SortedRiskSets(t, s, events, every, np.column_stack([z, pairs]), p, ties, top)
            rows_z, mask, sums = sorted_sets.z, sorted_sets.kept, sorted_sets.sums
            # each stratum's rows: a stratum of a few rows (a patient alone) would be a subset
            sizes = _aggregate(sorted_sets.stratum_sizes(), anchor) if s is not None else None
        else:
            grid_sets = GridRiskSets(t, events, kept, np.column_stack([z, pairs]), p, cuts, ties, top, WHAT)
            rows_z, mask, sums = z, every, grid_sets.sums
            at_risk = grid_sets.at_risk_counts
        size = total + np.zeros(p + q)  # the events: the score's and the information's scale
        beta: Any = claim_bound(rows_z[0] * 0.0, -COEF_LIMIT, COEF_LIMIT)
        h_inv = step = None
        for _ in range(int(iterations)):
            eta = claim_bound(rows_z @ beta, -ETA_LIMIT, ETA_LIMIT)
            w = claim_bound(exp(eta), 0.0, float(np.exp(ETA_LIMIT))) * mask
            # the score, and the information's upper triangle: sums over the events, which are
            # aggregates of the input rows (the sort and the grid mix them) and carry their facts
            raw = _aggregate(sums(w), anchor)
            scaled: Any = divide(raw, size, known=(-2.0, 2.0))
            gradient = claim_bound(scaled[:p], -2.0, 2.0)
            information = claim_bound(_symmetric_from_upper(scaled[p:], p), -2.0, 2.0)
            h_inv = inverse_information(information, max_condition, WHAT)
            step_top = 2.0 * p * max_condition * 2.0**15
            step = known_matmul(h_inv, gradient, -step_top, step_top, WHAT)
            beta = claim_bound(beta + step, -COEF_LIMIT, COEF_LIMIT)
        assert h_inv is not None and step is not None
        _require_in_range(rows_z @ beta, anchor)
        require_converged(
            step,
            h_inv,
            total,
            iterations,
            WHAT,
            "a covariate may predict who has an event first perfectly (drop or merge it)",
        )
        variances = claim_bound(diagonal(h_inv), 0.0, max_condition * 2.0**15)
        roots = root(variances) * rsqrt(claim_bound(total, 1.0, float(n)))
        coef = np.concatenate([times_power_of_two(beta[j : j + 1], -c.exponent) for j, c in enumerate(cols)])
        se = np.concatenate([times_power_of_two(roots[j : j + 1], -c.exponent) for j, c in enumerate(cols)])
    used = kept.sum() if kept is not None else as_secret(e, np.asarray(n, dtype=np.int64))
    fit = CoxFit(
        coef=coef,
        se=se,
        nobs=used,
        events=total,
        n=n,
        names=np.array(names),
        iterations=int(iterations),
        ties=ties,
        grid=cuts if cuts is not None else np.zeros(0),
    )
    rows_used = used if kept is not None else n
    rules = (
        Requirement(ROWS, rows_used),
        *([Requirement(ROWS, sizes, empty_ok=True)] if sizes is not None else []),
        # on a grid: the rows at risk in each interval are counts (0 or min_count)
        *([Requirement(COUNT, at_risk)] if at_risk is not None else []),
        Requirement(PARAMETERS, rows_used, parameters=p),
        Requirement(COUNT, events.sum().reshape(1)),  # the events behind every hazard ratio
        Requirement(COUNT, rows_used, fields=("nobs",)),
    )
    return declare(fit, *rules, covers=(X, event))


#: Times are compared at the fixed-point step: a fractional time's declared range must span at
#: least this many steps (else distinct times would merge into ties).
TIME_STEPS = 2**12
#: The sort key's magnitude: stratum codes and times beyond it are refused.
KEY_LIMIT = 2.0**30


def _clock(t: Any, s: Any) -> tuple[float, float, float]:
    """The times' fixed-point step, their span (whole units) and the width between strata; refuses
    times too coarse for their step and stratum codes or times too large for the sort key."""
    unit = 2.0 ** -scale_of(t)
    bounds = public_bound(t)
    low_t, high_t = float(bounds[0].min()), float(bounds[1].max())
    if scale_of(t) and (high_t - low_t) / unit < TIME_STEPS:
        raise SecretValueError(
            f"{WHAT}: time's declared range [{low_t:g}, {high_t:g}] spans only {(high_t - low_t) / unit:.0f} "
            f"fixed-point steps of {unit:g}, so distinct times could count as tied. Give times in a unit where "
            "they differ by more than a step (days or years, not a tiny fraction)"
        )
    span = float(np.ceil(high_t - low_t))  # two rows' times differ by at most this
    width = 2 * span + 2  # rows of two strata differ by more than span + 1
    top = max(abs(low_t), abs(high_t))
    if s is not None:
        codes = public_bound(s)
        top += width * max(abs(float(codes[0].min())), abs(float(codes[1].max())))
    if 4 * top > KEY_LIMIT:
        raise SecretValueError(
            f"{WHAT}: the "
            + ("stratum codes and times" if s is not None else "times")
            + f" are too large to sort by (up to {top:.4g}). "
            + ("Code the strata 0, 1, 2, ... (declare their range)" if s is not None else "Give times in days or years")
        )
    return unit, span, width


class SortedRiskSets:
    """The rows sorted by (stratum, time), events first at equal times (once per fit), and each
    iteration's sums over the events of (z - mean of z over the risk set, mean of z z' less the
    mean's square), from suffix sums read at the blocks of tied times."""

    def __init__(self, t: Any, s: Any, events: Any, every: Any, design: Any, p: int, ties: str, top: float):
        n = len(t)
        unit, span, width = _clock(t, s)
        # sorted by 4 (stratum code x width + time) - event: stratum by stratum, by time within
        # each, events first at equal times; the key is sorted beside the payload, which keeps
        # the covariates' precision whatever the key's magnitude
        clock = t * 1.0 if s is None else s * width + t
        payload: Any = np.column_stack([events, every, design])
        keys, rows = sort_rows(clock * 4 - events * unit, payload)
        self.events, self.kept, self.z, self.design = rows[:, 0], rows[:, 1], rows[:, 2 : 2 + p], rows[:, 2:]
        self.p, self.top = p, top
        # equal times differ by at most one unit, different ones by at least three; rows of two
        # strata by more than 4 (span + 1), those of one stratum by less
        gaps = keys[1:] - keys[:-1]
        tests: list[Any] = [gaps - 2 * unit] + ([gaps - 4 * (span + 1.0)] if s is not None else [])
        same: Any = less_than_zero(cast(Any, np.concatenate(tests)))  # one batch
        self.continues: Any = np.concatenate([same[:1] * 0, same[: n - 1]])  # the time equals the row before's
        self.stratum: Any = np.concatenate([same[:1] * 0, same[n - 1 :]]) if s is not None else None
        self.fractions = _efron_fractions(self.continues, self.events, n) if ties == "efron" else None

    def stratum_sizes(self) -> Any:
        """Each sorted row's count of the rows used in its stratum (two segmented scans)."""
        through = prefix_sum(self.kept)
        last = block_last(self.stratum, through[:, None])[:, 0]
        before = block_first(self.stratum, (through - self.kept)[:, None])[:, 0]
        return last - before

    def sums(self, w: Any) -> Any:
        p, top = self.p, self.top
        weighted: Any = np.column_stack([w, self.design * w[:, None]])  # w, w z, w z z' (one round)
        risk = claim_bound(suffix_sum(weighted), -top, top)  # over the rows at or after each row
        if self.stratum is not None:  # less the rows of later strata (read at the stratum's last row)
            risk = claim_bound(risk - block_last(self.stratum, risk - weighted, -top, top), -top, top)
        if self.fractions is None:  # Breslow: every tied event sees the whole risk set
            sums = block_first(self.continues, risk, -top, top)
        else:  # Efron: the l-th of d tied events sees it less l / d of the tied events' weights
            tied_weights = weighted * self.events[:, None]
            sums = _efron_sums(self.continues, risk, tied_weights, self.fractions, top)
        # the risk sets' weighted means of z and z z' (in [-1, 1]): one division batch
        means = divide(sums[:, 1:], sums[:, :1], known=(-1.0, 1.0))
        terms = risk_set_terms(means, p)
        return self.events @ np.column_stack([self.z - terms[:, :p], terms[:, p:]])


def _strata(strata: Any, n: int) -> Any:
    """The strata's secret codes (whole numbers), or None."""
    if strata is None:
        return None
    s = vector(strata, f"{WHAT}(strata=)")
    if len(s) != n:
        raise SecretValueError(f"{WHAT}: strata= needs one code per row ({n}), got {len(s)}")
    require_row_data(s, WHAT, "strata")
    if scale_of(s) != 0:
        raise SecretValueError(
            f"{WHAT}: strata= takes whole-number codes (a schema integer or binary column, or codes 0, 1, 2, ...), "
            "not fractions"
        )
    return s


def _efron_fractions(continues: Any, es: Any, n: int) -> Any:
    """For each event row, l / d: l tied events before it at its time, d at its time (one
    division batch, once)."""
    events_to = prefix_sum(es)
    before = block_first(continues, (events_to - es)[:, None])[:, 0]  # the events before its block
    through = block_last(continues, events_to[:, None])[:, 0]  # the events up to its block's end
    with working_precision(es, WORKING_BITS):
        return divide(
            (events_to - es - before) * 1.0, claim_bound((through - before) * 1.0, 0.0, float(n)), known=(0.0, 1.0)
        )


def _efron_sums(continues: Any, risk: Any, tied_weights: Any, fractions: Any, top: float) -> Any:
    """Efron's risk sets: the block's whole risk set less fractions x the weights of the block's
    tied events (the suffix sums of the events' weights read at the block's first row, less
    those after its last row)."""
    after = suffix_sum(tied_weights)
    first = block_first(continues, np.column_stack([risk, after]), -top, top)
    beyond = block_last(continues, after - tied_weights, -top, top)  # the events after the block
    k = risk.shape[1]
    block_events = first[:, k:] - beyond
    return first[:, :k] - block_events * fractions[:, None]


def _symmetric_from_upper(upper: Any, p: int) -> Any:
    """The p x p symmetric matrix whose upper triangle (row by row) is ``upper``."""
    index = np.zeros((p, p), dtype=np.int64)
    rows, cols = np.triu_indices(p)
    index[rows, cols] = np.arange(len(rows))
    index[cols, rows] = np.arange(len(rows))
    return upper[index]


def _aggregate(value: Any, anchor: Any) -> Any:
    """``value`` carrying the facts of ``anchor`` (an aggregate of the input rows) as its own."""
    value._prov = (anchor + np.zeros(value.shape))._prov.mapped("coxph")
    return value


def _require_in_range(eta: Any, anchor: Any) -> None:
    """One bit: every row's linear predictor lies within +-ETA_LIMIT."""
    outside: Any = _aggregate(((eta > ETA_LIMIT) + (eta < -ETA_LIMIT)).sum(), anchor)
    require_none(
        outside,
        NumericalRangeError(
            f"{WHAT}: a row's fitted log hazard ratio left the range the secure fit covers (+-{ETA_LIMIT:g} across "
            "the cohort); nothing was released. Check for a covariate that separates who has an event first, or "
            "declare tighter ranges"
        ),
    )


class CoxResult(ReleasedResult):
    """A released Cox regression: ``coef`` (log hazard ratios), ``se``; z statistics, p-values and
    confidence intervals from the normal distribution, as lifelines' CoxPHFitter."""

    KIND = "coxph"

    @property
    def hazard_ratios(self) -> np.ndarray:
        return np.exp(np.asarray(self.coef))

    def confidence_intervals(self, level: float = 0.95) -> np.ndarray:
        """(lower, upper) of each coefficient (log hazard ratio), by the normal approximation."""
        from scipy import stats as dist

        width = float(dist.norm.ppf(0.5 + level / 2)) * np.asarray(self.se)
        coef = np.asarray(self.coef)
        return np.column_stack([coef - width, coef + width])

    def table(self) -> Table:
        used = int(round(float(self.nobs))) if self.has("nobs") else int(self.n)
        events = f", {int(round(float(self.events)))} events" if self.has("events") else ""
        cuts = np.atleast_1d(np.asarray(self.fields.get("grid", np.zeros(0)), dtype=float))
        grid = f", times grouped into the {len(cuts) + 1} intervals of a grid" if len(cuts) else ""
        title = (
            f"Cox regression (secure, pooled n = {used}{events}, {self.ties} ties{grid}, "
            f"{self.iterations} Newton iterations)"
        )
        return coefficients(title, self.fields, None, "z", "exp(coef): hazard ratios (.hazard_ratios)")
