"""Openings, Beaver multiplication, matrix products and division by public integers.

All functions take and return this party's shares (uint64 arrays) and cost one communication
round for the whole array. Costs per call, with n parties and k = array size, are in each docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..base import Array
from ..channel import ArraySpec, Message
from .ring import ring_matmul, ring_op

if TYPE_CHECKING:  # the context imports the suite, which imports this module
    from ..context import ProtocolContext

U64 = np.uint64
MASK63 = U64((1 << 63) - 1)
OFFSET = 1 << 62  # inputs to division must satisfy |x| < 2**62 as signed integers


@ring_op
def open_values(
    ctx: ProtocolContext, shares: Sequence[Array], label: str, to: Sequence[int] | None = None
) -> list[Array] | None:
    """Reconstruct several shared arrays at the parties in ``to`` (default: all), in one round.

    Sends k*8 bytes per array to each recipient. Returns the values at recipients, None elsewhere.
    """
    me, n = ctx.party, ctx.n_parties
    recipients = list(range(n)) if to is None else sorted(set(to))
    shares = [np.asarray(s, dtype=U64, order="C") for s in shares]
    outgoing = {j: Message(list(shares)) for j in recipients if j != me}
    expect = {}
    if me in recipients:
        spec = [ArraySpec.like(s) for s in shares]
        expect = {j: spec for j in range(n) if j != me}
    step = ctx.next_step()
    received = ctx.channel.exchange(step, label, outgoing, expect)
    if me not in recipients:
        return None
    totals = [s.copy() for s in shares]
    for msg in received.values():
        for total, part in zip(totals, msg.arrays):
            total += part
    return totals


def open_all(ctx: ProtocolContext, shares: Sequence[Array], label: str) -> list[Array]:
    """Reconstruct at every party (one round)."""
    opened = open_values(ctx, shares, label)
    assert opened is not None  # every party is a recipient
    return opened


@ring_op
def add_public(ctx: ProtocolContext, share: Array, public: Array) -> Array:
    """Share of x + p for public ring value p: only party 0 adds it. No communication."""
    if ctx.is_leader:
        return share + public
    return np.broadcast_to(share, np.broadcast_shapes(np.shape(share), np.shape(public))).copy()


@ring_op
def mul(ctx: ProtocolContext, x: Array, y: Array) -> Array:
    """Share of x*y (elementwise, numpy broadcasting) by a Beaver triple.

    One round; each party sends (|x| + |y|)*8 bytes to each peer. Equal shapes draw from the
    elementwise triple stream; other shapes use a broadcast triple made for the pair of shapes.
    """
    if x.shape == y.shape:
        m = ctx.material.take("mul", (), x.size)
        a, b, c = (m[k].reshape(x.shape) for k in ("a", "b", "c"))
    else:
        m = ctx.material.take("bmul", (tuple(x.shape), tuple(y.shape)))
        a, b, c = m["a"], m["b"], m["c"]
    d, e = open_all(ctx, [x - a, y - b], "beaver multiply")
    z: Array = c + d * b
    z += e * a
    if ctx.is_leader:
        z += d * e
    return z


@ring_op
def matmul(ctx: ProtocolContext, x: Array, y: Array) -> Array:
    """Share of x @ y with a matrix triple (A, B, C = A @ B).

    One round; each party sends (|x| + |y|)*8 bytes to each peer: proportional to the operands,
    not to the n*d*k multiplications.
    """
    m = ctx.material.take("matmul", (tuple(x.shape), tuple(y.shape)))
    a, b, c = m["A"], m["B"], m["C"]
    d, e = open_all(ctx, [x - a, y - b], "matrix multiply")
    z: Array = c + ring_matmul(d, b)
    z += ring_matmul(a, e)
    if ctx.is_leader:
        z += ring_matmul(d, e)
    return z


@ring_op
def gram(ctx: ProtocolContext, x: Array) -> Array:
    """Share of x.T @ x for a 2-D x, opening x - A only once (|x|*8 bytes to each peer, one round)."""
    m = ctx.material.take("gram", (tuple(x.shape),))
    a, c = m["A"], m["C"]
    (d,) = open_all(ctx, [x - a], "gram matrix")
    cross = ring_matmul(d.T, a)
    z: Array = c + cross
    z += cross.T
    if ctx.is_leader:
        z += ring_matmul(d.T, d)
    return z


@ring_op
def div_public(ctx: ProtocolContext, x: Array, divisor: int) -> Array:
    """Share of x / divisor for a public integer divisor >= 1; truncation is divisor 2**f.

    Needs |x| < 2**62 (as a signed integer). Opens x + 2**62 + r with r uniform in the whole ring
    (so the opened value says nothing about x) and corrects the carry with the dealer's shared
    top bit of r. The result is within 1 unit of x / divisor when the divisor is a power of two
    and within 2 units otherwise, and unbiased (the rounding direction depends on the uniform
    mask). One round; each party sends |x|*8 bytes to each peer.
    """
    divisor = int(divisor)
    if divisor < 1:
        raise ValueError("div_public needs a positive integer divisor")
    if divisor == 1:
        return x.copy()
    m = ctx.material.take("div", (divisor,), x.size)
    r, rdiv, rmsb = (m[k].reshape(x.shape) for k in ("r", "rdiv", "rmsb"))
    shift = U64(OFFSET)
    masked = x + r
    if ctx.is_leader:
        masked += shift
    (c,) = open_all(ctx, [masked], "truncation" if divisor & (divisor - 1) == 0 else "public division")
    c_msb = c >> U64(63)
    c_low = c & MASK63
    d = U64(divisor)
    # carry b = c_msb XOR r_msb = c_msb + (1 - 2*c_msb)*r_msb: linear in the shared bit
    carry = np.where(c_msb == U64(1), U64(0) - rmsb, rmsb)
    if ctx.is_leader:
        carry += c_msb
    z = carry * U64((1 << 63) // divisor)
    z -= rdiv
    if ctx.is_leader:
        z += c_low // d
        z -= U64(OFFSET // divisor)
    return z
