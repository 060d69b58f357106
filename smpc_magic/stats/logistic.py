"""Logistic regression on pooled secret rows by Newton's method (IRLS) with a fixed, public
number of iterations; standard errors from the inverse Hessian at the last iterate.

Each iteration: the linear predictor and its sigmoid for every row (one batch, vectorised), the
gradient X'(y - p) and the Hessian X' diag(w) X (one secret matrix product each), and the
Newton step from the Hessian's inverse (Jacobi-preconditioned Newton–Schulz, :mod:`.linalg`).
Columns are centred and scaled by public numbers from their declared ranges, so the iteration
works on |x| <= 1 whatever the units; coefficients are mapped back exactly. Coefficients on
that scale are assumed to stay within +-COEF_LIMIT (a change of the log-odds by 64 across half
a covariate's range); the final check covers it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import NumericalRangeError
from ..secret.core import as_secret
from ..secret.functions import divide, rsqrt, sigmoid
from ..secret.precision import claim_bound, known_matmul, times_power_of_two, working_precision
from .checks import require_none
from .design import columns, normalised_all, root, stacked, vector
from .disclosure import COUNT, PARAMETERS, ROWS, Requirement, declare
from .linalg import inverse_spd, symmetric
from .missing import rows_observed
from .moments import diagonal, require_spread
from .newton import require_converged as weighted_converged
from .newton import row_weights, sandwich
from .results import ReleasedResult, SecretResult
from .summary import Table, coefficients

DEFAULT_ITERATIONS = 10
DEFAULT_MAX_CONDITION = 2.0**12
COEF_LIMIT = 64.0
WORKING_BITS = 24
WHAT = "smpc.stats.logit"


class LogitFit(SecretResult):
    KIND = "logit"
    SECRET = ("coef", "se", "nobs")  # nobs: the complete rows used (n without missing values)
    PUBLIC = ("n", "names", "iterations", "weighted", "robust")


def logit(
    X: Any,
    y: Any,
    *,
    weights: Any = None,
    robust: bool = False,
    iterations: int = DEFAULT_ITERATIONS,
    max_condition: float = DEFAULT_MAX_CONDITION,
) -> LogitFit:
    """Logistic regression of a 0/1 ``y`` on ``X`` with an intercept (``const``, first).

    ``weights``: each row's weight in the likelihood (statsmodels' ``var_weights``), such as
    propensity weights from :func:`propensity_weights` or a survey weight column of the private
    inputs; ``robust``: sandwich (HC0) standard errors, which weighted analyses need."""
    xs, names = columns(X, f"{WHAT}(X, y)")
    target = vector(y, f"{WHAT}(X, y)")
    n, p = len(target), len(xs)
    w, w_top = row_weights(weights, n, robust, WHAT)
    observed = rows_observed([*xs, target, *([w] if w is not None else [])], n, WHAT)  # complete cases
    cols = normalised_all(xs, names, WHAT)
    z = stacked(cols)
    design: Any = np.column_stack([z[:, :1] * 0 + 1, z])  # the intercept column, then the covariates
    # unweighted: a row left out weighs 0 in the gradient and the Hessian; both are divided by the
    # public n (Newton's step and the standard errors do not depend on that scale). Weighted: by
    # the weights' total W (secret), so that the scaled sums stay about 1 whatever the weights
    k = p + 1
    with working_precision(target, WORKING_BITS):
        require_spread(cols, WHAT)
        each = total = None
        if w is None:
            beta, h_inv = fit_normalised(design, target, observed, iterations, max_condition)
        else:
            each = w * observed if observed is not None else w
            total = claim_bound(each.sum() * 1.0, 0.0, float(n) * w_top)
            require_none(
                total < 1.0, NumericalRangeError(f"{WHAT}: the weights sum to less than 1; nothing was released")
            )
            beta, h_inv = _fit_weighted(design, target, each, total, iterations, max_condition)
        if robust:
            h_inv = _robust(design, beta, target, observed if each is None else each, total, h_inv, w_top)
        top = float(h_inv.bound[1].max())
        variances = claim_bound(diagonal(h_inv), 0.0, top)
        # back to the data's units: beta_j / 2**k_j, and the intercept minus beta_j * centre_j
        coefs = [times_power_of_two(beta[j + 1 : j + 2], -c.exponent) for j, c in enumerate(cols)]
        slopes = np.concatenate(coefs)
        intercept = beta[0:1] - (slopes * np.array([c.centre for c in cols])).sum().reshape(1)
        # the intercept's variance: c' H^-1 c for c = (1, -centre_j / 2**k_j)
        shift = np.concatenate([[1.0], [-c.centre / 2.0**c.exponent for c in cols]])
        spread = float(np.abs(shift).sum() ** 2 * top)
        if total is None:
            const_var = (shift[:, None] * h_inv * shift[None, :]).sum() * (1.0 / n)
            const_var = claim_bound(const_var, 0.0, spread / n)
            # the k + 1 square roots are independent: one batch, one set of rounds
            roots = root(np.concatenate([variances, const_var.reshape(1)]))
            se_z, se_const = roots[:k] * (1.0 / math.sqrt(n)), roots[k]
        else:  # Var = (H / W)^-1 / W
            const_var = claim_bound((shift[:, None] * h_inv * shift[None, :]).sum(), 0.0, spread)
            roots = root(np.concatenate([variances, const_var.reshape(1)])) * rsqrt(total)
            se_z, se_const = roots[:k], roots[k]
        ses = [times_power_of_two(se_z[j + 1 : j + 2], -c.exponent) for j, c in enumerate(cols)]
    used = observed.sum() if observed is not None else as_secret(beta, np.asarray(n, dtype=np.int64))
    fit = LogitFit(
        coef=np.concatenate([intercept, slopes]),
        se=np.concatenate([se_const.reshape(1), *ses]),
        nobs=used,
        n=n,
        names=np.array(["const", *names]),
        iterations=int(iterations),
        weighted=w is not None,
        robust=bool(robust),
    )
    # a 0/1 covariate or the outcome is counted: each level holds min_count rows or none
    rows = used if observed is not None else n
    rules = (
        Requirement(ROWS, rows),
        Requirement(PARAMETERS, rows, parameters=k),
        Requirement(COUNT, rows, fields=("nobs",)),
    )
    return declare(fit, *rules, covers=(X, y))


def _fit_weighted(
    design: Any, target: Any, each: Any, total: Any, iterations: int, max_condition: float
) -> tuple[Any, Any]:
    """Newton's method with each row's weight ``each`` (0 for rows left out): the gradient and
    the Hessian divided by the weights' total W in one division batch (|g| <= 1, |H| <= 1/4:
    |y - p| <= 1, p (1 - p) <= 1/4); the coefficients and (H / W)^-1, convergence checked."""
    n, k = design.shape
    beta = claim_bound(design[0] * 0, -COEF_LIMIT, COEF_LIMIT)
    size = total + np.zeros(k + k * k)
    h_inv = step = None
    for _ in range(int(iterations)):
        eta = claim_bound(design @ beta, -COEF_LIMIT * k, COEF_LIMIT * k)
        prob = sigmoid(eta)
        both = np.column_stack([claim_bound(prob * (1.0 - prob), 0.0, 0.25), target - prob]) * each[:, None]
        raw = np.concatenate([design.T @ both[:, 1], (design.T @ (design * both[:, 0][:, None])).reshape(-1)])
        scaled: Any = divide(raw, size, known=(-1.0, 1.0))
        gradient = claim_bound(scaled[:k], -1.0, 1.0)
        hessian = claim_bound(scaled[k:].reshape(k, k), -0.25, 0.25)
        h_inv = _inverse(hessian, max_condition)
        step = known_matmul(h_inv, gradient, -max_condition * k, max_condition * k, WHAT)
        beta = claim_bound(beta + step, -COEF_LIMIT, COEF_LIMIT)
    assert h_inv is not None and step is not None
    weighted_converged(step, h_inv, total, iterations, WHAT, SEPARATION)
    return beta, h_inv


def _robust(design: Any, beta: Any, target: Any, each: Any, total: Any, h_inv: Any, w_top: float) -> Any:
    """(H / S)^-1 (B / S) (H / S)^-1 with B = sum_i (w_i (y_i - p_i))^2 x_i x_i' (HC0, as
    statsmodels' GLM with ``var_weights`` and ``cov_type="HC0"``); S is n, or W when weighted.
    |B / S| <= max w: |y - p| <= 1 and sum w = W."""
    n, k = design.shape
    prob = sigmoid(claim_bound(design @ beta, -COEF_LIMIT * k, COEF_LIMIT * k))
    residual = target - prob
    if each is not None:
        residual = residual * each
    r = claim_bound(residual * (1.0 / w_top), -1.0, 1.0)  # |r| <= 1 keeps the squares' bits
    raw = (design.T @ (design * (r * r)[:, None])).reshape(-1)  # within +-n
    if total is None:
        meat = claim_bound(raw * (1.0 / n), -1.0, 1.0)
    else:  # B / W = w_top**2 (raw / W), and |B / W| <= w_top
        quotient = divide(raw, total + np.zeros(k * k), known=(-1.0 / w_top, 1.0 / w_top))
        meat = claim_bound(quotient * (w_top * w_top), -w_top, w_top)
    return sandwich(meat, w_top, h_inv, WHAT, "a covariate nearly constant, or one that nearly predicts the outcome")


#: what to try when Newton's method does not converge
SEPARATION = "an outcome may be perfectly predicted by a covariate (separation): drop or merge that covariate"


def fit_normalised(
    design: Any, target: Any, observed: Any, iterations: int, max_condition: float, what: str = WHAT
) -> tuple[Any, Any]:
    """Newton's method on a design of normalised columns (|z| <= 1, the intercept first):
    the coefficients and the inverse of the Hessian divided by the rows, convergence checked."""
    n, k = design.shape
    beta = claim_bound(design[0] * 0, -COEF_LIMIT, COEF_LIMIT)  # k zeros
    h_inv = step = None
    for _ in range(int(iterations)):
        eta = claim_bound(design @ beta, -COEF_LIMIT * k, COEF_LIMIT * k)
        prob = sigmoid(eta)
        weights = claim_bound(prob * (1.0 - prob), 0.0, 0.25)
        residual = target - prob
        if observed is not None:  # one round for both
            both = np.column_stack([weights, residual]) * observed[:, None]
            weights, residual = both[:, 0], both[:, 1]
        gradient = claim_bound(design.T @ residual, -float(n), float(n)) / n
        hessian = claim_bound(design.T @ (design * weights[:, None]), -0.25 * n, 0.25 * n) / n
        h_inv = _inverse(hessian, max_condition)
        step = known_matmul(h_inv, gradient, -max_condition * k, max_condition * k, WHAT)
        beta = claim_bound(beta + step, -COEF_LIMIT, COEF_LIMIT)
    assert h_inv is not None
    require_converged(step, h_inv, n, iterations, what)
    return beta, h_inv


#: The last Newton step must be below this fraction of each coefficient's standard error.
STEP_TOLERANCE = 0.01


def require_converged(step: Any, h_inv: Any, n: int, iterations: int, what: str = WHAT) -> None:
    """One public bit: whether the last Newton step was below 1% of every standard error (else
    the coefficients may still be moving, or diverging as under complete separation)."""
    moving: Any = step * step * float(n) - STEP_TOLERANCE**2 * diagonal(h_inv)
    moving = (moving > 0).sum()
    require_none(
        moving,
        NumericalRangeError(
            f"{what}: Newton's method had not converged after {iterations} iterations, so nothing was "
            f"released. Pass a larger iterations=; if that does not help, {SEPARATION}."
        ),
    )


def _inverse(hessian: Any, max_condition: float) -> Any:
    """H^-1 by Jacobi scaling (unit diagonal) and Newton–Schulz."""
    from .moments import jacobi_scaling

    d, r = jacobi_scaling(claim_bound(symmetric(hessian) * 4.0, -1.0, 1.0))  # 4H has entries <= 1
    r_inv = symmetric(inverse_spd(r, max_condition, WHAT))
    return claim_bound(
        r_inv * (d[:, None] * d[None, :]) * 4.0, -4.0 * max_condition * 2.0**16, 4.0 * max_condition * 2.0**16
    )


class LogitResult(ReleasedResult):
    """A released logistic regression: ``coef`` (log odds ratios), ``se``; z statistics and
    p-values from the normal distribution, as statsmodels' Logit."""

    KIND = "logit"

    @property
    def odds_ratios(self) -> np.ndarray:
        return np.exp(np.asarray(self.coef))

    def table(self) -> Table:
        used = int(round(float(self.nobs))) if self.has("nobs") else int(self.n)
        kind = "Weighted logistic regression" if getattr(self, "weighted", False) else "Logistic regression"
        errors = ", robust (HC0) standard errors" if getattr(self, "robust", False) else ""
        title = f"{kind} (secure, pooled n = {used}{errors}, {self.iterations} Newton iterations)"
        return coefficients(title, self.fields, None, "z")
