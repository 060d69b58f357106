"""Newton's method on a log-likelihood scaled by the number of events (Poisson and Cox
regression): the inverse of the scaled information matrix, and the check that the last step
was small, shared so that both models state and check the same thing."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NumericalRangeError
from ..secret.precision import claim_bound
from .checks import require_none
from .design import root
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
