"""Comparison with a dealer: the sign of an additively shared value, in 9 rounds for a whole array.

LTZ(x) for |x| < 2**62: let y = x + 2**62 in [0, 2**63), so x >= 0 exactly when bit 62 of y is
set. The parties open c = y + r for a uniform ring mask r whose low 63 bits the dealer also
XOR-shares. Subtracting bitwise, bit 62 of y = c_62 XOR r_62 XOR u with the borrow
u = [c mod 2**62 < r mod 2**62]: a comparison of a public number with secret bits, computed as
"r has a 1 where c has a 0 at the highest bit where they differ" with a suffix-AND tree over
the 62 bit positions (6 rounds of AND gates on bit-sliced words) and one more AND. A doubly
shared random bit turns the XOR-shared result into an additive share (one opening).

Bytes per compared element sent to each peer: 8 (opening) + about 8*2*62/8*7 (AND gates on
bit slices) + 1/8 (final opening), roughly 110 bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..base import Array
from ..channel import ArraySpec, Message
from .arithmetic import open_all
from .ring import ring_op

if TYPE_CHECKING:  # the context imports the suite, which imports this module
    from ..context import ProtocolContext

U64 = np.uint64
ALL_ONES = U64(0xFFFFFFFFFFFFFFFF)
LOW_BITS = 62  # bits 0..61 are compared; bit 62 is the sign bit of y


def and_triple_words(n: int, bits: int = LOW_BITS) -> int:
    """AND-triple words one comparison batch of ``n`` elements at width ``bits`` draws: the
    suffix-AND tree's levels plus the borrow step, each on bit slices of ceil(n/64) words."""
    slices, k = bits, 1
    while k < bits:
        slices += bits - k
        k *= 2
    return slices * -(-n // 64)


def xor_open(ctx: ProtocolContext, shares: list[Array], label: str) -> list[Array]:
    """Reconstruct XOR-shared words at every party, in one round."""
    me, n = ctx.party, ctx.n_parties
    shares = [np.asarray(s, dtype=U64, order="C") for s in shares]
    outgoing = {j: Message(list(shares)) for j in range(n) if j != me}
    spec = [ArraySpec.like(s) for s in shares]
    received = ctx.channel.exchange(ctx.next_step(), label, outgoing, {j: spec for j in range(n) if j != me})
    totals = [s.copy() for s in shares]
    for msg in received.values():
        for total, part in zip(totals, msg.arrays):
            total ^= part
    return totals


def and_gates(ctx: ProtocolContext, x: Array, y: Array, label: str = "and gates") -> Array:
    """XOR share of x AND y for XOR-shared words (64 bits per word), one round."""
    m = ctx.material.take("and", (), x.size)
    a, b, c = (m[k].reshape(x.shape) for k in ("a", "b", "c"))
    d, e = xor_open(ctx, [x ^ a, y ^ b], label)
    z = c ^ (d & b) ^ (e & a)
    if ctx.is_leader:
        z ^= d & e
    return z


#: (j, mask) for the six steps of a 64 x 64 bit-matrix transpose (Hacker's Delight, 7-3)
_TRANSPOSE_STEPS = [
    (32, U64(0x00000000FFFFFFFF)),
    (16, U64(0x0000FFFF0000FFFF)),
    (8, U64(0x00FF00FF00FF00FF)),
    (4, U64(0x0F0F0F0F0F0F0F0F)),
    (2, U64(0x3333333333333333)),
    (1, U64(0x5555555555555555)),
]


def bit_slices(words: Array, nbits: int) -> Array:
    """(n,) words -> (nbits, ceil(n/64)) words: slice i packs bit i of every element.

    Each run of 64 words is a 64 x 64 bit matrix; transposing it (six steps of masked swaps of
    half-blocks, on views, for every block at once) gives the slices. Linear over XOR, so each
    party applies it to its own XOR shares."""
    n = words.size
    blocks = -(-n // 64)
    matrix = np.zeros((blocks, 64), dtype=U64)
    matrix.reshape(-1)[:n] = words.reshape(-1)
    for j, mask in _TRANSPOSE_STEPS:
        halves = matrix.reshape(blocks, 64 // (2 * j), 2, j)
        upper, lower = halves[:, :, 0, :], halves[:, :, 1, :]
        swap = ((upper >> U64(j)) ^ lower) & mask
        upper ^= swap << U64(j)
        lower ^= swap
    return np.ascontiguousarray(matrix[:, :nbits].T)


def unslice_bit(slice_words: Array, n: int) -> Array:
    """One packed slice (ceil(n/64),) -> (n,) words holding that bit in bit 0."""
    bits = np.unpackbits(slice_words.view(np.uint8), bitorder="little")[:n]
    return bits.astype(U64)


@ring_op
def msb_of_offset(ctx: ProtocolContext, x: Array, bits: int = LOW_BITS) -> Array:
    """Additive share of [x >= 0] (as 0/1) for additive shares of x with |x| < 2**bits.

    A caller that knows a smaller bound passes fewer ``bits``: the AND tree shrinks with it."""
    shape = x.shape
    flat = np.asarray(x, dtype=U64).reshape(-1)
    n = flat.size
    if n == 0:
        return np.zeros(shape, U64)
    m = ctx.material.take("cmp", (), n)
    r, rbits = m["r"], m["rbits"]
    if not 1 <= bits <= LOW_BITS:
        raise ValueError("comparison width must be between 1 and 62 bits")
    masked = flat + r
    if ctx.is_leader:
        masked += U64(1 << bits)
    (c,) = open_all(ctx, [masked], "comparison")
    # XOR shares of eq_i = NOT(c_i XOR r_i) and of r_i, bit-sliced
    public = c & U64((1 << 63) - 1)
    rs = bit_slices(rbits, bits + 1)
    c_slices = bit_slices(public, bits + 1)  # public
    eq = rs[:bits] ^ (c_slices[:bits] ^ ALL_ONES) if ctx.is_leader else rs[:bits].copy()  # slicing is linear
    # suffix AND: s_i = AND_{j >= i} eq_j, Kogge-Stone over the positions (ceil(log2 bits) rounds)
    s = eq.copy()
    k = 1
    while k < bits:
        s[: bits - k] = and_gates(ctx, s[: bits - k], s[k:bits], "comparison tree")
        k *= 2
    # p_i = AND_{j > i} eq_j ; p_top = 1 (public)
    p = np.empty_like(s)
    p[: bits - 1] = s[1:bits]
    p[bits - 1] = ALL_ONES if ctx.is_leader else U64(0)
    hits = and_gates(ctx, rs[:bits], p, "comparison borrow")
    hits &= c_slices[:bits] ^ ALL_ONES  # keep positions where c has a 0 (public mask)
    borrow = np.bitwise_xor.reduce(hits, axis=0)
    top = rs[bits] ^ borrow
    if ctx.is_leader:
        top ^= c_slices[bits]
    return b2a(ctx, top, n).reshape(shape)


@ring_op
def b2a(ctx: ProtocolContext, packed_bits: Array, n: int) -> Array:
    """Additive 0/1 shares of n XOR-shared bits (packed, bit i of word i//64), one round."""
    m = ctx.material.take("dabit", (), n)
    sb, sa = m["sb"], m["sa"]
    sb_packed = np.packbits(np.pad(sb.astype(np.uint8), (0, packed_bits.size * 64 - n)), bitorder="little").view(U64)
    (v_packed,) = xor_open(ctx, [packed_bits ^ sb_packed], "bit conversion")
    v = unslice_bit(v_packed, n)
    # bit = v XOR s = v + s - 2 v s, linear because v is public
    out = np.where(v == 1, U64(0) - sa, sa)
    if ctx.is_leader:
        out += v
    return out


@ring_op
def ltz(ctx: ProtocolContext, x: Array, bits: int = LOW_BITS) -> Array:
    """Additive 0/1 shares of [x < 0]; exact for |x| < 2**bits (62 by default). 9 rounds for
    the whole array (8 when bits <= 32)."""
    nonneg = msb_of_offset(ctx, x, bits)
    out = U64(0) - nonneg
    if ctx.is_leader:
        out += U64(1)
    return out
