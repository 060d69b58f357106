"""Secure comparisons and what is built on them: where, maximum, minimum, abs, sign, clip and
tree reductions (max, argmax). A comparison is the suite's sign test (9 rounds for a whole array
with the additive suite, exact for |x - y| >= 2**-f)."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from ..errors import SecretValueError
from . import accuracy, scaling
from .bounds import Bound
from .core import SecretCore as SecretArray
from .core import align, as_secret
from .provenance import in_statistic


# ----- helpers ---------------------------------------------------------------------------------------
def secret_arg(x: Any) -> SecretArray:
    if not isinstance(x, SecretArray):
        raise SecretValueError("this smpc function needs a secret array")
    return x


def _bits(x: SecretArray, shares: Any) -> SecretArray:
    """A 0/1 integer secret from this party's shares of bits ([x < 0]): a new value of x's rows.
    Exact on x as stored; where x could be further from its exact value than a release of it
    may be, any bit could be the wrong one (error 1)."""
    bound = Bound.unit(np.ndim(shares))
    if accuracy.beyond_tolerance(x):
        bound = bound.with_error(np.ones((1,) * np.ndim(shares)))
    return x._new(shares, 0, bound=bound, prov=x._prov.mapped("ltz").with_degree(0))


def less_than_zero(x: SecretArray) -> SecretArray:
    """[x < 0] as a secret 0/1 integer array. 9 rounds."""
    return stacked_signs([x])[0]


def stacked_signs(parts: list[SecretArray], magnitude_bits: int | None = None) -> list[SecretArray]:
    """[p < 0] for several same-shape secrets in one comparison batch (9 rounds in all).

    ``magnitude_bits``: a known bound |p| < 2**magnitude_bits on the values (not encoded) makes
    the comparison cheaper; beyond it the answer is wrong, so pass it only for bounded inputs."""
    parts = align(list(parts), "a comparison")
    ctx, scale, limit = parts[0]._ctx, parts[0]._scale, parts[0]._limit_bits()
    for p in parts:
        scaling.require_fit("a comparison", p._bound, scale, limit)
    stacked = np.stack([p._share for p in parts])
    # the public bounds say how many bits the comparison must look at
    encoded = max(scaling.encoded_magnitude(p._bound, scale) for p in parts)
    bits = min(limit, math.floor(math.log2(encoded)) + 2) if encoded >= 1 else 1
    if magnitude_bits is not None:
        bits = min(bits, magnitude_bits + scale)
    out = ctx.suite.ltz(ctx, stacked, bits=bits)
    return [_bits(parts[i], out[i]) for i in range(len(parts))]


def compare_values(a: Any, b: Any, op: str) -> SecretArray:
    """Elementwise a OP b for secrets and public values; a secret 0/1 integer array. Compared
    rows are a secret selection of those rows (see :mod:`.provenance`)."""
    return indicator(secret_arg(_compared(a, b, op)))


class _Serial(threading.local):
    """Numbers selections in the order they are made (the same at every party): a statistic
    drops the ones it made itself, which its declared rules cover (smpc_magic.stats.disclosure).
    Per thread: in-memory parties are threads of one process, each with its own count."""

    value = 0


_SERIAL = _Serial()


def next_serial() -> int:
    """The number the next selection will get."""
    return _SERIAL.value


def soft_indicator(out: SecretArray, row_data: SecretArray, what: str) -> SecretArray:
    """``out``, a nonlinear function of ``row_data`` (np.exp, a sigmoid, a reciprocal, a power),
    marked as a soft selection of its rows: its values rescaled to [0, 1] over their public bound
    are a weight per row, and a sum over ``out`` is checked like a sum over a comparison, except
    that no weight near 0 is exempt: the weights must add up to ``min_rows`` rows, in it and out
    of it. A steep function picks rows as a comparison does (``x * sigmoid(3 * (x - 94))``
    summed is about the one value above 94; ``1 / (x - 17.999)`` is about the rows at 18), and
    this is how the engine sees it. Outside statistics only; of row-level data only."""
    if in_statistic() or not row_data._prov.is_row_level() or row_data._prov.untracked or not out.size:
        return out
    lo, hi = float(out._bound.lo.min()), float(out._bound.hi.max())
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo <= 0:
        return out
    shifted, span = out - lo, hi - lo
    if span > 2.0**16:  # (a wide range: a whole power of two first, so the scale stays in the ring)
        power = min(40, math.floor(math.log2(span)) - 4)
        shifted, span = shifted._div_by_public(np.asarray(float(2**power))), span / 2**power
    weight = shifted * (1.0 / span)
    snapshot = weight._new(weight._share, bound=weight._bound, scale=weight._scale)
    snapshot._serial = _SERIAL.value  # type: ignore[attr-defined]
    snapshot._soft = what  # type: ignore[attr-defined]
    # the values themselves at their own precision, for the rule that needs no bound
    snapshot._raw = out._new(out._share, bound=out._bound)  # type: ignore[attr-defined]
    _SERIAL.value += 1
    out._prov = out._prov.as_indicator(snapshot).with_degree(1)  # (its steepness is checked here)
    return out


def indicator(x: SecretArray) -> SecretArray:
    """``x`` (0/1 values) marked as a secret selection of its rows: sums over it are subsets whose
    sizes the engine checks before a release."""
    if in_statistic():  # a statistic's own comparison: its declared rules cover it
        return x
    snapshot = x._new(x._share, bound=x._bound)
    snapshot._serial = _SERIAL.value  # type: ignore[attr-defined]
    _SERIAL.value += 1
    x._prov = x._prov.as_indicator(snapshot).with_degree(0)  # (a 0/1 factor makes no product steeper)
    return x


def _compared(a: Any, b: Any, op: str) -> Any:
    ref = a if isinstance(a, SecretArray) else b
    a, b = as_secret(ref, a), as_secret(ref, b)
    if op == "<":
        return less_than_zero(a - b)
    if op == ">":
        return less_than_zero(b - a)
    if op == "<=":
        return 1 - less_than_zero(b - a)
    if op == ">=":
        return 1 - less_than_zero(a - b)
    diff = a - b
    lt, gt = stacked_signs([diff, -diff])
    if op == "==":
        return 1 - lt - gt
    if op == "!=":
        return lt + gt
    raise ValueError(op)


def where(condition: Any, a: Any, b: Any) -> SecretArray:
    """Elementwise choice: a where condition is 1, b where 0. One product for a secret condition."""
    if isinstance(condition, SecretArray):
        ref = condition
        a, b = as_secret(ref, a), as_secret(ref, b)
        return secret_arg(b + condition * (a - b))._with_bound(a._bound.envelope(b._bound))
    ref = a if isinstance(a, SecretArray) else b
    a, b = align([as_secret(ref, a), as_secret(ref, b)], "smpc.where")
    mask = np.asarray(condition, dtype=bool)
    share = np.where(mask, a._share, b._share)
    prov = a._prov.choose(share.shape, mask, b._prov)
    return secret_arg(a._new(share, a._scale, bound=a._bound.choose(share.shape, mask, b._bound), prov=prov))


def maximum(a: Any, b: Any) -> SecretArray:
    """Elementwise maximum (11 rounds)."""
    return where(compare_values(a, b, "<"), b, a)


def minimum(a: Any, b: Any) -> SecretArray:
    """Elementwise minimum (11 rounds)."""
    return where(compare_values(a, b, "<"), a, b)


def absolute(x: SecretArray) -> SecretArray:
    """|x| (11 rounds)."""
    x = secret_arg(x)
    magnitudes = x._bound.magnitudes()
    return (x * (1 - 2 * indicator(less_than_zero(x))))._with_bound(Bound(np.zeros_like(magnitudes), magnitudes))


def sign(x: SecretArray) -> SecretArray:
    """-1, 0 or 1 as a secret integer array (9 rounds)."""
    x = secret_arg(x)
    neg, pos = (indicator(s) for s in stacked_signs([x, -x]))
    return pos - neg


def clip(x: SecretArray, lower: Any, upper: Any) -> SecretArray:
    """x limited to [lower, upper] (public bounds); 11 rounds."""
    x = secret_arg(x)
    below, above = (indicator(s) for s in stacked_signs([x - lower, upper - x]))
    clipped = secret_arg(x + below * (lower - x) + above * (upper - x))
    return clipped._with_bound(Bound.of(lower, upper, clipped.ndim))


def clip_below(x: SecretArray, lower: float) -> SecretArray:
    """max(x, lower) for a public lower bound (11 rounds)."""
    below = less_than_zero(x - lower)
    return (x + below * (lower - x))._with_bound(
        Bound(np.full_like(x._bound.lo, lower), np.maximum(x._bound.hi, lower))
    )


def _reduce(x: SecretArray, axis: Any, want_index: bool) -> Any:
    """Tree reduction for max/argmax along ``axis``: log2(n) levels of 11 rounds."""
    x = secret_arg(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    x = x.transpose(*[i for i in range(x.ndim) if i != axis % x.ndim], axis % x.ndim)
    n = x.shape[-1]
    if n == 0:
        raise ValueError("max of an empty secret array")
    index = as_secret(x, np.ascontiguousarray(np.broadcast_to(np.arange(n), x.shape)))
    while x.shape[-1] > 1:
        half = x.shape[-1] // 2
        a, b = x[..., : 2 * half : 2], x[..., 1 : 2 * half : 2]
        ia, ib = index[..., : 2 * half : 2], index[..., 1 : 2 * half : 2]
        # ties keep the first, as numpy does; of row-level values along another axis, a selection of rows
        take_b = indicator(less_than_zero(a - b))
        merged = where(take_b, b, a)
        merged_index = ia + take_b * (ib - ia) if want_index else ia  # integer x integer: exact
        if x.shape[-1] % 2:
            merged = secret_arg(np.concatenate([merged, x[..., -1:]], axis=-1))
            merged_index = secret_arg(np.concatenate([merged_index, index[..., -1:]], axis=-1))
        x, index = merged, merged_index
    if want_index:
        return index[..., 0]._with_bound(Bound.of(0, n - 1, index.ndim - 1))
    return x[..., 0]


def amax(x: SecretArray, axis: Any = None) -> SecretArray:
    """Largest value along ``axis``: ceil(log2 n) levels of one comparison and one product."""
    return secret_arg(_reduce(x, axis, want_index=False))


def amin(x: SecretArray, axis: Any = None) -> SecretArray:
    """Smallest value along ``axis`` (as max of -x)."""
    return secret_arg(-_reduce(-secret_arg(x), axis, want_index=False))


def argmax(x: SecretArray, axis: Any = None) -> SecretArray:
    """Index of the (first) largest value along ``axis``, as a secret integer."""
    return secret_arg(_reduce(x, axis, want_index=True))


def argmin(x: SecretArray, axis: Any = None) -> SecretArray:
    """Index of the (first) smallest value along ``axis``, as a secret integer."""
    return secret_arg(_reduce(-secret_arg(x), axis, want_index=True))
