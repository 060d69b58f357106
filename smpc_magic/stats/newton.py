"""Newton's method on a log-likelihood scaled by the number of events or the weights' total
(Poisson, Cox and weighted logistic regression): the inverse of the scaled information matrix,
the check that the last step was small, a likelihood's ``weights=`` and the robust (sandwich)
variance, shared so that the models state and check the same thing."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..errors import NumericalRangeError, SecretValueError
from ..secret.compare import absolute
from ..secret.precision import at_scale, claim_bound, known_matmul, public_bound, working_precision
from .checks import require_none
from .design import root, vector
from .linalg import inverse_spd, symmetric
from .moments import diagonal, jacobi_scaling

#: The last Newton step must be below this fraction of each coefficient's standard error.
STEP_TOLERANCE = 0.01


def inverse_information(information: Any, max_condition: float, what: str) -> Any:
    """I^-1 for the information matrix scaled by the events (|I| <= 2 entrywise), by Jacobi
    scaling (unit diagonal) and Newton–Schulz: (I / 2)^-1 = D R^-1 D with |d| <= 2**8, so
    |I^-1| <= max_condition 2**16 / 2."""
    d, r = jacobi_scaling(claim_bound(symmetric(information) * 0.5, -1.0, 1.0))
    r_inv = symmetric(inverse_spd(r, max_condition, what))
    top = max_condition * 2.0**15
    return claim_bound(r_inv * (d[:, None] * d[None, :]) * 0.5, -top, top)


def require_converged(step: Any, inverse: Any, events: Any, iterations: int, what: str, cause: str) -> None:
    """One bit: the last Newton step was below 1% of every standard error: |step| sqrt(D) / 1%
    below sqrt(diag((I / D)^-1)), on numbers of about 1 (a squared step would underflow).
    ``cause``: what to try when more iterations do not help."""
    relative = step * (root(claim_bound(events, 1.0, events.bound[1].max())) * (1.0 / STEP_TOLERANCE))
    spread = root(claim_bound(diagonal(inverse), 0.0, float(diagonal(inverse).bound[1].max())))
    moving: Any = (np.concatenate([relative - spread, -relative - spread]) > 0).sum()  # |relative| > spread
    require_none(
        moving,
        NumericalRangeError(
            f"{what}: Newton's method had not converged after {iterations} iterations, so nothing was released. "
            f"Pass a larger iterations=; if that does not help, {cause}"
        ),
    )


#: Robust standard errors: the inverse information (scaled) within +-INVERSE_TOP, checked; it
#: bounds the sandwich's products, taken at SANDWICH_BITS fractional bits (which the bounds
#: leave room for).
INVERSE_TOP = 2.0**10
SANDWICH_BITS = 16
#: Robust standard errors of weighted fits: the weights' declared bound at most this (the
#: sandwich's bounds grow with it; at 100 the error measured 0.4%, at 1,000 4.5%).
ROBUST_WEIGHT_TOP = 128.0


def row_weights(weights: Any, n: int, robust: bool, what: str) -> tuple[Any, float]:
    """A likelihood's ``weights=`` (statsmodels' ``var_weights``): one per row, declared from 0,
    and for robust errors declared up to ROBUST_WEIGHT_TOP; (the weights or None, their bound).
    Raised before anything is sent."""
    if weights is None:
        return None, 1.0
    w = vector(weights, f"{what}(weights=)")
    if len(w) != n:
        raise SecretValueError(f"{what}: weights= needs one weight per row ({n}), got {len(w)}")
    low, high = public_bound(w)
    if float(low.min()) < -1e-3:
        raise SecretValueError(f"{what}: weights cannot be negative; declare their range from 0")
    top = float(high.max())
    if robust and top > ROBUST_WEIGHT_TOP:
        raise SecretValueError(
            f"{what}(robust=True): the weights may reach {top:g} by their declared range, and robust standard "
            f"errors are computed for weights up to {ROBUST_WEIGHT_TOP:g} (their bounds follow the weights'). Nothing "
            "was sent. Propensity weights: pass trim=0.01 or larger; a weight column: rescale it (divide by its mean) "
            "and declare its range"
        )
    return w, top


def sandwich(meat: Any, meat_top: float, inverse: Any, what: str, cause: str) -> Any:
    """A^-1 B A^-1 (HC0) from the scaled inverse information ``inverse`` (A^-1) and the scaled
    outer products of the scores ``meat`` (B, k x k within +-``meat_top``); one bit checks that
    |A^-1| <= INVERSE_TOP. ``cause``: what makes the model too close to unidentified."""
    require_none(
        (cast(Any, absolute(inverse)) > INVERSE_TOP).sum(),
        NumericalRangeError(
            f"{what}(robust=True): the model is too close to unidentified for robust standard errors ({cause}); "
            "nothing was released. Drop or merge that covariate"
        ),
    )
    k = inverse.shape[0]
    with working_precision(meat, SANDWICH_BITS):
        a = at_scale(claim_bound(inverse, -INVERSE_TOP, INVERSE_TOP), SANDWICH_BITS)
        half_top = k * meat_top * INVERSE_TOP
        half = known_matmul(at_scale(meat.reshape(k, k), SANDWICH_BITS), a, -half_top, half_top, what)
        top = k * half_top * INVERSE_TOP
        return claim_bound(symmetric(known_matmul(a, half, -top, top, what)), -top, top)
