"""Fixed-point encoding shared by every protocol: a value v at ``scale`` s is the integer
round(v * 2**s) (s = 0 for exact integers), kept below 2**62 in magnitude so that truncation and
comparison stay exact. Suites map these int64 encodings into their own ring or field.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import EncodingError

Array = npt.NDArray[Any]
#: Encoded magnitudes the truncation and comparison protocols accept: |x| < 2**62.
LIMIT_BITS = 62
ENCODED_LIMIT = 1 << LIMIT_BITS
DEFAULT_FRAC_BITS = 16


def max_fixed_magnitude(frac_bits: int) -> float:
    """Largest |value| a fixed-point input may have with ``frac_bits`` fractional bits."""
    return float(ENCODED_LIMIT >> frac_bits)


def is_integer_valued(values: Array) -> bool:
    """True for arrays that are stored exactly as integers (bool and integer dtypes)."""
    return values.dtype.kind in "biu"


def encode(values: Any, frac_bits: int, what: str = "value") -> tuple[Array, int]:
    """Encode numbers as int64; returns (int64 array, scale).

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
        return as_int, 0
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
    return np.rint(arr * float(1 << frac_bits)).astype(np.int64), frac_bits


def encode_public(values: Any, scale: int) -> Array:
    """A public number (or array) at ``scale`` as int64."""
    arr = np.asarray(values)
    if arr.dtype.kind in "biu" and scale == 0:
        return arr.astype(np.int64)
    arr = arr.astype(np.float64)
    if arr.size and not np.isfinite(arr).all():
        raise EncodingError("a public value is NaN or infinite")
    scaled = arr * 2.0**scale
    if arr.size and float(np.abs(scaled).max()) >= ENCODED_LIMIT:
        raise EncodingError(
            f"a public value of magnitude {float(np.abs(arr).max()):.4g} is too large for fixed point "
            f"with {scale} fractional bits"
        )
    return np.rint(scaled).astype(np.int64)


def decode(signed: Array, scale: int) -> Array:
    """Signed encodings back to numbers: int64 for scale 0, float64 otherwise."""
    signed = np.asarray(signed, dtype=np.int64)
    if scale == 0:
        return signed.copy()
    return signed.astype(np.float64) / float(1 << scale)
