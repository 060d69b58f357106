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
from .design import columns, normalised, root, stacked, vector
from .disclosure import COUNT, PARAMETERS, ROWS, Requirement, declare
from .missing import require_row_data, rows_observed
from .moments import diagonal
from .newton import inverse_information, require_converged
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
    PUBLIC = ("n", "names", "iterations")


def poisson(
    X: Any,
    events: Any,
    exposure: Any = None,
    *,
    iterations: int = DEFAULT_ITERATIONS,
    max_condition: float = DEFAULT_MAX_CONDITION,
) -> PoissonFit:
    """Poisson regression of event counts on ``X`` with an intercept (``const``, first), and
    ``log(exposure)`` (person-time, > 0) as offset: ``exp(coef)`` are rate ratios
    (``.rate_ratios``), the intercept's the baseline rate per unit of person-time."""
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
    kept = rows_observed([*xs, y, *([t] if t is not None else [])], n, WHAT)  # missing values, a filter
    if t is not None:
        t = _positive_exposure(t, kept)
    cols = [normalised(c, name, WHAT) for c, name in zip(xs, names)]
    z = stacked(cols)
    design: Any = np.column_stack([z[:, :1] * 0 + 1, z])
    k = p + 1
    with working_precision(z, WORKING_BITS):
        counts = y * kept if kept is not None else y
        offset = log(t * 1.0) if t is not None else None
        total = claim_bound(counts.sum() * 1.0, 0.0, float(n) * float(public_bound(y)[1].max()))
        person_time = (
            (t * kept if kept is not None else t).sum()
            if t is not None
            else (kept.sum() if kept is not None else as_secret(y, np.asarray(float(n))))
        )
        _require_events(total)
        # the crude log rate: the intercept where the iteration starts
        # (at least one event: the check above stops the cell otherwise)
        pt = claim_bound(person_time * 1.0, 2.0**-8, float(n) * _top(t))
        lowest = 1.0 / (float(n) * _top(t))
        crude = log(claim_bound(divide(total, pt), lowest, float(total.bound[1].max()) * 2.0**8))
        beta: Any = np.concatenate([claim_bound(crude, -COEF_LIMIT * 2, COEF_LIMIT).reshape(1), design[0, 1:] * 0])
        beta = claim_bound(beta, -2 * COEF_LIMIT, 2 * COEF_LIMIT)
        size = total + np.zeros(k + k * k)  # the events: the Hessian's and the gradient's scale
        h_inv = step = None
        for _ in range(int(iterations)):
            eta = design @ beta
            if offset is not None:
                eta = eta + offset
            eta = claim_bound(eta, EXP_BOTTOM, EXP_TOP)
            mu = exp(eta)
            if kept is not None:
                mu = mu * kept
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
        _require_in_range(last)
        require_converged(
            step, h_inv, total, iterations, WHAT, "a covariate may predict the events perfectly (drop or merge it)"
        )
        # standard errors: Var(beta) = (H / D)^-1 / D
        variances = claim_bound(diagonal(h_inv), 0.0, max_condition * 2.0**15)
        slopes = np.concatenate([times_power_of_two(beta[j + 1 : j + 2], -c.exponent) for j, c in enumerate(cols)])
        intercept = beta[0:1] - (slopes * np.array([c.centre for c in cols])).sum().reshape(1)
        shift = np.concatenate([[1.0], [-c.centre / 2.0**c.exponent for c in cols]])
        top = float(np.abs(shift).sum() ** 2 * max_condition * 2.0**15)
        const_var = claim_bound((shift[:, None] * h_inv * shift[None, :]).sum(), 0.0, top)
        roots = root(np.concatenate([variances, const_var.reshape(1)])) * rsqrt(total)
        ses = [times_power_of_two(roots[j + 1 : j + 2], -c.exponent) for j, c in enumerate(cols)]
    used = kept.sum() if kept is not None else as_secret(y, np.asarray(n, dtype=np.int64))
    fit = PoissonFit(
        coef=np.concatenate([intercept, slopes]),
        se=np.concatenate([roots[k : k + 1], *ses]),
        nobs=used,
        events=total,
        n=n,
        names=np.array(["const", *names]),
        iterations=int(iterations),
    )
    rows = used if kept is not None else n
    rules = (
        Requirement(ROWS, rows),
        Requirement(PARAMETERS, rows, parameters=k),
        Requirement(COUNT, total.reshape(1)),  # the events behind every rate
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


def _top(t: Any) -> float:
    return float(public_bound(t)[1].max()) if t is not None else 1.0


def _require_events(total: Any) -> None:
    require_none(
        total < 0.5,
        NumericalRangeError(f"{WHAT}: there are no events, so no rate can be estimated; nothing was released"),
    )


def _require_in_range(eta: Any) -> None:
    """One bit: every row's linear predictor lies where the exponential is accurate."""
    outside: Any = ((eta > EXP_TOP) + (eta < EXP_BOTTOM)).sum()
    require_none(
        outside,
        NumericalRangeError(
            f"{WHAT}: a row's fitted log rate left the range the secure exponential covers ([{EXP_BOTTOM:g}, "
            f"{EXP_TOP:g}]); nothing was released. Rescale the person-time (years, not days) or check for a "
            "covariate that predicts every event (separation)"
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
        title = f"Poisson regression (secure, pooled n = {used}{events}, {self.iterations} Newton iterations)"
        return coefficients(title, self.fields, None, "z", "exp(coef): rate ratios (.rate_ratios)")
