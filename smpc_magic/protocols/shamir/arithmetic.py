"""Multiplication with degree reduction, matrix products and division by public integers.

Costs, with n parties and k values, each field element 16 bytes:

- :func:`mul`, :func:`matmul`, :func:`gram`: the local product has degree 2t; a double sharing
  (r at degree t and 2t, from PRSS: no messages) masks it, the masked product is opened at degree
  2t and [r]_t taken off. One round; each party sends 16 bytes per output entry to each peer (a
  matrix product is reduced once per output entry, not per term).
- :func:`div_public` with t = 1: the parties 1 and 2 turn their shares into an additive
  sharing of x + 2**62 over the integers (a + b = x + 2**62 + p, except with probability 2**-64),
  divide their parts locally and share the quotients again. One round in which two parties send
  16 bytes per value to each peer; the result is within 1 unit of x / d and unbiased.
- :func:`div_public` with t >= 2: probabilistic truncation with a PRSS mask (see
  :mod:`.truncation`), one opening round; within about C(n, t) / 2 + 1 units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...errors import PreprocessingError
from ..channel import ArraySpec, Message
from ..prg import expand, new_seed
from . import field, prss, truncation
from .field import Array, P
from .material import PrssMaterial
from .opening import from_wire, open_shares, settings, to_wire
from .polynomial import points

if TYPE_CHECKING:
    from ..context import ProtocolContext

#: Encoded magnitudes below 2**62 (the codec's limit) are what division and comparison accept.
OFFSET_BITS = 62


def prss_material(ctx: ProtocolContext) -> PrssMaterial:
    material = ctx.material
    if not isinstance(material, PrssMaterial):
        raise PreprocessingError("the Shamir suite needs its own material source (PRSS keys)")
    return material


def double_sharing(ctx: ProtocolContext, count: int) -> tuple[Array, Array]:
    """This party's shares of ``count`` random r at degree t and at degree 2t, no messages."""
    t, _ = settings(ctx)
    material = prss_material(ctx)
    assert material.keys is not None
    label = material.labels(1 + t, "double sharings", count)
    r_t = prss.random_shares(ctx.party, ctx.n_parties, material.keys, label, count)
    zero = prss.zero_shares(ctx.party, ctx.n_parties, t, material.keys, label + 1, count)
    return r_t, field.add(r_t, zero)


def reduce_degree(ctx: ProtocolContext, product: Array, label: str) -> Array:
    """Degree-t shares of a degree-2t sharing (one round, see the module docstring)."""
    t, _ = settings(ctx)
    r_t, r_2t = double_sharing(ctx, product.size)
    masked = field.add(product, r_2t.reshape(product.shape))
    opened = open_shares(ctx, [masked], label, 2 * t)
    assert opened is not None
    return field.sub(opened[0], r_t.reshape(product.shape))  # a public value is its own sharing


def mul(ctx: ProtocolContext, x: Array, y: Array) -> Array:
    return reduce_degree(ctx, field.mul(x, y), "multiplication")


def matmul(ctx: ProtocolContext, x: Array, y: Array) -> Array:
    return reduce_degree(ctx, np.asarray(field.matmul(x, y)), "matrix multiply")


def gram(ctx: ProtocolContext, x: Array) -> Array:
    return reduce_degree(ctx, field.matmul(x.T, x), "gram matrix")


def div_public(ctx: ProtocolContext, x: Array, divisor: int) -> Array:
    """Shares of about x / divisor for shares of a whole number |x| < 2**62 and 1 <= divisor < 2**48."""
    divisor = int(divisor)
    if divisor < 1:
        raise ValueError("div_public needs a positive integer divisor")
    if divisor == 1:
        return x.copy()
    label = "truncation" if divisor & (divisor - 1) == 0 else "public division"
    t, _ = settings(ctx)
    if divisor >= 1 << 48:
        raise ValueError("the Shamir protocol divides by public integers below 2**48")
    if t == 1:
        return _local_division(ctx, x, divisor, label)
    material = prss_material(ctx)
    assert material.keys is not None
    first = material.labels(1, "truncation masks", x.size)

    def opening(masked: Array) -> Array:
        opened = open_shares(ctx, [masked], label, t)
        assert opened is not None
        return opened[0]

    return truncation.truncate(opening, ctx.party, ctx.n_parties, x, divisor, OFFSET_BITS, material.keys, first, t)


def _local_division(ctx: ProtocolContext, x: Array, divisor: int, label: str) -> Array:
    """t = 1: parties 0 and 1 hold an additive sharing a + b of x + 2**62 (mod p) by Lagrange,
    re-randomised by a mask M from a PRSS key both hold (a + M, b - M); as integers
    a + b = x + 2**62 + p unless a <= x + 2**62 (probability below 2**-64). Each
    divides its part locally and shares the quotient on a fresh line; the sum of the quotients
    is (x + 2**62 + c + p - (a mod d + b mod d)) / d, and the public constant taken off leaves
    x / d plus an error below 1 unit in magnitude, with mean 0."""
    me, n = ctx.party, ctx.n_parties
    xs = points(n)
    lam = {0: 2, 1: -1}  # f(0) = 2 f(1) - f(2)
    # E[a mod d + b mod d] = d - 1; the offset's extra c makes (p + offset - (d - 1)) / d whole,
    # so the public constant taken off leaves the result unbiased: |error| < 1 unit
    c = -(P + (1 << OFFSET_BITS) - (divisor - 1)) % divisor
    offset = (1 << OFFSET_BITS) + c
    material = prss_material(ctx)
    assert material.keys is not None
    label_m = material.labels(1, "division masks", x.size)
    step = ctx.next_step()
    spec = [ArraySpec("uint64", (*x.shape, 2))]
    incoming = {j: spec for j in (0, 1) if j != me}
    outgoing = {}
    mine: Array | None = None
    if me in lam:
        # a uniform M moves a to a + M and b to b - M: shares need not be random (a public
        # constant's are not), but a + M is, so a + b wraps p once except with probability 2**-64
        joint = next(s for s in prss.subsets(n, 1) if 0 in s and 1 in s)
        mask = prss.prf(material.keys[joint], label_m, x.size).reshape(x.shape)
        part = field.mul_int(x, lam[me])
        if me == 0:
            part = field.add(field.add(part, field.scalar(offset)), mask)
        else:
            part = field.sub(part, mask)
        quotient = field.floor_div(part, divisor)
        slope = field.random(expand(new_seed(), 0, 2 * x.size).reshape(*x.shape, 2))
        for j in range(n):
            share_j = field.add(quotient, field.mul_int(slope, xs[j]))
            if j == me:
                mine = share_j
            else:
                outgoing[j] = Message([to_wire(share_j)])
    received = ctx.channel.exchange(step, label, outgoing, incoming)
    parts = [mine] if mine is not None else []
    parts += [from_wire(m.arrays[0], ctx.channel.party_names[j], label) for j, m in sorted(received.items())]
    total = field.add(parts[0], parts[1])
    centre = (P + offset - (divisor - 1)) // divisor
    return field.sub(total, field.scalar(centre))
