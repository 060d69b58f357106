"""Fixed-point encoding of real numbers into the ring Z_2^64 (two's complement): the additive codec.

A value v is stored as round(v * 2**scale) mod 2**64. ``scale`` is 0 for exact integers and
``frac_bits`` (16 by default) for fixed-point numbers. numpy's uint64 arithmetic wraps modulo
2**64, which is exactly ring arithmetic.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np

from ...errors import EncodingError
from ..base import Array, Codec

RING_DTYPE = np.dtype(np.uint64)
RING_BITS = 64
#: Encoded magnitudes the truncation and comparison protocols accept: |x| < 2**62.
LIMIT_BITS = 62
ENCODED_LIMIT = 1 << LIMIT_BITS
DEFAULT_FRAC_BITS = 16

F = TypeVar("F", bound=Callable[..., Any])


def max_fixed_magnitude(frac_bits: int) -> float:
    """Largest |value| a fixed-point input may have with ``frac_bits`` fractional bits."""
    return float(ENCODED_LIMIT >> frac_bits)


def is_integer_valued(values: Array) -> bool:
    """True for arrays that are stored exactly as integers (bool and integer dtypes)."""
    return values.dtype.kind in "biu"


def encode(values: Any, frac_bits: int, what: str = "value") -> tuple[Array, int]:
    """Encode numbers into ring elements; returns (uint64 array, scale).

    Integer and boolean arrays keep scale 0 (exact); floats get scale ``frac_bits``. NaN,
    infinities and values beyond the representable range raise :class:`EncodingError` so nothing
    is shared.
    """
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise EncodingError(
            f"{what} has dtype {arr.dtype}; only numbers and booleans can be secret inputs. "
            "Convert text or dates to numeric codes before marking it private."
        )
    if is_integer_valued(arr):
        if arr.dtype.kind == "u" and arr.size and int(arr.max()) >= ENCODED_LIMIT:
            raise EncodingError(f"{what} has integers of magnitude 2**62 or more; they cannot be encoded.")
        as_int = arr.astype(np.int64)
        if as_int.size and int(np.abs(as_int).max()) >= ENCODED_LIMIT:
            raise EncodingError(f"{what} has integers of magnitude 2**62 or more; they cannot be encoded.")
        return as_int.view(RING_DTYPE), 0
    arr = arr.astype(np.float64)
    if arr.size and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise EncodingError(
            f"{what} contains {bad} NaN or infinite value(s). Secure computation needs finite "
            "numbers: drop or impute missing values before marking the data private."
        )
    limit = max_fixed_magnitude(frac_bits)
    if arr.size and float(np.abs(arr).max()) >= limit:
        raise EncodingError(
            f"{what} has a value of magnitude {float(np.abs(arr).max()):.4g}, beyond the fixed-point "
            f"range ±{limit:.4g} with {frac_bits} fractional bits. Rescale the data (for example "
            "thousands instead of units) or lower the session's frac_bits."
        )
    return np.rint(arr * float(1 << frac_bits)).astype(np.int64).view(RING_DTYPE), frac_bits


def decode(ring: Array, scale: int) -> Array:
    """Decode ring elements: int64 for scale 0, float64 otherwise."""
    signed = np.asarray(ring, dtype=RING_DTYPE).view(np.int64)
    if scale == 0:
        return signed.copy()
    return signed.astype(np.float64) / float(1 << scale)


def ring_op(fn: F) -> F:
    """Run ``fn`` with numpy's overflow warnings off: wrapping modulo 2**64 is the point.

    (numpy warns on overflow of 0-d uint64 scalars, not of arrays; results are the same.)
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(over="ignore"):
            return fn(*args, **kwargs)

    return cast(F, wrapper)


class RingCodec(Codec):
    """Two's-complement fixed point in Z_2^64 with |encoded| < 2**62."""

    dtype = RING_DTYPE
    limit_bits = LIMIT_BITS

    def encode_input(self, values: Array, frac_bits: int, what: str) -> tuple[Array, int]:
        return encode(values, frac_bits, what)

    def encode_public(self, values: Array, scale: int) -> Array:
        arr = np.asarray(values)
        if arr.dtype.kind in "biu" and scale == 0:
            return arr.astype(np.int64).view(RING_DTYPE)
        arr = arr.astype(np.float64)
        if arr.size and not np.isfinite(arr).all():
            raise EncodingError("a public value is NaN or infinite")
        scaled = arr * 2.0**scale
        if arr.size and float(np.abs(scaled).max()) >= ENCODED_LIMIT:
            raise EncodingError(
                f"a public value of magnitude {float(np.abs(arr).max()):.4g} is too large for fixed point "
                f"with {scale} fractional bits"
            )
        return np.rint(scaled).astype(np.int64).view(RING_DTYPE)

    def decode(self, encoded: Array, scale: int) -> Array:
        return decode(encoded, scale)


#: Below this many multiply-adds, numpy's own uint64 matmul is faster than splitting into limbs.
_BLAS_THRESHOLD = 200_000
#: Contraction length per float64 pass: 16-bit limb products summed over at most 2**20 terms stay
#: below 2**53; 2**18 also keeps the eight limb arrays of a pass small (about 150 MB at 10 columns).
_CHUNK = 1 << 18


@ring_op
def ring_matmul(a: Array, b: Array) -> Array:
    """``a @ b`` modulo 2**64 for uint64 arrays (numpy's matmul shape rules), exactly.

    numpy's integer matmul does not use BLAS. For large products each operand is split into four
    16-bit limbs and the ten limb products that matter modulo 2**64 run as float64 BLAS matmuls,
    each exact (a 32-bit product summed over at most 2**20 terms is below 2**53), then shifted and
    added with wrap-around."""
    a = np.asarray(a, dtype=RING_DTYPE)
    b = np.asarray(b, dtype=RING_DTYPE)
    k = a.shape[-1]
    out_size = int(np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) or (1,))) if a.ndim > 1 and b.ndim > 1 else 1
    rows = a.shape[-2] if a.ndim > 1 else 1
    cols = b.shape[-1] if b.ndim > 1 else 1
    # splitting costs about 8 (rows + cols) k element operations, the uint64 kernel about
    # 0.6 rows cols k: limbs pay off for wide products (rows cols / (rows + cols) above ~13)
    if out_size * rows * cols * k < _BLAS_THRESHOLD or rows * cols < 13 * (rows + cols):
        return np.asarray(np.matmul(a, b))
    if k > _CHUNK:
        total = None
        for start in range(0, k, _CHUNK):
            part_a = a[..., start : start + _CHUNK]
            part_b = b[start : start + _CHUNK] if b.ndim == 1 else b[..., start : start + _CHUNK, :]
            piece = ring_matmul(part_a, part_b)
            total = piece if total is None else total + piece
        assert total is not None
        return np.asarray(total)
    mask = np.uint64(0xFFFF)
    # through int64: numpy converts uint64 to and from float64 by a slow path
    limbs_a = [((a >> np.uint64(16 * i)) & mask).view(np.int64).astype(np.float64) for i in range(4)]
    limbs_b = [((b >> np.uint64(16 * j)) & mask).view(np.int64).astype(np.float64) for j in range(4)]
    result = None
    for i in range(4):
        for j in range(4 - i):
            term = np.matmul(limbs_a[i], limbs_b[j]).astype(np.int64).view(RING_DTYPE) << np.uint64(16 * (i + j))
            result = term if result is None else result + term
    assert result is not None
    return np.asarray(result)
