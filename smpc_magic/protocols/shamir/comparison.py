"""Comparison without a dealer: the sign of a Shamir-shared value (Catrina and de Hoogh's
approach with random bits the parties make themselves).

LTZ(x) for |x| < 2**l: y = x + 2**l lies in [0, 2**(l + 1)) and x >= 0 exactly when y >= 2**l.
The parties hold random bits r_i (each the XOR of one PRSS bit per key set, so no t parties
know it: C(n, t) - 1 multiplications, in ceil(log2 C(n, t)) rounds) and a PRSS random R_hi of 40
bits, and open c = y + sum 2**i r_i + 2**l R_hi (statistically hiding). Then
y mod 2**l = (c mod 2**l) - r + 2**l [c mod 2**l < r], where the comparison of a public number
with shared bits runs as a tree over the bit positions: each node keeps (all bits equal so far,
r is larger so far) and two nodes combine with two products, ceil(log2 l) rounds. Finally
[x < 0] = 1 - (y - y mod 2**l) / 2**l.

To return a bit whatever x is (as the additive suite does, and as checks on claimed ranges
rely on), the mask has l + 1 random bits and the result is bit l of (y mod 2**(l + 1)) =
c_l XOR r_l XOR [c mod 2**l < r mod 2**l], one more product.

Rounds for n = 3 and l = 62: 2 (bits) + 1 (opening) + 6 (tree) + 1 (XOR) = 10. Products per
compared element: about 2 l (bits) + 2 l (tree), 16 bytes each to every peer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..fixed_point import LIMIT_BITS
from ..prg import expand
from . import field, prss
from .arithmetic import mul, prss_material
from .field import Array
from .opening import open_shares, settings

if TYPE_CHECKING:
    from ..context import ProtocolContext

SECURITY_BITS = 40
U64 = np.uint64


def random_bits(ctx: ProtocolContext, count: int) -> Array:
    """Shares of ``count`` uniform bits that no t parties know."""
    material = prss_material(ctx)
    assert material.keys is not None
    label = material.labels(1, "random bits", count)
    t, _ = settings(ctx)
    parts = prss.random_bits(ctx.party, ctx.n_parties, t, material.keys, label, count)
    while len(parts) > 1:  # XOR tree: u + v - 2uv, all pairs of a level in one multiplication
        pairs = len(parts) // 2
        left = np.stack(parts[0 : 2 * pairs : 2])
        right = np.stack(parts[1 : 2 * pairs : 2])
        both = mul(ctx, left, right)
        xors = field.sub(field.add(left, right), field.mul_int(both, 2))
        parts = [*xors, *parts[2 * pairs :]]
    return parts[0]


def _mask_high(ctx: ProtocolContext, count: int) -> Array:
    """Shares of a random integer R_hi = sum over key sets of a uniform SECURITY_BITS-bit value."""
    material = prss_material(ctx)
    assert material.keys is not None
    label = material.labels(1, "comparison masks", count)
    total = field.zeros((count,))
    for subset, key in sorted(material.keys.items()):
        words = expand(key, label, count) & U64((1 << SECURITY_BITS) - 1)
        value = field.make(words, np.zeros(count, U64))
        total = field.add(total, field.mul(value, field.scalar(prss.vanishing_at(ctx.n_parties, subset, ctx.party))))
    return total


def bit_less_than(ctx: ProtocolContext, public_bits: np.ndarray, secret_bits: Array) -> Array:
    """Shares of [a < b] for public bits a and shared bits b, both (l, k), least significant first."""
    one = field.scalar(1)
    equal = np.where(public_bits, secret_bits, field.sub(one, secret_bits))
    less = np.where(public_bits, field.zeros(()), secret_bits)
    while equal.shape[0] > 1:
        pairs = equal.shape[0] // 2
        e_lo, e_hi = equal[0 : 2 * pairs : 2], equal[1 : 2 * pairs : 2]
        l_lo, l_hi = less[0 : 2 * pairs : 2], less[1 : 2 * pairs : 2]
        last = equal.shape[0] <= 2
        if last:  # the root needs only "r larger": one product
            root: Array = field.add(l_hi, mul(ctx, e_hi, l_lo))[0]
            return root
        products = mul(ctx, np.concatenate([e_hi, e_hi]), np.concatenate([e_lo, l_lo]))
        new_equal, carried = products[:pairs], products[pairs:]
        new_less = field.add(l_hi, carried)
        equal = np.concatenate([new_equal, equal[2 * pairs :]])
        less = np.concatenate([new_less, less[2 * pairs :]])
    result: Array = less[0]
    return result


def ltz(ctx: ProtocolContext, x: Array, bits: int | None) -> Array:
    """Shares of [x < 0] (0 or 1) for shares of a whole number |x| < 2**bits. Always a bit: for
    x outside the stated range the bit is meaningless but still 0 or 1, as with the additive suite."""
    l_bits = LIMIT_BITS if bits is None else max(1, min(int(bits), LIMIT_BITS))
    t, _ = settings(ctx)
    shape, flat = x.shape, x.reshape(-1)
    count = flat.size
    if count == 0:
        return field.zeros(shape)
    r_bits = random_bits(ctx, (l_bits + 1) * count).reshape(l_bits + 1, count)
    r_full = r_bits[l_bits]
    for i in range(l_bits - 1, -1, -1):  # Horner: sum of 2**i r_i over l + 1 bits
        r_full = field.add(field.mul_int(r_full, 2), r_bits[i])
    y = field.add(flat, field.scalar(1 << l_bits))
    masked = field.add(field.add(y, r_full), field.mul(_mask_high(ctx, count), field.scalar(1 << (l_bits + 1))))
    opened = open_shares(ctx, [masked], "comparison", t)
    assert opened is not None
    c_low = opened[0]["lo"] & U64((1 << (l_bits + 1)) - 1)  # (y + r) mod 2**(l + 1)
    public_bits = ((c_low[None, :] >> np.arange(l_bits + 1, dtype=U64)[:, None]) & U64(1)).astype(bool)
    # bit l of (y mod 2**(l+1)) = c_l XOR r_l XOR [c mod 2**l < r mod 2**l]
    borrow = bit_less_than(ctx, public_bits[:l_bits], r_bits[:l_bits])
    top = r_bits[l_bits]
    both = mul(ctx, top, borrow)
    secret_xor = field.sub(field.add(top, borrow), field.mul_int(both, 2))
    not_xor = field.sub(field.scalar(1), secret_xor)
    # [x < 0] = 1 - bit l = NOT (c_l XOR v)
    return np.where(public_bits[l_bits], secret_xor, not_xor).reshape(shape)


__all__ = ["bit_less_than", "ltz", "random_bits"]
