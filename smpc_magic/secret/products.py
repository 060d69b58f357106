"""Products with public values, and bringing secrets to one scale: the parts of the secret
arithmetic that decide, from public bounds, how many fractional bits an operand keeps."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ..errors import EncodingError
from ..protocols.base import Array
from ..protocols.context import ProtocolContext
from . import scaling
from .bounds import Bound, matmul_bound, matmul_error

if TYPE_CHECKING:
    from .core import SecretCore

S = TypeVar("S", bound="SecretCore")

#: Significant bits kept when a secret is multiplied by a small public non-integer.
PUBLIC_MANTISSA_BITS = 20


def integral_dtype(arr: Array) -> bool:
    return arr.dtype.kind in "biu"


def _square_bound(a: SecretCore, b: SecretCore) -> Bound:
    return a._bound.square() if a is b else a._bound * b._bound


def _multiply(ctx: ProtocolContext, a: Array, b: Array) -> Array:
    return ctx.suite.mul(ctx, a, b)


def public_exponent(plain: Array, force_fixed: bool, frac_bits: int, limit_bits: int) -> int:
    """Fractional bits for a public multiplier: 0 for integers, else enough significant bits."""
    if integral_dtype(plain) and not force_fixed:
        return 0
    values = plain.astype(np.float64)
    if not np.isfinite(values).all():
        raise EncodingError("a public multiplier or divisor is NaN or infinite")
    biggest = float(np.abs(values).max()) if values.size else 0.0
    exponent = frac_bits
    if 0 < biggest < 2.0 ** (PUBLIC_MANTISSA_BITS - frac_bits):
        exponent = min(PUBLIC_MANTISSA_BITS - math.floor(math.log2(biggest)), limit_bits - frac_bits)
    if biggest * 2.0**exponent >= 2.0**limit_bits:
        raise EncodingError(f"a public multiplier of magnitude {biggest:.3g} is too large for fixed point")
    return exponent


def _public_product(x: S, plain: Array, force_fixed: bool, operation: str, left: bool | None) -> S:
    """x * p (``left`` None), x @ p or p @ x for a public p, truncated back to frac_bits."""
    ctx = x._ctx
    codec, suite, limit = ctx.suite.codec, ctx.suite, ctx.suite.codec.limit_bits
    exponent = public_exponent(plain, force_fixed, ctx.frac_bits, limit)
    values = plain if exponent == 0 and integral_dtype(plain) else plain.astype(np.float64)

    def bound_of(secret: SecretCore, public: Array) -> Bound:
        if left is None:
            return secret._bound.times_public(public)
        if left:
            return matmul_bound(np.abs(public), secret._bound.magnitudes(), public.shape, secret.shape)
        return matmul_bound(secret._bound.magnitudes(), np.abs(public), secret.shape, public.shape)

    def error_of(secret: SecretCore, public: Array) -> Array:
        """The secret's error carried through the public factor as encoded, plus the secret's
        size times how far the encoding moved the factor."""
        mx, ex = secret._bound.magnitudes(), secret._bound.err
        moved = np.abs(values.astype(np.float64) - public)
        if left is None:
            with np.errstate(invalid="ignore", over="ignore"):
                carried = secret._bound.times_public(public).err
                return carried + Bound.symmetric(mx + ex, secret.ndim).times_public(moved).hi
        if left:
            return matmul_error(np.abs(public), moved, mx, ex, public.shape, secret.shape)
        return matmul_error(mx, ex, np.abs(public), moved, secret.shape, public.shape)

    bound = bound_of(x, values.astype(np.float64))
    drop = scaling.bits_to_drop(bound, x._scale + exponent, limit)
    if drop:
        magnitude = float(np.abs(values).max()) if values.size else 0.0
        split = scaling.split_drop(drop, (x._scale, exponent), (x._bound.magnitude(), magnitude), True)
        if split is None:
            raise scaling.overflow(operation, bound, x._scale + exponent, limit)
        x, exponent = x._truncated(split[0]), exponent - split[1]
    encoded = codec.encode_public(values, exponent)
    decoded = codec.decode(encoded, exponent).astype(np.float64)
    bound = bound_of(x, decoded)
    bound = bound.with_error(error_of(x, decoded))
    if left is None:
        share = suite.mul_public(x._share, encoded)
    else:
        share = suite.matmul_public(x._share, encoded, public_on_left=left)
    scale = x._scale + exponent
    scaling.require_fit(operation, bound, scale, limit)
    target = 0 if scale == 0 else ctx.frac_bits
    salt = ctx.next_serial()
    prov = x._prov.times_public(plain) if left is None else x._prov.matmul_public(plain, x.shape, bool(left), salt)
    if scale <= target:
        return x._new(share, scale, bound=bound, prov=prov)
    share = suite.div_public(ctx, share, 1 << (scale - target))
    return x._new(share, target, bound=bound.widen(2.0**-target), prov=prov)


def align(arrays: list[S], operation: str, result: Bound | None = None) -> list[S]:
    """The arrays at one scale: the finest of theirs at which they (and ``result``, the bound of
    what is computed from them) fit, truncating the finer ones when the finest does not."""
    limit = arrays[0]._limit_bits()
    scale = max(a._scale for a in arrays)
    bounds = [a._bound for a in arrays] + ([result] if result is not None else [])
    drop = max(scaling.bits_to_drop(b, scale, limit) for b in bounds)
    if drop > scale:
        worst = max(bounds, key=lambda b: b.magnitude())
        raise scaling.overflow(operation, worst, scale, limit)
    target = scale - drop
    out = []
    for a in arrays:
        a = a._truncated(a._scale - target) if a._scale > target else a
        out.append(a if a._scale == target else a._new(a._at_scale(target, operation), target, bound=a._bound))
    return out
