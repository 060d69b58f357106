"""The prime field of p = 2**127 - 1 (a Mersenne prime), vectorised with numpy.

Shamir sharing needs a field; the fixed point of this project keeps encoded magnitudes below
2**62 and masks them with 40 more random bits for truncations and comparisons, which rules out
2**61 - 1. Elements are numpy arrays of a structured dtype (``lo``, ``hi``: two uint64 words),
so a share is an array shaped like its secret and indexing, reshapes, transposes and
concatenation work on shares directly.

The arithmetic runs on contiguous planes of words (a structured field is a strided view):
products split each element into four 32-bit limbs (sixteen 32 x 32-bit products, none
overflowing uint64) and reduce with shifts, since 2**128 = 2 (mod p); sums add 32-bit limbs;
matrix products split into 16-bit limbs whose products float64 BLAS sums exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

P = (1 << 127) - 1
ELEMENT = np.dtype([("lo", "<u8"), ("hi", "<u8")])
U64 = np.uint64
M16 = U64(0xFFFF)
M32 = U64(0xFFFFFFFF)
M63 = U64((1 << 63) - 1)
ALL = U64((1 << 64) - 1)
P_LO, P_HI = ALL, M63
_32, _63 = U64(32), U64(63)

Array = npt.NDArray[Any]
Planes = tuple[Array, Array]


def zeros(shape: tuple[int, ...]) -> Array:
    return np.zeros(shape, dtype=ELEMENT)


def planes(a: Array) -> Planes:
    """Contiguous copies of the low and high words."""
    # (ascontiguousarray makes a 0-d array 1-d: the reshape keeps the element's shape)
    return np.ascontiguousarray(a["lo"]).reshape(a.shape), np.ascontiguousarray(a["hi"]).reshape(a.shape)


def make(lo: Array, hi: Array) -> Array:
    """Field elements from planes of words that already hold reduced values."""
    out = np.empty(np.shape(lo), dtype=ELEMENT)
    out["lo"], out["hi"] = lo, hi
    return out


def from_ints(values: Any) -> Array:
    """Python or numpy integers (any sign, any size) as field elements, mod p."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu" and arr.dtype.itemsize <= 8:
        if arr.dtype.kind == "u" and arr.dtype.itemsize == 8:
            return make(arr.astype(U64), np.zeros(arr.shape, U64))
        signed = arr.astype(np.int64)
        magnitude = np.abs(signed).astype(U64)  # |int64 min| = 2**63 still fits
        negative = signed < 0
        # p - u for 0 < u <= 2**63: the low word is 2**64 - 1 - u, the high word p's
        lo = np.where(negative, P_LO - magnitude, magnitude)
        hi = np.where(negative, P_HI, U64(0))
        return make(lo, hi)
    flat = [int(v) % P for v in arr.reshape(-1).tolist()]
    lo = np.array([v & ((1 << 64) - 1) for v in flat], dtype=U64).reshape(arr.shape)
    hi = np.array([v >> 64 for v in flat], dtype=U64).reshape(arr.shape)
    return make(lo, hi)


def to_ints(x: Array) -> list[int]:
    """Field elements as Python integers in [0, p) (tests and small values)."""
    return [(int(h) << 64) | int(lo) for lo, h in zip(x["lo"].reshape(-1).tolist(), x["hi"].reshape(-1).tolist())]


def centred(x: Array) -> Array:
    """The centred lift to int64: v for v < 2**63, v - p for v > p - 2**63; anything else is out
    of range and raises ValueError (a value that cannot be a fixed-point encoding)."""
    lo, hi = planes(x)
    small = (hi == 0) & (lo < U64(1 << 63))
    negative = (hi == P_HI) & (lo >= U64((1 << 64) - 1 - (1 << 63)))
    if not np.all(small | negative):
        raise ValueError("a field element outside the range of signed 64-bit encodings")
    # p - v = 2**64 - 1 - lo for the negative ones; int64 wrap-around gives -(p - v)
    return np.where(negative, lo + U64(1), lo).view(np.int64)


