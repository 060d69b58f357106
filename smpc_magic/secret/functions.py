"""Non-linear functions on secret arrays, as arithmetic circuits over the suite's primitives.

Reciprocal, square root, exp and log first find
the power of two of the input with one batch of comparisons against public thresholds, scale
the input into [1, 2) (exact: one product and one truncation), apply Newton-Raphson or a
polynomial on that short interval, and scale back with public weights. Ranges and errors (at the
default 16 fractional bits; "ulp" = 2**-16) are stated per function; rounds count openings.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .compare import amax, clip_below, secret_arg, stacked_signs
from .core import SecretCore as SecretArray
from .core import as_secret

#: Extra fractional bits of the public weights that undo the scaling (powers of two below 2**-16).
WEIGHT_BITS = 12


# ----- scaling into [1, 2) -----------------------------------------------------------------------------
def _power_of_two_buckets(x: SecretArray, low: int, high: int, signed: bool) -> Any:
    """One-hot secret buckets of floor(log2 |x|) for exponents low..high (one comparison batch).

    Returns (positive one-hots, negative one-hots or None) as lists of secret 0/1 arrays. Values
    with |x| < 2**low fall in no bucket; values >= 2**(high+1) fall in the top one.
    """
    exps = list(range(low, high + 1))
    parts = [x - 2.0**e for e in exps]  # [x < 2**e]
    if signed:
        parts += [-x - 2.0**e for e in exps]  # [-x < 2**e]
    # inside the documented range |x| < 2**(high + 1), so |x -+ 2**e| < 2**(high + 2)
    below = stacked_signs(parts, magnitude_bits=high + 2)
    ge = [1 - b for b in below[: len(exps)]]
    pos = [ge[i] - ge[i + 1] for i in range(len(exps) - 1)] + [ge[-1]]
    neg = None
    if signed:
        le = [1 - b for b in below[len(exps) :]]
        neg = [le[i] - le[i + 1] for i in range(len(exps) - 1)] + [le[-1]]
    return exps, pos, neg


def _weighted(
    onehots: list[SecretArray], weights: list[float], extra_bits: int = WEIGHT_BITS, scale: int | None = None
) -> SecretArray:
    """sum_k onehot_k * w_k for public weights, at frac_bits + extra_bits (local, no rounds)."""
    ref = onehots[0]
    suite = ref._ctx.suite
    scale = ref._ctx.frac_bits + extra_bits if scale is None else scale
    stacked = np.stack([bit._share for bit in onehots])
    encoded = suite.codec.encode_public(np.asarray(weights, dtype=np.float64) * 2.0**scale, 0)
    encoded = encoded.reshape((len(weights),) + (1,) * (stacked.ndim - 1))
    return ref._new(suite.sum(suite.mul_public(stacked, encoded), axis=0), scale)


def _normalise(x: SecretArray, low: int, high: int, signed: bool) -> Any:
    """z = |x| / 2**floor(log2|x|) in [1, 2), and the buckets (9 + 2 rounds)."""
    exps, pos, neg = _power_of_two_buckets(x, low, high, signed)
    top = high
    factor = _weighted(pos, [2.0 ** (top - e) for e in exps], scale=0)  # integer weights
    if signed:
        factor = factor - _weighted(neg, [2.0 ** (top - e) for e in exps], scale=0)
    scaled = x * factor  # |x| * 2**(top - e), exact
    z = scaled / (2**top)  # one truncation by a power of two
    return z, exps, pos, neg


def _horner(z: SecretArray, coefficients: list[float]) -> SecretArray:
    """c0 + c1 z + ... by Horner's rule: one product (2 rounds) per degree."""
    result = as_secret(z, np.full(z.shape, coefficients[-1]))
    for c in reversed(coefficients[:-1]):
        result = result * z + c
    return result


def _fit(fn: Any, lo: float, hi: float, degree: int) -> list[float]:
    """Power-basis coefficients of a Chebyshev least-squares fit (public constants)."""
    nodes = np.cos(np.linspace(0, np.pi, 200)) * (hi - lo) / 2 + (hi + lo) / 2
    series = np.polynomial.Chebyshev.fit(nodes, fn(nodes), degree, domain=[lo, hi])
    return list(series.convert(kind=np.polynomial.Polynomial).coef)


