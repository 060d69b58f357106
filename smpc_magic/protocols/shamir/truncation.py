"""Probabilistic division by a public integer with a PRSS mask, for any threshold (used where
t >= 2; t = 1 has the cheaper local division of :mod:`.arithmetic`).

Every key set A draws r_A = d r_A_hi + r_A_lo with r_A_lo uniform below d and r_A_hi with
``SECURITY_BITS`` more bits than x / d; its members know it in the clear and weight both parts
by f_A(x_i), so the parties hold shares of R = sum r_A and R_hi = sum r_A_hi with no messages.
One round opens c = x + 2**L + R (statistically hiding), and
x / d ~ floor(c / d) - R_hi - K, where the carry floor(((x + 2**L) mod d + R_lo) / d) lies in
[0, m] for m = C(n, t) sets and the public K takes off its mean: the result is unbiased and
within about m / 2 + 1 units.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from math import comb

import numpy as np

from ..prg import expand
from . import field
from .field import Array
from .prss import Subset, vanishing_at

SECURITY_BITS = 40
U64 = np.uint64


def _mask_parts(key: bytes, label: int, count: int, d: int, hi_bits: int) -> tuple[Array, Array]:
    """(r_hi, d r_hi + r_lo) of one key set, as field elements."""
    words = expand(key, label, 3 * count).reshape(count, 3)
    r_lo = field.make(words[:, 0] % U64(d), np.zeros(count, U64))
    lo, hi = words[:, 1].copy(), words[:, 2].copy()
    if hi_bits <= 64:
        hi[:] = 0
        if hi_bits < 64:
            lo &= U64((1 << hi_bits) - 1)
    else:
        hi &= U64((1 << (hi_bits - 64)) - 1)
    r_hi = field.make(lo, hi)
    return r_hi, field.add(field.mul(r_hi, field.scalar(d)), r_lo)


def truncate(
    opening: Callable[[Array], Array],
    party: int,
    n: int,
    x: Array,
    d: int,
    magnitude_bits: int,
    keys: Mapping[Subset, bytes],
    label: int,
    t: int,
) -> Array:
    """Degree-t shares of about x / d for shares of a whole number |x| < 2**magnitude_bits;
    ``opening`` reconstructs one array (one round)."""
    m = comb(n, t)
    hi_bits = magnitude_bits + 1 + SECURITY_BITS - (d.bit_length() - 1)
    if magnitude_bits + SECURITY_BITS + m.bit_length() + 3 >= 127:
        raise ValueError(f"a {magnitude_bits}-bit value leaves no room for the mask in the field")
    r_hi_total, r_total = field.zeros(x.shape), field.zeros(x.shape)
    for subset, key in sorted(keys.items()):
        r_hi, r = _mask_parts(key, label, x.size, d, hi_bits)
        weight = field.scalar(vanishing_at(n, subset, party))
        r_hi_total = field.add(r_hi_total, field.mul(r_hi.reshape(x.shape), weight))
        r_total = field.add(r_total, field.mul(r.reshape(x.shape), weight))
    # E[floor(c / d)] - R_hi = (x + offset + (m - 1)(d - 1) / 2) / d; the offset's extra makes
    # that whole (but for half a unit of d), so the constant taken off leaves no bias
    spread = (m - 1) * (d - 1) // 2
    offset = (1 << magnitude_bits) + (-((1 << magnitude_bits) + spread) % d)
    c = opening(field.add(field.add(x, field.scalar(offset)), r_total))
    centre = (offset + spread) // d
    return field.sub(field.sub(field.floor_div(c, d), field.scalar(centre)), r_hi_total)
