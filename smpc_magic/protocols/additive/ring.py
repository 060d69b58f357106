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

from .. import fixed_point
from ..base import Array, Codec
from ..fixed_point import DEFAULT_FRAC_BITS, ENCODED_LIMIT, LIMIT_BITS, is_integer_valued, max_fixed_magnitude

RING_DTYPE = np.dtype(np.uint64)
RING_BITS = 64
__all__ = ["DEFAULT_FRAC_BITS", "ENCODED_LIMIT", "LIMIT_BITS", "is_integer_valued", "max_fixed_magnitude"]

F = TypeVar("F", bound=Callable[..., Any])


def encode(values: Any, frac_bits: int, what: str = "value") -> tuple[Array, int]:
    """Encode numbers into ring elements; returns (uint64 array, scale) (see :mod:`..fixed_point`)."""
    signed, scale = fixed_point.encode(values, frac_bits, what)
    return signed.view(RING_DTYPE), scale


def decode(ring: Array, scale: int) -> Array:
    """Decode ring elements: int64 for scale 0, float64 otherwise."""
    return fixed_point.decode(np.asarray(ring, dtype=RING_DTYPE).view(np.int64), scale)


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
        return fixed_point.encode_public(values, scale).view(RING_DTYPE)

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