# ----- kernels on planes ----------------------------------------------------------------------
def _canon(lo: Array, hi: Array) -> Planes:
    """Planes holding a value below 2**128, reduced to [0, p)."""
    top = hi >> _63
    hi = hi & M63
    lo = lo + top
    hi += lo < top  # a carry when lo wrapped
    # now the value is at most 2**127; it is p or 2**127 exactly when value + 1 reaches bit 127
    lo1 = lo + U64(1)
    hi1 = hi + (lo1 == 0)
    big = (hi1 >> _63).astype(bool)
    if big.any():
        lo = np.where(big, lo1, lo)
        hi = np.where(big, hi1 & M63, hi)
    return lo, hi


def _add_small(lo: Array, hi: Array, extra: Array) -> Planes:
    """(lo, hi) + extra for a 128-bit value and extra < 2**64; a wrap past 2**128 counts 2."""
    lo = lo + extra
    carry = lo < extra
    hi = hi + carry
    wrapped = carry & (hi == 0)
    if wrapped.any():
        lo = lo + (wrapped.astype(U64) << U64(1))
    return lo, hi


def _from_columns(cols: list[Array], extra: Array | None = None) -> Planes:
    """Reduce a value given as four 32-bit-unit columns (each below 2**63) plus ``extra``
    multiples of 2**128, modulo p."""
    c0, c1, c2, c3 = cols
    c1 = c1 + (c0 >> _32)
    c2 = c2 + (c1 >> _32)
    c3 = c3 + (c2 >> _32)
    out_carry = c3 >> _32  # multiples of 2**128, each worth 2
    if extra is not None:
        out_carry = out_carry + extra
    lo = (c0 & M32) | (c1 << _32)
    hi = (c2 & M32) | (c3 << _32)
    return _canon(*_add_small(lo, hi, out_carry << U64(1)))


def _limbs32(lo: Array, hi: Array) -> list[Array]:
    return [lo & M32, lo >> _32, hi & M32, hi >> _32]


def _mul_planes(alo: Array, ahi: Array, blo: Array, bhi: Array) -> Planes:
    x, y = _limbs32(alo, ahi), _limbs32(blo, bhi)
    cols: list[Array | None] = [None] * 8
    for i in range(4):
        for j in range(4):
            p = x[i] * y[j]
            for k, part in ((i + j, p & M32), (i + j + 1, p >> _32)):
                if k < 8:
                    current = cols[k]
                    cols[k] = part if current is None else current + part
    assert all(c is not None for c in cols)
    low = [cols[k] + (cols[k + 4] << U64(1)) for k in range(4)]  # type: ignore[operator]
    return _from_columns(low)


def _mul_small_planes(lo: Array, hi: Array, c: int) -> Planes:
    """(lo, hi) * c for 0 <= c < 2**31."""
    factor = U64(c)
    products = [limb * factor for limb in _limbs32(lo, hi)]
    cols = [products[0] & M32]
    for k in range(1, 4):
        cols.append((products[k] & M32) + (products[k - 1] >> _32))
    return _from_columns(cols, extra=products[3] >> _32)


# ----- elementwise operations -----------------------------------------------------------------
#: Elements per pass: the kernels' temporaries then stay in the cache and their memory is
#: reused, instead of every numpy step faulting in fresh pages (five times faster at 10**6).
CHUNK = 1 << 14


def _apply(kernel: Any, *operands: Array) -> Array:
    """``kernel(lo, hi, lo2, hi2, ...) -> (lo, hi)`` over broadcast operands, chunk by chunk."""
    if len(operands) > 1 and len({o.shape for o in operands}) > 1:
        operands = tuple(np.broadcast_arrays(*operands))
    shape = operands[0].shape
    flat = [np.ascontiguousarray(o).reshape(-1) for o in operands]
    size = flat[0].shape[0]
    out = np.empty(size, dtype=ELEMENT)
    for start in range(0, size, CHUNK):
        args = []
        for o in flat:
            part = o[start : start + CHUNK]
            args += [part["lo"], part["hi"]]
        lo, hi = kernel(*args)
        piece = out[start : start + CHUNK]
        piece["lo"], piece["hi"] = lo, hi
    return out.reshape(shape)


def _add_planes(alo: Array, ahi: Array, blo: Array, bhi: Array) -> Planes:
    lo = alo + blo
    return _canon(lo, ahi + bhi + (lo < alo))


