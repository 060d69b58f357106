"""Fitting results into the ring: the checks and rescalings every secret operation makes
before it sends anything.

A value v at scale s is stored as round(v * 2**s); truncation and comparison need
|round(v * 2**s)| < 2**limit_bits (2**62 for the additive suite). Each operation knows its
result's public :class:`~smpc_magic.secret.bounds.Bound`; if that could break the limit at the
natural scale, the operation drops fractional bits first (one truncation round, dividing by a
public power of two) when that keeps the result's relative accuracy, and otherwise raises
:class:`~smpc_magic.errors.OverflowRiskError` naming the operation, the bound, the limit and the fix.
"""

from __future__ import annotations

import math

from ..errors import OverflowRiskError
from .bounds import Bound

#: Rescaled results aim one bit below the limit, leaving room for rounding.
HEADROOM_BITS = 1

FIX = (
    "Declare a tighter [min, max] for the variables (in the study schema, or with `%smpc private "
    "NAME --range MIN MAX`), rescale the data (for "
    "example thousands instead of units, or subtract a public reference value first), or use "
    "fewer fractional bits (the session's frac_bits)."
)


def encoded_magnitude(bound: Bound, scale: int) -> float:
    return bound.magnitude() * 2.0**scale


def fits(bound: Bound, scale: int, limit_bits: int) -> bool:
    """Values strictly inside the bound (inputs are encoded strictly below the limit, results
    carry rounding room) stay below 2**limit_bits encoded."""
    return encoded_magnitude(bound, scale) <= 2.0**limit_bits


def bits_to_drop(bound: Bound, scale: int, limit_bits: int) -> int:
    """Fractional bits to drop so the bound fits with headroom (0 when it fits as it is)."""
    if fits(bound, scale, limit_bits):
        return 0
    magnitude = bound.magnitude()
    excess = math.log2(magnitude) + scale - (limit_bits - HEADROOM_BITS)
    return max(1, math.ceil(excess))


def overflow(operation: str, bound: Bound, scale: int, limit_bits: int) -> OverflowRiskError:
    limit = 2.0 ** (limit_bits - scale)
    kind = "as an exact integer" if scale == 0 else f"with {scale} fractional bits"
    return OverflowRiskError(
        f"{operation}: the result could reach {bound.magnitude():.4g} in magnitude (a public bound from the "
        f"declared ranges and the operations so far), beyond the {limit:.4g} the 64-bit ring holds {kind}. "
        f"Nothing was sent. {FIX}",
        operation=operation,
        bound=bound.magnitude(),
        limit=limit,
    )


def require_fit(operation: str, bound: Bound, scale: int, limit_bits: int) -> None:
    if not fits(bound, scale, limit_bits):
        raise overflow(operation, bound, scale, limit_bits)


def split_drop(
    drop: int, scales: tuple[int, int], magnitudes: tuple[float, float], first_below_zero: bool = False
) -> tuple[int, int] | None:
    """How many fractional bits each factor of a product gives up, ``drop`` in all.

    Dropping d bits from a factor at scale s adds up to 2**-(s - d) to it, so the product moves
    by about the other factor's magnitude times that: the split minimises the sum. None when the
    factors do not have ``drop`` fractional bits between them (integers have none).

    ``first_below_zero`` lets the first (secret) factor give up more bits than it has, rounding
    it to a multiple of a power of two, when the second is a public fraction: x * 0.001 with x
    near the ring's limit then keeps the fraction's significant bits (0.001 held with 6 bits is
    0.7% off) and rounds x, whose relative error stays about 2**-20."""
    (sa, sb), (ma, mb) = scales, magnitudes
    best: tuple[float, int, int] | None = None
    top = drop if first_below_zero and sa + sb >= drop else min(drop, sa)
    for da in range(max(0, drop - sb), top + 1):
        db = drop - da
        error = mb * 2.0 ** -(sa - da) + ma * 2.0 ** -(sb - db)
        if best is None or error < best[0]:
            best = (error, da, db)
    return None if best is None else (best[1], best[2])
