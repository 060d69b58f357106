"""Secure linear algebra for the statistics: the inverse of a symmetric positive definite matrix
by Newton–Schulz iteration, checked before anything that relies on it is released.

Why Newton–Schulz: it needs only matrix products (one round each, on a p x p matrix), runs a
fixed, public number of steps, corrects its own rounding errors as it converges, and needs no
division or square root of secrets. Cholesky would need p sequential reciprocal square roots
(dozens of rounds each) and accumulates rounding error. The price is a public cap on the
condition number; the iteration count follows from it, and the result is checked.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import NumericalRangeError
from ..secret.array import SecretArray
from ..secret.compare import absolute
from ..secret.precision import claim_bound, known_matmul
from .checks import require_none

#: How close R @ inverse must come to the identity (largest entry of the difference).
CHECK_TOLERANCE = 2.0**-7


def newton_schulz_steps(size: int, max_condition: float) -> int:
    """Steps that take the residual from 1 - 1/(size * max_condition) to below 2**-20."""
    return math.ceil(math.log2(size * max_condition)) + 5


def inverse_spd(r: SecretArray, max_condition: float, what: str) -> SecretArray:
    """The inverse of ``r`` (symmetric positive definite with diagonal near 1, such as a
    correlation matrix), assuming its eigenvalues lie in [1 / max_condition, size].

    The iterates X_{k+1} = X_k (2I - R X_k) from X_0 = I / size have eigenvalues in
    (0, max_condition]; their bound is claimed accordingly. A matrix outside the assumption
    would break that bound, so the result is checked (|I - R X| < 2**-7 and |X| <= max_condition
    everywhere) and one bit, whether the check passed, is opened to every party. Callers may
    rely on lambda_max(X) <= size * max_condition."""
    size = r.shape[0]
    eye = np.eye(size)
    x = claim_bound(r * 0.0 + eye / size, 0.0, 1.0)
    for _ in range(newton_schulz_steps(size, max_condition)):
        # X_k is a polynomial in R: R X_k is symmetric with eigenvalues in (0, 1]
        product = known_matmul(r, x, -1.01, 1.01, what)
        correction: Any = 2.0 * eye - product
        x = known_matmul(x, correction, -max_condition, max_condition, what)
    require_inverse(known_matmul(r, x, -2.0, 2.0, what), x, what, max_condition)
    return x


def require_inverse(product: SecretArray, x: SecretArray, what: str, max_condition: float) -> None:
    """Open one bit: whether R X is within the tolerance of the identity everywhere AND every
    entry of X is within the claimed bound. The first catches an iteration that broke down,
    the second a matrix beyond the assumption whose inverse came out right but too large for
    the bounds the rest of the method relies on (its null space barely shows in R X)."""
    size = product.shape[0]
    residual = claim_bound(product - np.eye(size), -2.0, 2.0)
    entries: Any = np.concatenate(
        [absolute(residual).reshape(-1) - CHECK_TOLERANCE, absolute(x).reshape(-1) - max_condition]
    )
    outside: Any = (entries > 0).sum()
    require_none(
        outside,
        NumericalRangeError(
            f"{what}: the secure matrix inverse did not converge, so nothing was released. The "
            f"covariates are too close to collinear (their correlation matrix has a condition number "
            f"above {max_condition:g}). Drop or combine collinear columns (for example one level of "
            "each categorical variable), or pass a larger max_condition= (more iterations)."
        ),
    )


def symmetric(m: Any) -> Any:
    """(M + M.T) / 2, which removes the asymmetry rounding leaves in a product."""
    return (m + m.T) * 0.5
