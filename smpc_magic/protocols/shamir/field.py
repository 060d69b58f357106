"""The prime field of p = 2**127 - 1 (a Mersenne prime), vectorised with numpy.

Shamir sharing needs a field; the additive suite's fixed point needs products of two values at
30 fractional bits (60 bits, plus the integer part) to fit before truncation, which rules out
2**61 - 1. Elements are numpy arrays of a structured dtype (``lo``, ``hi``: two uint64 words), so
a share is still an array shaped like its secret and indexing, reshapes, transposes and
concatenation work on shares directly. Products split each element into four 32-bit limbs
(sixteen 32 x 32-bit products, none overflowing uint64) and reduce with shifts, since
2**127 = 1 (mod p).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

P = (1 << 127) - 1
ELEMENT = np.dtype([("lo", "<u8"), ("hi", "<u8")])
U64 = np.uint64
M32 = U64(0xFFFFFFFF)
M63 = U64((1 << 63) - 1)
P_LO, P_HI = U64((1 << 64) - 1), M63

Array = npt.NDArray[Any]


def zeros(shape: tuple[int, ...]) -> Array:
    return np.zeros(shape, dtype=ELEMENT)


def _make(lo: Array, hi: Array) -> Array:
    out = np.empty(np.shape(lo), dtype=ELEMENT)
    out["lo"], out["hi"] = lo, hi
    return out


def from_ints(values: Any) -> Array:
    """Python or numpy integers (any sign, any size) as field elements, mod p."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu" and arr.dtype.itemsize <= 8:
        signed = arr.astype(np.int64)
        magnitude = np.abs(signed).astype(U64)  # |int64 min| = 2**63 still fits
        negative = signed < 0
        # p - u for 0 < u <= 2**63: the low word is 2**64 - 1 - u, the high word p's
        lo = np.where(negative, P_LO - magnitude, magnitude)
        hi = np.where(negative & (magnitude > 0), P_HI, U64(0))
        lo = np.where(negative & (magnitude == 0), U64(0), lo)
        return _make(lo, hi)
    flat = [int(v) % P for v in arr.reshape(-1).tolist()]
    lo = np.array([v & ((1 << 64) - 1) for v in flat], dtype=U64).reshape(arr.shape)
    hi = np.array([v >> 64 for v in flat], dtype=U64).reshape(arr.shape)
    return _make(lo, hi)


def to_ints(x: Array) -> list[int]:
    """Field elements as Python integers in [0, p) (tests and small values)."""
    return [(int(h) << 64) | int(lo) for lo, h in zip(x["lo"].reshape(-1).tolist(), x["hi"].reshape(-1).tolist())]


def centred(x: Array) -> Array:
    """The centred lift to int64: v for v < 2**63, v - p for v > p - 2**63; anything else is out
    of range and raises ValueError (a value that cannot be a fixed-point encoding)."""
    lo, hi = x["lo"], x["hi"]
    small = (hi == 0) & (lo < U64(1 << 63))
    negative = (hi == P_HI) & (P_LO - lo <= U64(1 << 63)) & (lo != P_LO)
    if not np.all(small | negative | ((hi == 0) & (lo == 0))):
        raise ValueError("a field element outside the range of signed 64-bit encodings")
    out = lo.astype(np.int64)  # wraps: for small values it is the value
    magnitude = P_LO - lo  # p - v for the negative ones
    return np.where(negative, -(magnitude.astype(np.int64)), out)


def _reduce_once(lo: Array, hi: Array) -> Array:
    """(lo, hi) holding a value below 2**128, reduced mod p."""
    top = hi >> U64(63)  # bit 127
    hi = hi & M63
    lo2 = lo + top
    carry = (lo2 < lo).astype(U64)
    hi = hi + carry
    # hi may now be 2**63 only if the value was p + 1 + ...; fold bit 127 again
    top = hi >> U64(63)
    hi = hi & M63
    lo3 = lo2 + top
    hi = hi + (lo3 < lo2).astype(U64)
    is_p = (hi == P_HI) & (lo3 == P_LO)
    return _make(np.where(is_p, U64(0), lo3), np.where(is_p, U64(0), hi))


def add(a: Array, b: Array) -> Array:
    a, b = np.broadcast_arrays(a, b)
    lo = a["lo"] + b["lo"]
    carry = (lo < a["lo"]).astype(U64)
    return _reduce_once(lo, a["hi"] + b["hi"] + carry)


def neg(a: Array) -> Array:
    zero = (a["lo"] == 0) & (a["hi"] == 0)
    lo, hi = P_LO - a["lo"], P_HI - a["hi"]  # p - a, no borrow: p's low word is all ones
    return _make(np.where(zero, U64(0), lo), np.where(zero, U64(0), hi))


def sub(a: Array, b: Array) -> Array:
    return add(a, neg(b))


def _limbs(a: Array) -> Array:
    """(4,) + shape: the 32-bit limbs of each element, least significant first (contiguous)."""
    lo, hi = np.ascontiguousarray(a["lo"]), np.ascontiguousarray(a["hi"])
    out = np.empty((4, *lo.shape), dtype=U64)
    np.bitwise_and(lo, M32, out=out[0])
    np.right_shift(lo, U64(32), out=out[1])
    np.bitwise_and(hi, M32, out=out[2])
    np.right_shift(hi, U64(32), out=out[3])
    return out


def mul(a: Array, b: Array) -> Array:
    """Elementwise product (numpy broadcasting)."""
    a, b = np.broadcast_arrays(a, b)
    x, y = _limbs(a), _limbs(b)
    products = x[:, None] * y[None, :]  # (4, 4) + shape, each below 2**64
    low, high = products & M32, products >> U64(32)
    # column k of the 256-bit product gathers low[i, j] with i + j = k and high[i, j] with
    # i + j = k - 1: at most 8 terms below 2**32 each
    cols = np.zeros((9, *a.shape), dtype=U64)
    for i in range(4):
        cols[i : i + 4] += low[i]
        cols[i + 1 : i + 5] += high[i]
    for k in range(8):  # carries: every column then holds 32 bits
        cols[k + 1] += cols[k] >> U64(32)
        cols[k] &= M32
    # value = low 127 bits + (value >> 127), since 2**127 = 1 (mod p)
    low_lo = cols[0] | (cols[1] << U64(32))
    low_hi = (cols[2] | (cols[3] << U64(32))) & M63
    # value >> 127 in 32-bit limbs: bits 127 + 32k .. 158 + 32k (the product is below 2**254)
    h = (cols[3:7] >> U64(31)) | ((cols[4:8] << U64(1)) & M32)
    high_lo = h[0] | (h[1] << U64(32))
    high_hi = h[2] | (h[3] << U64(32))
    lo = low_lo + high_lo
    carry = (lo < low_lo).astype(U64)
    return _reduce_once(lo, low_hi + high_hi + carry)


def scalar(value: int) -> Array:
    """One field element (a 0-d array) for a Python integer."""
    return from_ints(np.array([int(value) % P], dtype=object)).reshape(())


def inverse(value: int) -> int:
    if value % P == 0:
        raise ZeroDivisionError("0 has no inverse in the field")
    return pow(int(value), -1, P)


def random(seed_words: Array) -> Array:
    """Uniform field elements from pairs of uniform uint64 words (shape (..., 2)): the top bit of
    the high word is dropped and p itself (probability 2**-127) becomes 0."""
    return _reduce_once(seed_words[..., 0], seed_words[..., 1] & M63)
