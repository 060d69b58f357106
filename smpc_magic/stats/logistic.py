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
from ..secret.functions import sigmoid
from ..secret.precision import claim_bound, known_matmul, times_power_of_two, working_precision
from .checks import require_none
from .design import columns, normalised, root, stacked, vector
from .disclosure import COUNT, PARAMETERS, ROWS, Requirement, declare
from .linalg import inverse_spd, symmetric
from .missing import rows_observed
from .moments import diagonal
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
    PUBLIC = ("n", "names", "iterations")


def logit(
    X: Any, y: Any, *, iterations: int = DEFAULT_ITERATIONS, max_condition: float = DEFAULT_MAX_CONDITION
) -> LogitFit:
    """Logistic regression of a 0/1 ``y`` on ``X`` with an intercept (``const``, first)."""
    xs, names = columns(X, f"{WHAT}(X, y)")
    target = vector(y, f"{WHAT}(X, y)")
    n, p = len(target), len(xs)
    observed = rows_observed([*xs, target], n, WHAT)  # complete cases, if anything may be missing
    cols = [normalised(c, name, WHAT) for c, name in zip(xs, names)]
    z = stacked(cols)
    design: Any = np.column_stack([z[:, :1] * 0 + 1, z])  # the intercept column, then the covariates
    # a row left out weighs 0 in the gradient and the Hessian; both are divided by the public n
    # (Newton's step and the standard errors do not depend on that scale)
    k = p + 1
    with working_precision(target, WORKING_BITS):
        beta, h_inv = fit_normalised(design, target, observed, iterations, max_condition)
        variances = claim_bound(diagonal(h_inv), 0.0, 4.0 * max_condition)
        # back to the data's units: beta_j / 2**k_j, and the intercept minus beta_j * centre_j
        coefs = [times_power_of_two(beta[j + 1 : j + 2], -c.exponent) for j, c in enumerate(cols)]
        slopes = np.concatenate(coefs)
        intercept = beta[0:1] - (slopes * np.array([c.centre for c in cols])).sum().reshape(1)
        # the intercept's variance: c' H^-1 c for c = (1, -centre_j / 2**k_j)
        shift = np.concatenate([[1.0], [-c.centre / 2.0**c.exponent for c in cols]])
        const_var = (shift[:, None] * h_inv * shift[None, :]).sum() * (1.0 / n)
        const_var = claim_bound(const_var, 0.0, float(np.abs(shift).sum() ** 2 * 4 * max_condition / n))
        # the k + 1 square roots are independent: one batch, one set of rounds
        roots = root(np.concatenate([variances, const_var.reshape(1)]))
        se_z, se_const = roots[:k] * (1.0 / math.sqrt(n)), roots[k]
        ses = [times_power_of_two(se_z[j + 1 : j + 2], -c.exponent) for j, c in enumerate(cols)]
    used = observed.sum() if observed is not None else as_secret(beta, np.asarray(n, dtype=np.int64))
    fit = LogitFit(
        coef=np.concatenate([intercept, slopes]),
        se=np.concatenate([se_const.reshape(1), *ses]),
        nobs=used,
        n=n,
        names=np.array(["const", *names]),
        iterations=int(iterations),
    )
    # a 0/1 covariate or the outcome is counted: each level holds min_count rows or none
    rows = used if observed is not None else n
    rules = (
        Requirement(ROWS, rows),
        Requirement(PARAMETERS, rows, parameters=k),
        Requirement(COUNT, rows, fields=("nobs",)),
    )
    return declare(fit, *rules, covers=(X, y))


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
            "released. Pass a larger iterations=; if that does not help, an outcome may be perfectly "
            "predicted by a covariate (separation): drop or merge that covariate."
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
        title = f"Logistic regression (secure, pooled n = {used}, {self.iterations} Newton iterations)"
        return coefficients(title, self.fields, None, "z")
