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
