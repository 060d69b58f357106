"""Probabilistic truncation for Shamir sharing with no dealer (work in progress: the suite that
will use it is not written yet).

Fixed point needs x / 2**f after every product. The parties need a random R = 2**f R_hi + R_lo
shared together with R_hi, with R_lo small: pseudo-random sharing gives it with no messages,
because every key's random integer r_A is known in the clear to the n - t members of its set
A, who split it themselves (r_A = 2**f r_A_hi + r_A_lo) and weight both parts by f_A(x_i).
Then one round opens c = x + 2**L + R (statistically hiding: R has ``SECURITY_BITS`` more bits
than x), and x / 2**f = floor(c / 2**f) - R_hi - 2**(L - f) + carry, where the carry from the
low bits, floor((x mod 2**f + R_lo) / 2**f), lies in [0, m] for m = C(n, t) sets. Subtracting
its mean (with a public half unit added first when m is even) leaves the result unbiased against
x / 2**f and within about m / 2 + 1 units of it (n = 3, t = 1: -1..2 units of floor(x / 2**f)).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from math import comb

import numpy as np

from ..channel import Channel
from ..prg import expand
from . import field
from .field import Array
from .prss import Subset, vanishing_at
from .rounds import open_all

SECURITY_BITS = 40
U64 = np.uint64


def _words_below(key: bytes, label: int, count: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform integers in [0, 2**bits) as (lo, hi) words (bits <= 126)."""
    words = expand(key, label, 2 * count).reshape(count, 2)
    lo, hi = words[:, 0].copy(), words[:, 1].copy()
    if bits <= 64:
        hi[:] = 0
        if bits < 64:
            lo &= U64((1 << bits) - 1)
    else:
        hi &= U64((1 << (bits - 64)) - 1)
    return lo, hi


def _split(lo: np.ndarray, hi: np.ndarray, f: int) -> tuple[Array, Array]:
    """(value >> f, value mod 2**f) as field elements, for 0 < f < 64."""
    low = field.zeros(lo.shape)
    low["lo"] = lo & U64((1 << f) - 1)
    high = field.zeros(lo.shape)
    high["lo"] = (lo >> U64(f)) | (hi << U64(64 - f))
    high["hi"] = hi >> U64(f)
    return high, low


def random_pairs(
    party: int, n: int, keys: Mapping[Subset, bytes], label: int, count: int, f: int, bits: int
) -> tuple[Array, Array]:
    """This party's degree-t shares of R_hi and R_lo (R = 2**f R_hi + R_lo, each key's part below
    2**bits), with no communication."""
    hi_total, lo_total = field.zeros((count,)), field.zeros((count,))
    for subset, key in sorted(keys.items()):
        high, low = _split(*_words_below(key, label, count, bits), f)
        weight = field.scalar(vanishing_at(n, subset, party))
        hi_total = field.add(hi_total, field.mul(high, weight))
        lo_total = field.add(lo_total, field.mul(low, weight))
    return hi_total, lo_total


def _shift_right(c: Array, f: int) -> Array:
    """floor(c / 2**f) for field elements read as integers in [0, p)."""
    out = field.zeros(c.shape)
    out["lo"] = (c["lo"] >> U64(f)) | (c["hi"] << U64(64 - f))
    out["hi"] = c["hi"] >> U64(f)
    return out


def truncate(
    channel: Channel,
    next_step: Callable[[], int],
    x: Array,
    f: int,
    magnitude_bits: int,
    keys: Mapping[Subset, bytes],
    label: int,
    t: int,
) -> Array:
    """Degree-t shares of about x / 2**f for shares of a whole number x with |x| < 2**magnitude_bits
    (see the module docstring for the error). One round."""
    n = channel.n_parties
    if not 0 < f < 64 or f > magnitude_bits:
        raise ValueError("truncation needs 0 < f < 64 and f <= the value's bits")
    bits = magnitude_bits + 1 + SECURITY_BITS
    m = comb(n, t)  # the number of key sets, each adding a low part below 2**f
    if bits + m.bit_length() + 1 >= 127:
        raise ValueError(f"a {magnitude_bits}-bit value leaves no room for the mask in the field")
    r_hi, r_lo = random_pairs(channel.party, n, keys, label, x.size, f, bits)
    r_hi, r_lo = r_hi.reshape(x.shape), r_lo.reshape(x.shape)
    # the carry averages (m - 1) / 2 units; with an even m a public half unit evens it out
    half = 0 if m % 2 else 1 << (f - 1)
    centre = (m - 1) // 2 if m % 2 else m // 2
    offset = field.scalar((1 << magnitude_bits) + half)
    masked = field.add(field.add(x, offset), field.add(field.mul(r_hi, field.scalar(1 << f)), r_lo))
    c = open_all(channel, next_step, masked, t, "truncation")
    shifted = field.sub(_shift_right(c, f), field.scalar((1 << (magnitude_bits - f)) + centre))
    return field.sub(shifted, r_hi)  # a public value is its own sharing
