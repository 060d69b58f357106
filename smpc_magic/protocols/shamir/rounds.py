"""Shamir's interactive steps, on any :class:`~smpc_magic.protocols.channel.Channel` (work in
progress: the suite that will use them is not written yet).

- Field elements travel as pairs of uint64 words and are checked on arrival: a peer's word
  pair must be a canonical element (below p), or it is refused.
- Double sharings (a random r shared at degree t and at degree 2t) are made by the parties
  themselves, with no dealer: each party shares random values both ways in one round, and every
  party applies the same Vandermonde matrix to what it received (Damgard-Nielsen), which turns
  n contributions into n - t random values that no t parties know.
- A multiplication's online phase is one round: each party sends its share of x*y + r at degree
  2t to every party, each reconstructs the masked product from 2t + 1 shares and subtracts its
  degree-t share of r.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..channel import ArraySpec, Channel, ChannelMismatch, Message
from ..prg import expand, new_seed
from . import field
from .field import Array, P
from .polynomial import interpolate, points, share

Step = Callable[[], int]


def to_wire(x: Array) -> np.ndarray:
    """Field elements as (..., 2) uint64 words (lo, hi), contiguous, for a message."""
    words = np.empty((*x.shape, 2), dtype=np.uint64)
    words[..., 0], words[..., 1] = x["lo"], x["hi"]
    return words


def from_wire(words: np.ndarray, sender: str, label: str) -> Array:
    """A peer's words back to field elements; anything not a canonical element is refused."""
    lo, hi = words[..., 0], words[..., 1]
    if np.any(hi > field.P_HI) or np.any((hi == field.P_HI) & (lo == field.P_LO)):
        raise ChannelMismatch(f"party {sender!r} sent a value outside the field at step '{label}'")
    out = np.empty(words.shape[:-1], dtype=field.ELEMENT)
    out["lo"], out["hi"] = lo, hi
    return out


def random_elements(shape: tuple[int, ...]) -> Array:
    """Uniform field elements from the operating system's CSPRNG (through AES-CTR)."""
    size = int(np.prod(shape, dtype=np.int64))
    return field.random(expand(new_seed(), 0, 2 * size).reshape(*shape, 2))


def vandermonde(n: int, rows: int) -> list[list[int]]:
    """M[k][i] = (i + 1) ** k mod p: any ``rows`` of the n columns form an invertible matrix, so
    ``rows`` = n - t outputs are uniform whatever t of the inputs are."""
    return [[pow(i + 1, k, P) for i in range(n)] for k in range(rows)]


def double_sharings(channel: Channel, next_step: Step, count: int, t: int) -> tuple[Array, Array]:
    """This party's shares of ``count`` random values r, at degree t and at degree 2t. One round."""
    n, me = channel.n_parties, channel.party
    if n < 2 * t + 1:
        raise ValueError(f"degree reduction needs n >= 2t + 1 parties; {n} parties, t = {t}")
    per_batch = n - t
    batches = -(-count // per_batch)
    mine = random_elements((batches,))
    low = share(mine, n, t, random_elements((t, batches)))
    high = share(mine, n, 2 * t, random_elements((2 * t, batches)))
    label = "double sharings"
    outgoing = {j: Message([to_wire(low[j]), to_wire(high[j])]) for j in range(n) if j != me}
    spec = [ArraySpec("uint64", (batches, 2))] * 2
    received = channel.exchange(next_step(), label, outgoing, {j: spec for j in range(n) if j != me})
    got_low = {me: low[me], **{j: from_wire(m.arrays[0], channel.party_names[j], label) for j, m in received.items()}}
    got_high = {me: high[me], **{j: from_wire(m.arrays[1], channel.party_names[j], label) for j, m in received.items()}}
    matrix = vandermonde(n, per_batch)
    outs_low, outs_high = [], []
    for row in matrix:  # r_k = sum_i M[k][i] s_i, shared both ways (linear, no communication)
        total_low, total_high = field.zeros((batches,)), field.zeros((batches,))
        for i, coefficient in enumerate(row):
            c = field.scalar(coefficient)
            total_low = field.add(total_low, field.mul(got_low[i], c))
            total_high = field.add(total_high, field.mul(got_high[i], c))
        outs_low.append(total_low)
        outs_high.append(total_high)
    # batch b's n - t values are r[k, b]; flatten to count values
    r_low = np.stack(outs_low, axis=1).reshape(-1)[:count]
    r_high = np.stack(outs_high, axis=1).reshape(-1)[:count]
    return r_low, r_high


def open_all(channel: Channel, next_step: Step, shares: Array, degree: int, label: str) -> Array:
    """Reconstruct at every party from degree + 1 shares (parties 1..degree+1 in x order);
    every party sends its share to every other, one round."""
    n, me = channel.n_parties, channel.party
    outgoing = {j: Message([to_wire(shares)]) for j in range(n) if j != me}
    spec = [ArraySpec("uint64", (*shares.shape, 2))]
    received = channel.exchange(next_step(), label, outgoing, {j: spec for j in range(n) if j != me})
    got = {me: shares, **{j: from_wire(m.arrays[0], channel.party_names[j], label) for j, m in received.items()}}
    xs = points(n)[: degree + 1]
    return interpolate(xs, [got[i] for i in range(degree + 1)])


def multiply(channel: Channel, next_step: Step, x: Array, y: Array, r_low: Array, r_high: Array, t: int) -> Array:
    """Shares at degree t of x * y for degree-t shares x, y, using one double sharing per element.
    One round: x * y + r is opened at degree 2t, and [r]_t is taken off."""
    masked = field.add(field.mul(x, y), r_high.reshape(x.shape))
    opened = open_all(channel, next_step, masked, 2 * t, "multiplication")
    return field.sub(opened, r_low.reshape(x.shape))  # a public value is its own degree-0 sharing
