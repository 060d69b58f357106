"""Poisson regression (log link) on pooled secret rows, with person-time as a log offset: the
adjusted incidence rate ratios of a cohort study, by Newton's method (IRLS) with a fixed,
public number of iterations; standard errors from the inverse Hessian at the last iterate.

Each iteration: the linear predictor and its exponential for every row (one batch), the
gradient X'(y - mu) and the Hessian X' diag(mu) X (one secret product each), both divided by
the total number of events (so that their entries are about 1 however rare the event), and the
Newton step from the Hessian's inverse (Jacobi-preconditioned Newton–Schulz). Covariates are
centred and scaled by public numbers from their declared ranges; coefficients are mapped back
exactly. The iteration starts at the crude log rate, so a few steps suffice; whether it
converged, and whether every linear predictor stayed where the exponential is accurate, are
checked (one bit each) before anything is released.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NumericalRangeError, RangeNeededError, SecretValueError
from ..secret.core import as_secret
from ..secret.functions import EXP_BOTTOM, EXP_TOP, divide, exp, log, rsqrt
from ..secret.precision import claim_bound, known_matmul, public_bound, times_power_of_two, working_precision
from .checks import require_none
from .design import columns, normalised_all, root, stacked, vector
from .disclosure import COUNT, PARAMETERS, ROWS, Requirement, declare
from .missing import require_row_data, rows_observed
from .moments import diagonal, require_spread
from .newton import inverse_information, require_converged, row_weights, sandwich
from .results import ReleasedResult, SecretResult
from .summary import Table, coefficients

DEFAULT_ITERATIONS = 8
DEFAULT_MAX_CONDITION = 2.0**12
COEF_LIMIT = 16.0
WORKING_BITS = 24
WHAT = "smpc.stats.poisson"


class PoissonFit(SecretResult):
    KIND = "poisson"
    SECRET = ("coef", "se", "nobs", "events")
    PUBLIC = ("n", "names", "iterations", "weighted", "robust")


def poisson(
    X: Any,
    events: Any,
    exposure: Any = None,
    *,
    weights: Any = None,
    robust: bool = False,
    iterations: int = DEFAULT_ITERATIONS,
    max_condition: float = DEFAULT_MAX_CONDITION,
) -> PoissonFit:
    """Poisson regression of event counts on ``X`` with an intercept (``const``, first), and
    ``log(exposure)`` (person-time, > 0) as offset: ``exp(coef)`` are rate ratios
    (``.rate_ratios``), the intercept's the baseline rate per unit of person-time.

    ``weights``: each row's weight in the likelihood (statsmodels' ``var_weights``), such as
    inverse probability of treatment weights from :func:`propensity_weights` or a survey weight
    column of the private inputs; ``robust``: sandwich (HC0) standard errors, which weighted
    analyses need."""
    xs, names = columns(X, f"{WHAT}(X, events)")
    y = vector(events, f"{WHAT}(X, events)")
    n, p = len(y), len(xs)
    if any(len(c) != n for c in xs):
        raise ValueError(f"{WHAT}: X and events need the same number of rows")
    t = vector(exposure, f"{WHAT}(exposure=)") if exposure is not None else None
    for column, name in zip(xs, names):  # a public label per row (a site) would give per-site rates
        require_row_data(column, WHAT, f"covariate {name!r}")
    require_row_data(y, WHAT, "events")
    if float(public_bound(y)[0].min()) < -1e-3:  # (fixed-point inputs carry half a step below 0)
        raise SecretValueError(f"{WHAT}: events are counts; declare their range from 0")
    w, w_top = row_weights(weights, n, robust, WHAT)
    extra = [v for v in (t, w) if v is not None]
    kept = rows_observed([*xs, y, *extra], n, WHAT)  # missing values, a filter
    if t is not None:
        t = _positive_exposure(t, kept)
    cols = normalised_all(xs, names, WHAT)
    z = stacked(cols)
    design: Any = np.column_stack([z[:, :1] * 0 + 1, z])
    k = p + 1
    with working_precision(z, WORKING_BITS):
        require_spread(cols, WHAT)
        counts = y * kept if kept is not None else y
        offset = log(t * 1.0) if t is not None else None
        y_top = float(public_bound(y)[1].max())
        # every fitted count at most a public ceiling (checked at the end): the score's and the
        # information's sums are bounded by n times it, and the bits that bound takes from the
        # products' fractional bits decide the fit's accuracy (at e**11 per row, 9,000 rows kept
        # 9 bits of each fitted count: the coefficients moved by 2% of their SEs between runs)
        eta_top = float(np.log(_fitted_ceiling(y_top, weighted=w is not None or robust)))
        events = claim_bound(counts.sum() * 1.0, 0.0, float(n) * y_top)  # (unweighted: a count)
        _require_events(events)
        # a row's weight in every sum (left-out rows weigh 0)
        each = (w * kept if kept is not None else w) if w is not None else kept
        person_time = (  # (unweighted: the crude rate is only where Newton starts)
            (t * kept if kept is not None else t).sum()
            if t is not None
            else (kept.sum() if kept is not None else as_secret(y, np.asarray(float(n))))
        )
        if w is not None:
            counts = claim_bound(counts * each, 0.0, y_top * w_top)
        total = (
            claim_bound(counts.sum() * 1.0, 0.0, float(n) * y_top * w_top) if w is not None else events
        )  # the (weighted) events: the scale of the score and the information
        # the crude log rate: the intercept where the iteration starts
        # (at least one event: the check above stops the cell otherwise)
        pt = claim_bound(person_time * 1.0, 2.0**-8, float(n) * _top(t))
        lowest = 1.0 / (float(n) * _top(t))
        crude = log(claim_bound(divide(events, pt), lowest, float(events.bound[1].max()) * 2.0**8))
        beta: Any = np.concatenate([claim_bound(crude, -COEF_LIMIT * 2, COEF_LIMIT).reshape(1), design[0, 1:] * 0])
        beta = claim_bound(beta, -2 * COEF_LIMIT, 2 * COEF_LIMIT)
        size = total + np.zeros(k + k * k)  # the events: the Hessian's and the gradient's scale
        h_inv = step = None
        for _ in range(int(iterations)):
            eta = design @ beta
            if offset is not None:
                eta = eta + offset
            eta = claim_bound(eta, EXP_BOTTOM, eta_top)
            mu = exp(eta)
            if each is not None:
                mu = mu * each
            raw = np.concatenate([design.T @ (counts - mu), (design.T @ (design * mu[:, None])).reshape(-1)])
            # |g_j| <= (D + sum mu) / D and |H_jl| <= sum mu / D, with |z| <= 1 and sum mu about D
            # near the crude start and after (the intercept's score); tight bounds keep the bits
            scaled: Any = divide(raw, size, known=(-4.0, 4.0))  # one division batch
            gradient = claim_bound(scaled[:k], -4.0, 4.0)
            hessian = claim_bound(scaled[k:].reshape(k, k), -2.0, 2.0)
            h_inv = inverse_information(hessian, max_condition, WHAT)
            step_top = 4.0 * k * max_condition * 2.0**15
            step = known_matmul(h_inv, gradient, -step_top, step_top, WHAT)
            beta = claim_bound(beta + step, -2 * COEF_LIMIT, 2 * COEF_LIMIT)
        assert h_inv is not None and step is not None
        last = design @ beta + (offset if offset is not None else 0)
        _require_in_range(last, eta_top, y_top)
        require_converged(
            step, h_inv, total, iterations, WHAT, "a covariate may predict the events perfectly (drop or merge it)"
        )
        if robust:  # the sandwich (H / D)^-1 (B / D) (H / D)^-1 in place of (H / D)^-1
            h_inv = _sandwich(design, last, y if kept is None else y * kept, each, total, h_inv, y_top, w_top)
        # standard errors: Var(beta) = (H / D)^-1 / D
        variances = claim_bound(diagonal(h_inv), 0.0, float(h_inv.bound[1].max()))
        slopes = np.concatenate([times_power_of_two(beta[j + 1 : j + 2], -c.exponent) for j, c in enumerate(cols)])
        intercept = beta[0:1] - (slopes * np.array([c.centre for c in cols])).sum().reshape(1)
        shift = np.concatenate([[1.0], [-c.centre / 2.0**c.exponent for c in cols]])
        top = float(np.abs(shift).sum() ** 2 * float(h_inv.bound[1].max()))
        const_var = claim_bound((shift[:, None] * h_inv * shift[None, :]).sum(), 0.0, top)
        roots = root(np.concatenate([variances, const_var.reshape(1)])) * rsqrt(total)
        ses = [times_power_of_two(roots[j + 1 : j + 2], -c.exponent) for j, c in enumerate(cols)]
    used = kept.sum() if kept is not None else as_secret(y, np.asarray(n, dtype=np.int64))
    fit = PoissonFit(
        coef=np.concatenate([intercept, slopes]),
        se=np.concatenate([roots[k : k + 1], *ses]),
        nobs=used,
        events=events,
        n=n,
        names=np.array(["const", *names]),
        iterations=int(iterations),
        weighted=w is not None,
        robust=bool(robust),
    )
    rows = used if kept is not None else n
    rules = (
        Requirement(ROWS, rows),
        Requirement(PARAMETERS, rows, parameters=k),
        Requirement(COUNT, events.reshape(1)),  # the events behind every rate
        Requirement(COUNT, rows, fields=("nobs",)),
    )
    return declare(fit, *rules, covers=(X, events))


def _positive_exposure(t: Any, kept: Any) -> Any:
    """Person-time whose log is the offset: declared positive, or (where rows are left out, which
    hold 0) positive on every kept row, checked securely (one bit); a left-out row gets 1."""
    low = float(public_bound(t)[0].min())
    if low > 0:
        return t
    if kept is None:
        raise RangeNeededError(
            f"{WHAT}: exposure (person-time) must be declared positive (its declared range starts at {low:g}); a "
            "row with no time at risk cannot have a rate: leave it out"
        )
    step = 2.0 ** -max(t._scale, 1)
    require_none(
        (kept * (t < step)).sum(),
        NumericalRangeError(
            f"{WHAT}: a row kept has no person-time (0 or less), so it cannot have a rate; nothing was released. "
            "Leave such rows out (where=)"
        ),
    )
    return claim_bound(t + (1 - kept), step, float(public_bound(t)[1].max()) + 1.0)


def _sandwich(design: Any, eta: Any, y: Any, each: Any, total: Any, h_inv: Any, y_top: float, w_top: float) -> Any:
    """(H / D)^-1 (B / D) (H / D)^-1, B = sum_i (w_i (y_i - mu_i))^2 x_i x_i' (HC0, as statsmodels'
    GLM with ``var_weights`` and ``cov_type="HC0"``). At convergence sum w mu = sum w y = D (the
    intercept's score), so |B / D| <= 2 max|w (y - mu)|: a public bound, mu being bounded."""
    mu_top = y_top + 1.0  # (checked with the linear predictors' range)
    mu = exp(claim_bound(eta, EXP_BOTTOM, float(np.log(mu_top))))
    residual = y - mu if each is None else (y - mu) * each
    r_top = w_top * mu_top
    residual = claim_bound(residual, -r_top, r_top)
    k = design.shape[1]
    meat_top = 2.0 * r_top * 1.01
    raw = design.T @ (design * (residual * residual)[:, None])
    scale = total + np.zeros(k * k)
    meat = claim_bound(divide(raw.reshape(-1), scale, known=(-meat_top, meat_top)), -meat_top, meat_top)
    return sandwich(meat, meat_top, h_inv, WHAT, "a covariate nearly constant among the events")


#: Unweighted fits: every fitted count at most this many times (the largest count declared + 1);
#: a row fitted 32 events where at most 1 is declared means a model that does not fit the data.
FITTED_MARGIN = 16.0


def _fitted_ceiling(y_top: float, weighted: bool) -> float:
    """The largest fitted count a row may have: the largest count declared + 1 for weighted and
    robust fits (whose sums' bounds follow it), FITTED_MARGIN times that otherwise."""
    ceiling = (y_top + 1.0) * (1.0 if weighted else FITTED_MARGIN)
    return min(ceiling, float(np.exp(EXP_TOP)))


def _top(t: Any) -> float:
    return float(public_bound(t)[1].max()) if t is not None else 1.0


def _require_events(total: Any) -> None:
    require_none(
        total < 0.5,
        NumericalRangeError(f"{WHAT}: there are no events, so no rate can be estimated; nothing was released"),
    )


def _require_in_range(eta: Any, top: float, y_top: float) -> None:
    """One bit: every row's linear predictor lies where the exponential is accurate and below
    ``top`` (every fitted count at most its ceiling, :func:`_fitted_ceiling`)."""
    outside: Any = ((eta > top) + (eta < EXP_BOTTOM)).sum()
    ceiling = float(np.exp(top))
    if ceiling < np.exp(EXP_TOP) * 0.999:
        cause = (
            f"a row's fitted count is above {ceiling:g} ({'' if ceiling <= y_top + 1.001 else f'{FITTED_MARGIN:g} x '}"
            f"(the largest count declared, {y_top:g}, + 1)), beyond what the fit is computed for"
        )
    else:
        cause = f"a row's fitted log rate left the range the secure exponential covers ([{EXP_BOTTOM:g}, {top:g}])"
    require_none(
        outside,
        NumericalRangeError(
            f"{WHAT}: {cause}; nothing was released. Check the person-time's unit (years, not days) and the events' "
            "declared range, or for a covariate that predicts every event (separation)"
        ),
    )


class PoissonResult(ReleasedResult):
    """A released Poisson regression: ``coef`` (log rate ratios), ``se``; z statistics and
    p-values from the normal distribution, as statsmodels' GLM."""

    KIND = "poisson"

    @property
    def rate_ratios(self) -> np.ndarray:
        return np.exp(np.asarray(self.coef))

    def table(self) -> Table:
        used = int(round(float(self.nobs))) if self.has("nobs") else int(self.n)
        events = f", {int(round(float(self.events)))} events" if self.has("events") else ""
        kind = "weighted Poisson regression" if getattr(self, "weighted", False) else "Poisson regression"
        errors = ", robust (HC0) standard errors" if getattr(self, "robust", False) else ""
        title = f"{kind} (secure, pooled n = {used}{events}{errors}, {self.iterations} Newton iterations)"
        title = title[0].upper() + title[1:]
        return coefficients(title, self.fields, None, "z", "exp(coef): rate ratios (.rate_ratios)")
