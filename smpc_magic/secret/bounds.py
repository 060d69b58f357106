"""Public interval bounds on secret values: what every party knows about a secret's range.

Every secret array carries a :class:`Bound`, an interval [lo, hi] per element, derived only from
public facts: the study schema's ranges for inputs (or the encoding limit without one), public
constants, shapes and the function library's output ranges. Every operation propagates it, so
before anything is sent the engine knows whether a result fits the ring. Bounds never depend on
secret values, so every party computes the same ones and takes the same protocol path.

``lo`` and ``hi`` are float64 arrays with the secret's number of dimensions, each dimension
either 1 (the same bound along it, e.g. per column) or the secret's length: the bookkeeping
costs almost nothing next to the shares.

Beside the range, ``err`` bounds each element's absolute error: how far the stored value may be
from the exact result of the same operations on the inputs as declared. Encoding and every
truncation add to it (:meth:`Bound.widen`), sums and products carry it (a product's error is
|a| err_b + |b| err_a + err_a err_b), and each function of the library adds its stated accuracy
(:mod:`smpc_magic.secret.accuracy`); a statistic's values carry the accuracy it states, not an
interval estimate over its iterations. An error that is not a number counts as unbounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..protocols.base import Array

Shape = tuple[int, ...]


def _padded(values: Any, ndim: int) -> Array:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim > ndim:
        raise ValueError(f"a bound of {arr.ndim} dimensions for a secret of {ndim}")
    return arr.reshape((1,) * (ndim - arr.ndim) + arr.shape)


def _compact(arr: Array) -> Array:
    """Drop repeated copies along axes a broadcast made (stride 0): O(1), no data touched."""
    index = tuple(slice(0, 1) if n > 1 and s == 0 else slice(None) for n, s in zip(arr.shape, arr.strides))
    return arr[index] if arr.ndim else arr


def _compact_values(arr: Array) -> Array:
    """Collapse axes along which every value is equal (one pass over the array)."""
    for axis in range(arr.ndim):
        if arr.shape[axis] > 1:
            first = arr.take([0], axis=axis)
            if np.array_equal(arr, np.broadcast_to(first, arr.shape)):
                arr = first
    return arr


@dataclass(frozen=True)
class Bound:
    """lo <= value <= hi elementwise, and |value - exact| <= err (compact arrays broadcastable
    to the secret's shape)."""

    lo: Array
    hi: Array
    err: Array = None  # type: ignore[assignment]  # zeros when not given

    def __post_init__(self) -> None:
        ndim = int(np.ndim(self.lo))
        if self.err is None:
            object.__setattr__(self, "err", np.zeros((1,) * ndim))
        else:
            object.__setattr__(self, "err", _padded(self.err, max(ndim, int(np.ndim(self.err)))))

    @classmethod
    def of(cls, lo: Any, hi: Any, ndim: int) -> Bound:
        return cls(_padded(lo, ndim), _padded(hi, ndim))

    def with_error(self, err: Any) -> Bound:
        """The same range with the absolute error bound ``err`` (compact, broadcastable)."""
        return Bound(self.lo, self.hi, _padded(err, max(self.ndim, int(np.ndim(err)))))

    def error(self) -> float:
        """The largest absolute error of any element (NaN where an unbounded error met a 0)."""
        if not self.err.size:
            return 0.0
        return float(np.max(self.err))

    @classmethod
    def symmetric(cls, magnitude: Any, ndim: int) -> Bound:
        m = np.abs(_padded(magnitude, ndim))
        return cls(-m, m)

    @classmethod
    def unit(cls, ndim: int) -> Bound:
        """0/1 values: comparison results, indicators."""
        return cls.of(0.0, 1.0, ndim)

    @classmethod
    def of_values(cls, values: Array) -> Bound:
        """The exact range of public values (constants are public, so this reveals nothing)."""
        arr = np.asarray(values, dtype=np.float64)
        return cls(_compact_values(arr.copy()), _compact_values(arr.copy()))

    # ----- summaries ----------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return int(self.lo.ndim)

    def magnitudes(self) -> Array:
        """Elementwise max |value| (compact)."""
        return np.maximum(np.abs(self.lo), np.abs(self.hi))

    def magnitude(self) -> float:
        """The largest |value| any element may have."""
        return float(self.magnitudes().max()) if self.lo.size else 0.0

    def excludes_zero(self) -> bool:
        return bool(self.lo.size == 0 or np.all((self.lo > 0) | (self.hi < 0)))

    def smallest_magnitude(self) -> float:
        """A lower bound on |value| over all elements (0 when some interval contains 0)."""
        if not self.excludes_zero():
            return 0.0
        low = np.where(self.lo > 0, self.lo, -self.hi)
        return float(low.min()) if low.size else 0.0

    # ----- arithmetic ---------------------------------------------------------------------------
    def __neg__(self) -> Bound:
        return Bound(-self.hi, -self.lo, self.err)

    def __add__(self, other: Bound) -> Bound:
        return Bound(self.lo + other.lo, self.hi + other.hi, self.err + other.err)

    def __mul__(self, other: Bound) -> Bound:
        # lo and hi may be compacted differently (one per column, the other per element)
        products = np.broadcast_arrays(self.lo * other.lo, self.lo * other.hi, self.hi * other.lo, self.hi * other.hi)
        return Bound(np.minimum.reduce(products), np.maximum.reduce(products), _product_error(self, other))

    def square(self) -> Bound:
        """x * x for the same x: never negative."""
        low = np.where((self.lo <= 0) & (self.hi >= 0), 0.0, np.minimum(self.lo**2, self.hi**2))
        return Bound(low, np.maximum(self.lo**2, self.hi**2), _product_error(self, self))

    def times_public(self, public: Array) -> Bound:
        p = _padded(public, max(self.ndim, np.ndim(public)))
        lo = _padded(self.lo, p.ndim)
        hi = _padded(self.hi, p.ndim)
        with np.errstate(invalid="ignore", over="ignore"):
            err = _padded(self.err, p.ndim) * np.abs(p)
        return Bound(np.minimum(lo * p, hi * p), np.maximum(lo * p, hi * p), err)

    def widen(self, amount: float) -> Bound:
        """Room for rounding: a truncation moves a value by at most ``amount`` (its error too)."""
        return Bound(self.lo - amount, self.hi + amount, self.err + amount)

    def envelope(self, other: Bound) -> Bound:
        return Bound(np.minimum(self.lo, other.lo), np.maximum(self.hi, other.hi), np.maximum(self.err, other.err))

    def sum(self, shape: Shape, axis: Any, keepdims: bool) -> Bound:
        axes = tuple(range(len(shape))) if axis is None else tuple(a % len(shape) for a in np.atleast_1d(axis))
        parts = [self.lo, self.hi, self.err]
        for ax in axes:  # lo and hi may be compacted differently
            parts = [p * shape[ax] if p.shape[ax] == 1 else p.sum(axis=ax, keepdims=True) for p in parts]
        if not keepdims:
            parts = [p.squeeze(axis=axes) for p in parts]
        return Bound(*parts)

    def matmul(self, other: Any, a_shape: Shape, b_shape: Shape) -> Bound:
        """|A @ B| <= |A| @ |B| elementwise; ``other`` is a Bound or a public array. The error:
        |A| @ err_B + err_A @ |B| + err_A @ err_B."""
        if isinstance(other, Bound):
            mb, eb = other.magnitudes(), other.err
        else:
            mb, eb = np.abs(np.asarray(other, dtype=np.float64)), np.zeros((1,) * np.ndim(other))
        out = matmul_bound(self.magnitudes(), mb, a_shape, b_shape)
        return out.with_error(matmul_error(self.magnitudes(), self.err, mb, eb, a_shape, b_shape))

    # ----- structure ----------------------------------------------------------------------------
    def full(self, shape: Shape) -> tuple[Array, Array]:
        return np.broadcast_to(self.lo, shape), np.broadcast_to(self.hi, shape)

    def _parts(self, shape: Shape) -> list[Array]:
        return [np.broadcast_to(p, shape) for p in (self.lo, self.hi, self.err)]

    def index(self, shape: Shape, index: Any) -> Bound:
        return Bound(*(_compact(np.asarray(p[index])) for p in self._parts(shape)))

    def reshape(self, shape: Shape, new_shape: Shape) -> Bound:
        ndim = len(new_shape)
        if self.lo.size == 1 and self.hi.size == 1 and self.err.size == 1:
            return Bound(*(p.reshape((1,) * ndim) for p in (self.lo, self.hi, self.err)))
        return Bound(*(_compact_values(p.reshape(new_shape)) for p in self._parts(shape)))

    def transpose(self, axes: Sequence[int] | None = None) -> Bound:
        return Bound(self.lo.transpose(axes), self.hi.transpose(axes), self.err.transpose(axes))

    def expand_dims(self, axis: int) -> Bound:
        return Bound(*(np.expand_dims(p, axis) for p in (self.lo, self.hi, self.err)))

    def squeeze(self, shape: Shape, axis: Any) -> Bound:
        axes = tuple(i for i, n in enumerate(shape) if n == 1) if axis is None else axis
        return Bound(*(p.squeeze(axis=axes) for p in (self.lo, self.hi, self.err)))

    def assign(self, shape: Shape, index: Any, value: Bound) -> Bound:
        parts = [np.array(p) for p in self._parts(shape)]
        for part, new in zip(parts, (value.lo, value.hi, value.err)):
            part[index] = new
        return Bound(*(_compact_values(p) for p in parts))

    def choose(self, shape: Shape, mask: Array, other: Bound) -> Bound:
        """Where ``mask`` (public) is true, this bound; elsewhere ``other``'s."""
        mine, theirs = self._parts(shape), other._parts(shape)
        return Bound(*(_compact_values(np.where(mask, a, b)) for a, b in zip(mine, theirs)))


def combine(numpy_func: Any, bounds: Sequence[Bound], shapes: Sequence[Shape], **kwargs: Any) -> Bound:
    """The bound of ``numpy_func(parts)`` for a structural function (concatenate, stack, ...)."""
    if all(b.lo.size == 1 and b.hi.size == 1 and b.err.size == 1 for b in bounds):
        los = {float(b.lo.reshape(-1)[0]) for b in bounds}
        his = {float(b.hi.reshape(-1)[0]) for b in bounds}
        errs = {float(b.err.reshape(-1)[0]) for b in bounds}
        if len(los) == 1 and len(his) == 1 and len(errs) == 1:
            ndim = np.ndim(numpy_func([np.zeros((1,) * len(s)) for s in shapes], **kwargs))
            return Bound.of(los.pop(), his.pop(), ndim).with_error(np.full((1,) * ndim, errs.pop()))
    parts = [
        numpy_func([np.broadcast_to(getattr(b, name), s) for b, s in zip(bounds, shapes)], **kwargs)
        for name in ("lo", "hi", "err")
    ]
    return Bound(*(_compact_values(np.asarray(p)) for p in parts))


def _product_error(a: Bound, b: Bound) -> Array:
    """|a| err_b + |b| err_a + err_a err_b: how far a product of two inexact values may move."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.asarray(a.magnitudes() * b.err + b.magnitudes() * a.err + a.err * b.err)


def matmul_error(ma: Array, ea: Array, mb: Array, eb: Array, a_shape: Shape, b_shape: Shape) -> Array:
    """The error bound of A @ B from compact magnitudes and errors of A and B."""
    with np.errstate(invalid="ignore", over="ignore"):
        if not np.any(ea) and not np.any(eb):  # NaN counts as any
            return np.zeros((1,) * _matmul_ndim(a_shape, b_shape))
        return (
            _magnitude_matmul(ma, eb, a_shape, b_shape)
            + _magnitude_matmul(ea, mb, a_shape, b_shape)
            + _magnitude_matmul(ea, eb, a_shape, b_shape)
        )


def matmul_bound(ma: Array, mb: Array, a_shape: Shape, b_shape: Shape) -> Bound:
    """The bound of A @ B from elementwise magnitude bounds of A and B."""
    return Bound.symmetric(_magnitude_matmul(ma, mb, a_shape, b_shape), _matmul_ndim(a_shape, b_shape))


def _matmul_ndim(a_shape: Shape, b_shape: Shape) -> int:
    if len(a_shape) == 1 and len(b_shape) == 1:
        return 0
    if len(a_shape) == 1 or len(b_shape) == 1:
        return max(len(a_shape), len(b_shape)) - 1
    return max(len(a_shape), len(b_shape))


def _magnitude_matmul(ma: Array, mb: Array, a_shape: Shape, b_shape: Shape) -> Array:
    """|A| @ |B| on compact magnitudes, expanding only the summed dimension."""
    ma = _padded(ma, len(a_shape))
    mb = _padded(mb, len(b_shape))
    k = a_shape[-1]
    a_vector, b_vector = len(a_shape) == 1, len(b_shape) == 1
    if a_vector:
        ma = ma.reshape(1, -1)
    if b_vector:
        mb = mb.reshape(-1, 1)
    if ma.shape[-1] == 1 and mb.shape[-2] == 1:
        out = np.matmul(ma, mb) * k
    else:
        ma = np.broadcast_to(ma, ma.shape[:-1] + (k,))
        mb = np.broadcast_to(mb, mb.shape[:-2] + (k,) + mb.shape[-1:])
        out = np.matmul(ma, mb)
    if a_vector:
        out = out[..., 0, :]
    if b_vector:
        out = out[..., 0]
    return np.asarray(out, dtype=np.float64)