_EXP_SMALL = _fit(np.exp, -2.0, 0.7, 9)
EXP_SQUARINGS = 4
_LOG1P = _fit(np.log1p, 0.0, 1.0, 9)


def _reciprocal_unit(z: SecretArray, iterations: int = 2) -> SecretArray:
    """1/z for z in [1, 2]: linear start (error 1/17) and Newton-Raphson, 4 rounds per iteration.

    Two iterations leave a relative error of 1.2e-5, below the fixed-point rounding."""
    y = 24.0 / 17.0 - (8.0 / 17.0) * z
    for _ in range(iterations):
        y = y * (2 - z * y)
    return y


# ----- functions ---------------------------------------------------------------------------------------
RECIPROCAL_RANGE = (-7, 20)
ROOT_RANGE = (-10, 20)
LOG_RANGE = (-7, 20)


def _reciprocal_parts(x: SecretArray) -> Any:
    """(1/z, 2**-e weight, sign) with 1/x = sign * weight / z and z in [1, 2)."""
    low, high = RECIPROCAL_RANGE
    signs = 1 - 2 * stacked_signs([x], magnitude_bits=high + 1)[0]  # |x| < 2**(high+1) in range
    z, exps, pos, _ = _normalise(x * signs, low, high, signed=False)
    # 2**-e >= 2**-14 is exact at 16 fractional bits: no extra weight bits, so a / b may reach 2**30
    extra = max(0, high - x._ctx.frac_bits)
    return _reciprocal_unit(z), _weighted(pos, [2.0**-e for e in exps], extra_bits=extra), signs


def reciprocal(x: SecretArray) -> SecretArray:
    """1/x for 2**-7 <= |x| < 2**21 (about 0.008 to 2e6), either sign.

    The sign first (one comparison), then one comparison batch against 2**e on |x| finds its
    power of two; the scaled value z in [1, 2) gets two Newton-Raphson steps from a linear start
    (error 1/17 -> 3.5e-3 -> 1.2e-5). Error below 2e-5 relative plus 2 ulp on the range (tests:
    1e-3 relative or 4 ulp on |x| in [1e-2, 1e4]); |x| below 2**-7 gives 0.
    Rounds: 9 + 2 (sign, |x|) + 9 + 2 (scaling) + 8 (Newton-Raphson) + 2 + 2 (scale back, sign) = 34.
    """
    inv, weight, signs = _reciprocal_parts(secret_arg(x))
    return secret_arg((inv * weight) * signs)


def divide(a: Any, b: Any) -> SecretArray:
    """a / b for a secret b (range of b as :func:`reciprocal`, |a| < 2**26): (a * sign / z) * 2**-e.

    Multiplying a by 1/z in [0.5, 1] before the power of two keeps the relative precision of
    1/z, so large a over large b stays within 1e-3 relative (or 4 ulp). 36 rounds.
    """
    inv, weight, signs = _reciprocal_parts(secret_arg(b))
    return secret_arg(((a * signs) * inv) * weight)


def _rsqrt_parts(x: SecretArray) -> Any:
    """(z in [1, 2), 1/sqrt(z), buckets): Newton-Raphson y <- y (1.5 - z/2 y^2), 3 steps."""
    low, high = ROOT_RANGE
    z, exps, pos, _ = _normalise(secret_arg(x), low, high, signed=False)
    half = z * 0.5
    y = 1.2929 - 0.2929 * z
    for _ in range(3):
        y = y * (1.5 - half * (y * y))
    return z, y, exps, pos


def rsqrt(x: SecretArray) -> SecretArray:
    """1/sqrt(x) for 2**-10 <= x < 2**21 (about 1e-3 to 2e6), x > 0.

    Newton-Raphson from a linear start on [1, 2); error below 1e-5 relative plus 2 ulp.
    Rounds: 9 + 2 + 2 + 3 * 6 + 2 = 33.
    """
    _, y, exps, pos = _rsqrt_parts(x)
    return secret_arg(y * _weighted(pos, [2.0 ** (-e / 2) for e in exps]))