def _neg_planes(lo: Array, hi: Array) -> Planes:
    zero = (lo == 0) & (hi == 0)
    lo, hi = P_LO - lo, P_HI - hi  # p - a, no borrow: p's low word is all ones
    if zero.any():
        lo, hi = np.where(zero, U64(0), lo), np.where(zero, U64(0), hi)
    return lo, hi


def _sub_planes(alo: Array, ahi: Array, blo: Array, bhi: Array) -> Planes:
    return _add_planes(alo, ahi, *_neg_planes(blo, bhi))


def add(a: Array, b: Array) -> Array:
    return _apply(_add_planes, a, b)


def neg(a: Array) -> Array:
    return _apply(_neg_planes, a)


def sub(a: Array, b: Array) -> Array:
    return _apply(_sub_planes, a, b)


def mul(a: Array, b: Array) -> Array:
    """Elementwise product (numpy broadcasting). A 0-d ``b`` holding a small integer (or its
    negative) takes the faster path of :func:`mul_int`."""
    if b.ndim == 0:
        value = to_ints(b)[0]
        signed = value if value < P // 2 else value - P
        if abs(signed) < (1 << 31):
            return mul_int(a, signed)
    return _apply(_mul_planes, a, b)


def mul_int(a: Array, c: int) -> Array:
    """a * c for a Python integer c with |c| < 2**31 (Lagrange and PRSS weights, powers of two)."""
    if not -(1 << 31) < c < (1 << 31):
        return mul(a, scalar(c))
    magnitude = abs(c)

    def kernel(lo: Array, hi: Array) -> Planes:
        out = _mul_small_planes(lo, hi, magnitude)
        return _neg_planes(*out) if c < 0 else out

    return _apply(kernel, a)


def linear(terms: list[tuple[int, Array]]) -> Array:
    """sum of c * x over (c, x), for small integer weights (|c| < 2**31), x of one shape, in one
    pass over the data."""
    shape = np.broadcast_shapes(*[np.shape(x) for _, x in terms])
    terms = [(c, x) for c, x in terms if c != 0]
    if not terms:
        return zeros(shape)
    if any(abs(c) >= (1 << 31) for c, _ in terms):  # large weights: one product per term
        total = mul(terms[0][1], scalar(terms[0][0]))
        for c, x in terms[1:]:
            total = add(total, mul(x, scalar(c)))
        return total
    weights = [c for c, _ in terms]

    def kernel(*words: Array) -> Planes:
        # one reduction for the whole sum: every term's limb products go into four 32-bit-unit
        # columns (each term adds below 2**34 to a column) and the top carries, then one fold
        cols: list[Any] = [0, 0, 0, 0]
        extra: Any = 0
        for k, c in enumerate(weights):
            lo, hi = words[2 * k], words[2 * k + 1]
            if c < 0:
                lo, hi = _neg_planes(lo, hi)
            limbs = _limbs32(lo, hi)
            if abs(c) == 1:
                cols = [col + limb for col, limb in zip(cols, limbs)]
                continue
            factor = U64(abs(c))
            products = [limb * factor for limb in limbs]
            cols[0] = cols[0] + (products[0] & M32)
            for j in range(1, 4):
                cols[j] = cols[j] + (products[j] & M32) + (products[j - 1] >> _32)
            extra = extra + (products[3] >> _32)
        size = words[0].shape
        full = [np.broadcast_to(np.asarray(col, dtype=U64), size) for col in cols]
        return _from_columns(full, extra=np.broadcast_to(np.asarray(extra, dtype=U64), size))

    return _apply(kernel, *[x for _, x in terms])


