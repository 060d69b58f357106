"""Tools for numerical algorithms built on secret arrays (the statistics library): a working
precision finer than the session's, exact scaling by public powers of two, and bounds that an
algorithm proves (or checks) rather than derives operation by operation.

Interval bounds grow with every step of an iteration (Newton–Schulz, Newton's method), even
when the iterates converge; an algorithm that knows a mathematical bound on its iterates states
it with :func:`claim_bound`, and checks its result before releasing anything that relies on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

from .bounds import Bound
from .core import SecretCore

S = TypeVar("S", bound=SecretCore)


@contextmanager
def working_precision(x: SecretCore, frac_bits: int) -> Iterator[None]:
    """Products inside the block keep ``frac_bits`` fractional bits (every party runs the
    same program, so every party switches at the same point)."""
    ctx = x._ctx
    saved = ctx.frac_bits
    ctx.frac_bits = int(frac_bits)
    try:
        yield
    finally:
        ctx.frac_bits = saved


def frac_bits_of(x: SecretCore) -> int:
    """The precision products of ``x`` are truncated to (the session's, or the working one)."""
    return int(x._ctx.frac_bits)


def scale_of(x: SecretCore) -> int:
    return x._scale


def at_scale(x: S, scale: int) -> S:
    """``x`` with exactly ``scale`` fractional bits: exact when finer, one truncation when coarser."""
    if scale < x._scale:
        return x._truncated(x._scale - scale)
    return x._new(x._at_scale(scale), scale, bound=x._bound)


def times_power_of_two(x: Any, exponent: int) -> Any:
    """``x * 2**exponent`` for a public whole exponent, exactly and without communication: the
    stored integers stay, only the number of fractional bits changes (or, when that would go
    below 0, the integers are multiplied by a public power of two)."""
    k = int(exponent)
    bound = x._bound.times_public(np.asarray(2.0**k))
    if x._scale - k >= 0:
        return x._new(x._share, x._scale - k, bound=bound, prov=x._prov.mapped(f"pow2:{k}"))
    shifted = x._at_scale(k)  # the integers times 2**(k - scale), checked against the limit
    return x._new(shifted, 0, bound=bound, prov=x._prov.mapped(f"pow2:{k}"))


def claim_bound(x: Any, lo: Any, hi: Any) -> Any:
    """``x`` with the bound [lo, hi] an algorithm proved mathematically (intersected with the
    derived one). The caller checks its result before anything that relies on it is released."""
    return x._with_bound(Bound.of(lo, hi, x.ndim))


def public_bound(x: SecretCore) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) broadcast to ``x``'s shape."""
    lo, hi = x._bound.full(x.shape)
    return np.asarray(lo), np.asarray(hi)


def undeclared(x: SecretCore) -> bool:
    """Whether ``x``'s public bound is about what the encoding holds: no range was declared for
    the inputs it comes from (the engine's bound for such an input, halved)."""
    limit = x._ctx.suite.codec.max_magnitude(x._scale) / (4 if x._scale == 0 else 1)
    return bool(x._bound.magnitude() >= limit / 2)


def known_product(a: Any, b: Any, lo: float, hi: float, operation: str) -> Any:
    """a * b (elementwise) when the algorithm knows the product lies in [lo, hi]: the product is
    then taken at full precision whenever that bound fits, not the looser one of a's times b's."""
    bound = Bound.of(lo, hi, max(a.ndim, b.ndim))
    return a._product(b, operation, lambda x, y: bound, lambda ctx, u, v: ctx.suite.mul(ctx, u, v))


def known_matmul(a: Any, b: Any, lo: float, hi: float, operation: str) -> Any:
    """a @ b when the algorithm knows every entry of the product lies in [lo, hi]."""
    ndim = 1 if min(a.ndim, b.ndim) == 1 else 2
    bound = Bound.of(lo, hi, ndim)
    prov = a._prov.matmul(b._prov, a.shape, b.shape, salt=a._ctx.next_serial())
    return a._product(b, operation, lambda x, y: bound, lambda ctx, u, v: ctx.suite.matmul(ctx, u, v), prov=prov)
