"""Ordinary least squares on pooled secret rows: coefficients, standard errors and the residual
variance, with X'X and every other intermediate summary kept secret.

Method: each column is centred and scaled by public numbers from its declared range (exact on
the shares); one secret X'X gives the pooled means and covariance; the covariance of the
covariates is scaled to a correlation matrix R (secret 1/sqrt of its diagonal) and R is
inverted by Newton–Schulz (:mod:`.linalg`), whose convergence is checked. Coefficients and
standard errors come from the standardised coefficients gamma = R^-1 r_xy, whose size the
condition number caps (gamma' R gamma <= 1), and are mapped back to the data's units by the same
public numbers, exactly. The working precision is finer than the session's (30 fractional bits
for the moments), since the inverse amplifies rounding by up to the condition number.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import NumericalRangeError
from ..secret.array import SecretArray
from ..secret.core import as_secret
from ..secret.precision import claim_bound, known_matmul, known_product, times_power_of_two, working_precision
from .checks import require_none
from .design import columns, normalised_all, quotient, root, vector
from .disclosure import COUNT, PARAMETERS, ROWS, Requirement, declare
from .linalg import inverse_spd, symmetric
from .missing import rows_observed
from .moments import diagonal, dof_factor, inverse_root_rows, jacobi_scaling, moments
from .newton import row_weights
from .results import ReleasedResult, SecretResult
from .summary import Table, coefficients

WORKING_BITS = 30
DEFAULT_MAX_CONDITION = 2.0**9
WHAT = "smpc.stats.ols"


class OLSFit(SecretResult):
    KIND = "ols"
    SECRET = ("coef", "se", "sigma2", "nobs")  # nobs: the complete rows used (n without missing values)
    PUBLIC = ("n", "names", "weighted")


def ols(X: Any, y: Any, *, weights: Any = None, max_condition: float = DEFAULT_MAX_CONDITION) -> OLSFit:
    """Least squares of ``y`` on ``X`` with an intercept (named ``const``, first).

    ``weights``: each row's weight (weighted least squares, statsmodels' ``WLS``), such as
    propensity weights from :func:`propensity_weights` or a survey weight column of the private
    inputs: the coefficients and standard errors are WLS's, ``sigma2`` its scale (the weighted
    residual sum of squares over n - p - 1).

    ``X``: a private frame (or some of its columns) or a secret matrix; ``y``: a secret vector.
    ``max_condition`` caps the condition number of the covariates' correlation matrix (the
    number of Newton–Schulz steps grows with its logarithm); a design beyond it stops with
    :class:`~smpc_magic.errors.NumericalRangeError` and releases nothing."""
    xs, names = columns(X, f"{WHAT}(X, y)", streamed=True)
    target = vector(y, f"{WHAT}(X, y)", streamed=True)
    n, p = len(target), len(xs)
    if any(len(c) != n for c in xs):
        raise ValueError(f"{WHAT}: X and y need the same number of rows")
    if n <= p + 1:
        raise ValueError(f"{WHAT}: {n} rows cannot fit {p + 1} coefficients")
    w, w_top = row_weights(weights, n, False, WHAT)
    observed = rows_observed([*xs, target, *([w] if w is not None else [])], n, WHAT)  # complete cases
    cols = normalised_all([*xs, target], [*names, "y"], WHAT)
    gamma_top = math.sqrt(p * max_condition) * 1.01  # |gamma|^2 <= lambda_max(R^-1)
    with working_precision(target, WORKING_BITS):
        mom = moments(cols, "smpc.stats.ols", observed=observed, weights=w, weight_top=w_top)
        if mom.total is not None:
            require_none(
                mom.total < 1.0, NumericalRangeError(f"{WHAT}: the weights sum to less than 1; nothing was released")
            )
        cxx, cxy, cyy = mom.c[:p, :p], mom.c[:p, p], mom.c[p, p]
        d, r = jacobi_scaling(cxx)
        r_inv = symmetric(inverse_spd(r, max_condition, WHAT))
        # standardised coefficients gamma = R^-1 D c_xy: gamma' R gamma = R^2 var(y) <= 1
        dc = known_product(d, cxy, -1.01, 1.01, WHAT)  # correlations times sd(y)
        gamma = known_matmul(r_inv, dc, -gamma_top, gamma_top, WHAT)
        beta_z = d * gamma
        explained = claim_bound(known_product(gamma, dc, -gamma_top, gamma_top, WHAT).sum(), 0.0, 1.01)
        sigma2_z = claim_bound(cyy - explained, 0.0, 1.0) * dof_factor(mom.used, p + 1)
        # intercept in units of y's scale: m_y - beta_z . u, u = each covariate's mean / 2**exponent
        # (as gamma . (d u): d u loses bits relative to d's size, not to gamma's loose bound)
        u = mom.m[:p] + np.array([c.centre / 2.0**c.exponent for c in cols[:p]])
        du = d * u
        intercept_z = mom.m[p] - (gamma * du).sum()
        # standard errors times sqrt(n): sqrt(sigma2 (1 + u'C^-1 u)) and sqrt(sigma2 R^-1_jj) d_j
        top = float(max_condition) * float((du.bound[1] ** 2).sum() + (du.bound[0] ** 2).sum())
        quad = claim_bound(known_product(du, r_inv @ du, -top, top, WHAT).sum(), 0.0, top)
        # the p + 1 square roots are independent: one batch, one set of rounds
        roots = root(
            np.concatenate(
                [sigma2_z * claim_bound(diagonal(r_inv), 0.0, max_condition), (sigma2_z * (1.0 + quad)).reshape(1)]
            )
        )
        spread, se_const = roots[:p] * d, roots[p]
        root_n = inverse_root_rows(mom.used, n)
        # back to the data's units by public powers of two: exact, so small coefficients keep
        # the working precision rather than the session's
        k_y = cols[p].exponent
        shifts = [k_y - c.exponent for c in cols[:p]]
        intercept = times_power_of_two(intercept_z, k_y) + cols[p].centre
        coef = np.concatenate(
            [intercept.reshape(1)] + [times_power_of_two(beta_z[j : j + 1], shifts[j]) for j in range(p)]
        )
        se = np.concatenate(
            [times_power_of_two(se_const.reshape(1) * root_n, k_y)]
            + [times_power_of_two(spread[j : j + 1] * root_n, shifts[j]) for j in range(p)]
        )
        sigma2 = times_power_of_two(sigma2_z, 2 * k_y)
        if mom.total is not None:  # WLS's scale: the weighted residual sum of squares over n - p - 1
            used_rows = mom.used
            if isinstance(used_rows, SecretArray):  # (complete cases: a secret count)
                mean_weight = quotient(mom.total, claim_bound(used_rows + (used_rows < 0.5), 0.5, n), (0.0, w_top))
            else:
                mean_weight = mom.total * (1.0 / n)
            sigma2 = sigma2 * claim_bound(mean_weight, 0.0, w_top)
    used = mom.used
    nobs = used if isinstance(used, SecretArray) else as_secret(sigma2, np.asarray(n, dtype=np.int64))
    fit = OLSFit(
        coef=coef, se=se, sigma2=sigma2, nobs=nobs, n=n, names=np.array(["const", *names]), weighted=w is not None
    )
    rules = (
        Requirement(ROWS, used),
        Requirement(PARAMETERS, used, parameters=p + 1),
        Requirement(COUNT, used, fields=("nobs",)),
    )
    # a 0/1 covariate (or outcome) is counted: each level holds min_count rows or none
    return declare(fit, *rules, covers=(X, y))


class OLSResult(ReleasedResult):
    """A released least-squares fit: ``coef``, ``se``, ``sigma2``, ``n``, ``names``; t statistics,
    p-values and 95% intervals from them (t distribution with n - p - 1 degrees of freedom)."""

    KIND = "ols"

    @property
    def nobs_used(self) -> int:
        """The rows the fit used: the complete cases (``nobs``) where released, else ``n``."""
        return int(round(float(self.nobs))) if self.has("nobs") else int(self.n)

    @property
    def df_resid(self) -> int:
        return self.nobs_used - len(self.names)

    @property
    def tvalues(self) -> np.ndarray:
        return np.asarray(self.coef) / np.asarray(self.se)

    def table(self) -> Table:
        kind = "Weighted least squares" if bool(getattr(self, "weighted", False)) else "OLS regression"
        title = f"{kind} (secure, pooled n = {self.nobs_used})"
        extra = f"residual variance sigma2 = {self.sigma2:.6g}" if self.has("sigma2") else ""
        return coefficients(title, self.fields, self.df_resid, "t", extra)