def sum_along(a: Array, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Array:
    """The sum over ``axis`` (numpy's rules), exact for up to 2**31 terms per output."""
    lo, hi = planes(a)
    limbs = [np.sum(limb, axis=axis, keepdims=keepdims, dtype=U64) for limb in _limbs32(lo, hi)]
    shape = np.shape(limbs[0])
    flat = [np.asarray(limb, dtype=U64).reshape(-1) for limb in limbs]
    return make(*_from_columns(flat)).reshape(shape)


def matmul(a: Array, b: Array) -> Array:
    """``a @ b`` in the field (numpy's matmul shape rules). Each operand is split into eight
    16-bit limbs; the 64 limb products run as float64 BLAS matmuls, exact while the contraction
    is at most 2**20 long (longer ones are cut into pieces and added)."""
    k = a.shape[-1]
    chunk = 1 << 20
    if k > chunk:
        total = None
        for start in range(0, k, chunk):
            part_a = a[..., start : start + chunk]
            part_b = b[start : start + chunk] if b.ndim == 1 else b[..., start : start + chunk, :]
            piece = matmul(part_a, part_b)
            total = piece if total is None else add(total, piece)
        assert total is not None
        return total
    la, lb = _limbs16(a), _limbs16(b)
    cols: list[Array | None] = [None] * 15
    for i in range(8):
        for j in range(8):
            term = np.matmul(la[i], lb[j]).astype(np.int64).view(U64)
            current = cols[i + j]
            cols[i + j] = term if current is None else current + term
    assert cols[0] is not None
    shape = np.shape(cols[0])
    # 16-bit columns s, each below 2**56; 2**(128 + 16 s') = 2 * 2**(16 s') (mod p)
    c16 = [np.asarray(cols[s], dtype=U64).reshape(-1) for s in range(15)]
    for s in range(8, 15):
        c16[s - 8] = c16[s - 8] + (c16[s] << U64(1))
    for s in range(7):  # carries: every column but the top then holds 16 bits
        c16[s + 1] = c16[s + 1] + (c16[s] >> U64(16))
        c16[s] = c16[s] & M16
    extra = c16[7] >> U64(16)  # multiples of 2**128
    c16[7] = c16[7] & M16
    c32 = [c16[2 * q] | (c16[2 * q + 1] << U64(16)) for q in range(4)]
    return make(*_from_columns(c32, extra=extra)).reshape(shape)


def _limbs16(x: Array) -> list[Array]:
    lo, hi = planes(x)
    out = []
    for word in (lo, hi):
        for q in range(4):
            out.append(((word >> U64(16 * q)) & M16).view(np.int64).astype(np.float64))
    return out


def floor_div(x: Array, d: int) -> Array:
    """floor(v / d) for each element read as an integer v in [0, p), for 1 <= d < 2**48 (a
    public divisor): long division over 16-bit limbs, or shifts for a power of two."""
    if not 1 <= d < (1 << 48):
        raise ValueError("floor_div needs 1 <= d < 2**48")
    lo, hi = planes(x)
    if d & (d - 1) == 0:
        f = U64(d.bit_length() - 1)
        if int(f) == 0:
            return make(lo, hi)
        return make((lo >> f) | (hi << (U64(64) - f)), hi >> f)
    divisor = U64(d)
    rest = np.zeros(lo.shape, U64)
    quotient = [np.zeros(lo.shape, U64), np.zeros(lo.shape, U64)]
    for q in range(7, -1, -1):
        word, shift = (hi, U64(16 * (q - 4))) if q >= 4 else (lo, U64(16 * q))
        current = (rest << U64(16)) | ((word >> shift) & M16)
        digit = current // divisor
        rest = current - digit * divisor
        quotient[q // 4] |= digit << shift
    return make(quotient[0], quotient[1])


def scalar(value: int) -> Array:
    """One field element (a 0-d array) for a Python integer."""
    v = int(value) % P
    return make(np.array(v & ((1 << 64) - 1), dtype=U64), np.array(v >> 64, dtype=U64))


def inverse(value: int) -> int:
    if value % P == 0:
        raise ZeroDivisionError("0 has no inverse in the field")
    return pow(int(value), -1, P)


def random(seed_words: Array) -> Array:
    """Uniform field elements from pairs of uniform uint64 words (shape (..., 2)): the top bit of
    the high word is dropped and p itself (probability 2**-127) becomes 0."""
    lo = np.array(seed_words[..., 0], copy=True)
    hi = seed_words[..., 1] & M63
    is_p = (lo == P_LO) & (hi == P_HI)
    if is_p.any():
        lo, hi = np.where(is_p, U64(0), lo), np.where(is_p, U64(0), hi)
    return make(lo, hi)


def equal(a: Array, b: Array) -> Array:
    return np.asarray((a["lo"] == b["lo"]) & (a["hi"] == b["hi"]))
