"""Inverse probability of treatment weights (IPTW): confounding adjustment by a propensity
model, the weights staying secret.

A logistic regression of the treatment on the confounders (the same Newton iteration as
:func:`~smpc_magic.stats.logit`) gives every row its propensity p (the probability of the
treatment it got, given its covariates); its weight is 1 / p for the treated and 1 / (1 - p)
for the others, times the share of its group in the cohort when stabilized (so that the
weights sum to about the rows). Weighted analyses (``poisson(..., weights=w, robust=True)``)
then compare treated and untreated as if treatment had been randomised within the covariates.

Weights a statistic accepts are only these, unmodified, or a private input column as shared
(a survey weight): a weight the cell computes itself could single out a patient.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..errors import NumericalRangeError, SecretValueError
from ..secret.compare import clip
from ..secret.core import as_secret
from ..secret.functions import divide, sigmoid
from ..secret.precision import claim_bound, public_bound, working_precision
from .checks import require_none
from .design import columns, normalised_all, stacked, vector
from .disclosure import COUNT, PARAMETERS, ROWS, WEIGHTS_MARKER, Requirement, declare
from .logistic import COEF_LIMIT, DEFAULT_ITERATIONS, DEFAULT_MAX_CONDITION, WORKING_BITS, fit_normalised
from .missing import require_row_data, rows_observed
from .moments import require_spread

WHAT = "smpc.stats.propensity_weights"
#: Without trim=, every propensity must lie in [POSITIVITY, 1 - POSITIVITY] (checked): weights
#: stay at most 1 / POSITIVITY.
POSITIVITY = 0.01


def propensity_weights(
    X: Any,
    treatment: Any,
    *,
    stabilized: bool = True,
    trim: float | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    max_condition: float = DEFAULT_MAX_CONDITION,
) -> Any:
    """A secret weight per row from a logistic propensity model of the 0/1 ``treatment`` on the
    confounders ``X``: 1 / p (treated) or 1 / (1 - p) (untreated), times the group's share of
    the rows when ``stabilized``. ``trim``: propensities are clipped to [trim, 1 - trim];
    without it every propensity must lie in [0.01, 0.99] (checked: a near violation of
    positivity stops the cell, naming ``trim=``). Rows left out (missing values, ``where=``)
    weigh 0. The weights are row-level: they are used, not released."""
    xs, names = columns(X, f"{WHAT}(X, treatment)")
    treated = vector(treatment, f"{WHAT}(X, treatment)")
    n, p = len(treated), len(xs)
    if any(len(c) != n for c in xs):
        raise SecretValueError(f"{WHAT}: X and treatment need the same number of rows")
    low, high = public_bound(treated)
    if float(low.min()) < -1e-3 or float(high.max()) > 1 + 1e-3:
        raise SecretValueError(f"{WHAT}: treatment is 1 (treated) or 0; declare its range as (0, 1)")
    if trim is not None and not 0.0 < float(trim) < 0.5:
        raise SecretValueError(f"{WHAT}: trim= is a propensity between 0 and 0.5 (such as 0.01), not {trim!r}")
    for column, name in zip(xs, names):
        require_row_data(column, WHAT, f"covariate {name!r}")
    require_row_data(treated, WHAT, "treatment")
    observed = rows_observed([*xs, treated], n, WHAT)
    cols = normalised_all(xs, names, WHAT)
    z = stacked(cols)
    design: Any = np.column_stack([z[:, :1] * 0 + 1, z])
    floor = float(trim) if trim is not None else POSITIVITY
    with working_precision(treated, WORKING_BITS):
        require_spread(cols, WHAT)
        target = treated * observed if observed is not None else treated
        beta, _ = fit_normalised(design, target, observed, iterations, max_condition, WHAT)
        k = p + 1
        prob = sigmoid(claim_bound(design @ beta, -COEF_LIMIT * k, COEF_LIMIT * k))
        if trim is not None:
            prob = clip(prob, floor, 1.0 - floor)
        else:
            outside: Any = np.concatenate([prob - (1.0 - floor), floor - prob])
            require_none(
                (cast(Any, outside) > 0).sum(),
                NumericalRangeError(
                    f"{WHAT}: a row's propensity is below {floor:g} or above {1 - floor:g} (near a violation of "
                    "positivity: some covariate pattern is almost always or almost never treated), so its weight "
                    "would dominate; nothing was released. Pass trim=0.01 (or drop that covariate, or restrict the "
                    "cohort with where=)"
                ),
            )
        prob = claim_bound(prob, floor, 1.0 - floor)
        groups: Any = np.column_stack([target * 1.0, 1.0 - target]) if observed is None else None
        if groups is None:
            groups = np.column_stack([target * 1.0, observed - target])
        both = divide(groups, np.column_stack([prob, 1.0 - prob]), known=(0.0, 1.0 / floor))
        if stabilized:  # each group's share of the rows used
            rows = observed.sum() if observed is not None else as_secret(target, np.asarray(float(n)))
            share = divide(target.sum() * 1.0, claim_bound(rows * 1.0, 1.0, float(n)), known=(0.0, 1.0))
            both = both * np.column_stack([share.reshape(1, 1), 1.0 - share.reshape(1, 1)])
        weights = claim_bound(both[:, 0] + both[:, 1], 0.0, 1.0 / floor)
    # each row's weight is a function of that row's data and of the propensity model (an
    # aggregate whose rules are declared below and travel with the weights): it carries the
    # facts of its own row, not every site's
    own = (z.sum(axis=1) + treated) * 1.0 if observed is None else (z.sum(axis=1) + treated + observed) * 1.0
    weights._prov = own._prov.mapped("propensity_weights")
    used = observed.sum() if observed is not None else n
    # the treated and the untreated are counts (each 0 or min_count), and the treatment and the
    # covariates stay selections of whatever uses the weights: a treatment that holds for one
    # patient would make that patient's weight dominate every weighted sum
    treated_rows = target.sum()
    groups_count = np.concatenate([treated_rows.reshape(1), (used - treated_rows).reshape(1)])
    declare(
        weights,
        Requirement(ROWS, used),
        Requirement(PARAMETERS, used, parameters=k),
        Requirement(COUNT, groups_count),
    )
    weights.__dict__[WEIGHTS_MARKER] = weights._share
    return weights