def sqrt(x: SecretArray) -> SecretArray:
    """sqrt(x) for 2**-10 <= x < 2**21 (0 below): z * rsqrt(z) scaled back.

    Error at most 1e-5 relative plus 2 ulp on [1e-3, 1e6] against the input as stored (tests:
    1e-3 relative or 4 ulp). Against the unrounded input, storing x to 2**-17 adds
    2**-18 / x relative: the 1e-3 bound then holds for x >= 0.004 at 16 fractional bits
    (sqrt(0.001) is off by 3.5e-3); each extra fractional bit of the session halves it. 35 rounds.
    """
    z, y, exps, pos = _rsqrt_parts(x)
    return secret_arg((z * y) * _weighted(pos, [2.0 ** (e / 2) for e in exps]))


def _exp_by_squaring(x: SecretArray) -> SecretArray:
    """e**x = (e**(x/16))**16 with a degree-9 polynomial on [-2, 0.7]: valid for x in [-32, 11].

    No comparisons: 1 + 18 + 8 = 27 rounds. Rounding of the base (2**-17) grows 16-fold through
    the squarings: relative error below 5e-4.
    """
    v = x / (2**EXP_SQUARINGS)
    y = _horner(v, _EXP_SMALL)
    for _ in range(EXP_SQUARINGS):
        y = y * y
    return y


def exp(x: SecretArray) -> SecretArray:
    """e**x for x in [-10, 10].

    Relative error below 5e-4, or 2 ulp absolute for small results (e**-10 = 4.5e-5 is only
    3 ulp at 16 fractional bits: raise frac_bits for relative accuracy there). Outside
    [-32, 11] the result is wrong (no range check is made, to save the comparisons). 27 rounds.
    """
    return _exp_by_squaring(secret_arg(x))


def log(x: SecretArray) -> SecretArray:
    """Natural log for 2**-7 <= x < 2**21 (about 0.008 to 2e6), x > 0.

    ln x = k ln 2 + ln(z) with z in [1, 2) and a degree-9 polynomial of z - 1. Absolute error
    below 1e-4 on [1e-2, 1e6]. Rounds: 9 + 2 + 18 = 29.
    """
    x = secret_arg(x)
    low, high = LOG_RANGE
    z, exps, pos, _ = _normalise(x, low, high, signed=False)
    return _horner(z - 1, _LOG1P) + _weighted(pos, [e * math.log(2) for e in exps], extra_bits=0)


def sigmoid(x: SecretArray) -> SecretArray:
    """1 / (1 + e**-x) for any x (|x| beyond 32 is treated as 32: sigmoid(32) = 1 - 1.3e-14).

    Symmetry: s = 1/(1 + e**-|x|) with e**-|x| in (0, 1], so the reciprocal works on [1, 2]
    with Newton-Raphson and no scaling. One comparison batch finds the sign and clips |x| to 32.
    Absolute error below 5e-4 on [-30, 30]. Rounds: 9 + 2 + 2 + 27 + 8 + 2 = 50.
    """
    x = secret_arg(x)
    negative, below_top, above_bottom = stacked_signs([x, x - 32.0, -x - 32.0])
    beyond = 2 - below_top - above_bottom  # |x| >= 32
    magnitude = x * (1 - 2 * negative)
    magnitude = magnitude + beyond * (32.0 - magnitude)
    s = _reciprocal_unit(1 + _exp_by_squaring(-magnitude))
    return s + negative * (1 - 2 * s)


def tanh(x: SecretArray) -> SecretArray:
    """tanh x = 2 sigmoid(2x) - 1; absolute error below 2e-4. 52 rounds."""
    return 2 * sigmoid(secret_arg(x) * 2) - 1


def softmax(x: SecretArray, axis: int = -1) -> SecretArray:
    """exp(x - max) / sum along ``axis``; absolute error below 1e-3 per entry.

    Rounds: log2(n) * 11 (max) + 11 (clip at -32) + 27 (exp) + reciprocal of the sum + 2.
    """
    x = secret_arg(x)
    axis = axis % x.ndim
    top = amax(x, axis=axis)
    shifted = x - top.reshape(tuple(1 if i == axis else s for i, s in enumerate(x.shape)))
    shifted = clip_below(shifted, -32.0)
    e = _exp_by_squaring(shifted)
    total = e.sum(axis=axis, keepdims=True)
    return e * reciprocal(total)
