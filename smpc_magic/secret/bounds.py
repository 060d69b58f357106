"""Public interval bounds on secret values: what every party knows about a secret's range.

Every secret array carries a :class:`Bound`, an interval [lo, hi] per element, derived only from
public facts: the study schema's ranges for inputs (or the encoding limit without one), public
constants, shapes and the function library's output ranges. Every operation propagates it, so
before anything is sent the engine knows whether a result fits the ring. Bounds never depend on
secret values, so every party computes the same ones and takes the same protocol path.

``lo`` and ``hi`` are float64 arrays with the secret's number of dimensions, each dimension
either 1 (the same bound along it, e.g. per column) or the secret's length: the bookkeeping
costs almost nothing next to the shares.
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
    """lo <= value <= hi elementwise (compact arrays broadcastable to the secret's shape)."""

    lo: Array
    hi: Array

    @classmethod
    def of(cls, lo: Any, hi: Any, ndim: int) -> Bound:
        return cls(_padded(lo, ndim), _padded(hi, ndim))

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
        return Bound(-self.hi, -self.lo)

    def __add__(self, other: Bound) -> Bound:
        return Bound(self.lo + other.lo, self.hi + other.hi)

    def __mul__(self, other: Bound) -> Bound:
        # lo and hi may be compacted differently (one per column, the other per element)
        products = np.broadcast_arrays(self.lo * other.lo, self.lo * other.hi, self.hi * other.lo, self.hi * other.hi)
        return Bound(np.minimum.reduce(products), np.maximum.reduce(products))

    def square(self) -> Bound:
        """x * x for the same x: never negative."""
        low = np.where((self.lo <= 0) & (self.hi >= 0), 0.0, np.minimum(self.lo**2, self.hi**2))
        return Bound(low, np.maximum(self.lo**2, self.hi**2))

    def times_public(self, public: Array) -> Bound:
        p = _padded(public, max(self.ndim, np.ndim(public)))
        lo = _padded(self.lo, p.ndim)
        hi = _padded(self.hi, p.ndim)
        return Bound(np.minimum(lo * p, hi * p), np.maximum(lo * p, hi * p))

    def widen(self, amount: float) -> Bound:
        """Room for rounding: a truncation moves a value by at most ``amount``."""
        return Bound(self.lo - amount, self.hi + amount)

    def envelope(self, other: Bound) -> Bound:
        return Bound(np.minimum(self.lo, other.lo), np.maximum(self.hi, other.hi))

    def sum(self, shape: Shape, axis: Any, keepdims: bool) -> Bound:
        axes = tuple(range(len(shape))) if axis is None else tuple(a % len(shape) for a in np.atleast_1d(axis))
        lo, hi = self.lo, self.hi
        for ax in axes:  # lo and hi may be compacted differently
            lo = lo * shape[ax] if lo.shape[ax] == 1 else lo.sum(axis=ax, keepdims=True)
            hi = hi * shape[ax] if hi.shape[ax] == 1 else hi.sum(axis=ax, keepdims=True)
        if not keepdims:
            lo, hi = lo.squeeze(axis=axes), hi.squeeze(axis=axes)
        return Bound(lo, hi)

    def matmul(self, other: Any, a_shape: Shape, b_shape: Shape) -> Bound:
        """|A @ B| <= |A| @ |B| elementwise; ``other`` is a Bound or a public array."""
        mb = other.magnitudes() if isinstance(other, Bound) else np.abs(np.asarray(other, dtype=np.float64))
        return matmul_bound(self.magnitudes(), mb, a_shape, b_shape)

    # ----- structure ----------------------------------------------------------------------------
    def full(self, shape: Shape) -> tuple[Array, Array]:
        return np.broadcast_to(self.lo, shape), np.broadcast_to(self.hi, shape)

    def index(self, shape: Shape, index: Any) -> Bound:
        lo, hi = self.full(shape)
        return Bound(_compact(np.asarray(lo[index])), _compact(np.asarray(hi[index])))

    def reshape(self, shape: Shape, new_shape: Shape) -> Bound:
        ndim = len(new_shape)
        if self.lo.size == 1 and self.hi.size == 1:
            return Bound(self.lo.reshape((1,) * ndim), self.hi.reshape((1,) * ndim))
        lo, hi = self.full(shape)
        return Bound(_compact_values(lo.reshape(new_shape)), _compact_values(hi.reshape(new_shape)))

    def transpose(self, axes: Sequence[int] | None = None) -> Bound:
        return Bound(self.lo.transpose(axes), self.hi.transpose(axes))

    def expand_dims(self, axis: int) -> Bound:
        return Bound(np.expand_dims(self.lo, axis), np.expand_dims(self.hi, axis))

    def squeeze(self, shape: Shape, axis: Any) -> Bound:
        axes = tuple(i for i, n in enumerate(shape) if n == 1) if axis is None else axis
        return Bound(self.lo.squeeze(axis=axes), self.hi.squeeze(axis=axes))

    def assign(self, shape: Shape, index: Any, value: Bound) -> Bound:
        lo, hi = (np.array(a) for a in self.full(shape))
        lo[index], hi[index] = value.lo, value.hi
        return Bound(_compact_values(lo), _compact_values(hi))

    def choose(self, shape: Shape, mask: Array, other: Bound) -> Bound:
        """Where ``mask`` (public) is true, this bound; elsewhere ``other``'s."""
        lo = np.where(mask, *(np.broadcast_to(b.lo, shape) for b in (self, other)))
        hi = np.where(mask, *(np.broadcast_to(b.hi, shape) for b in (self, other)))
        return Bound(_compact_values(lo), _compact_values(hi))


def combine(numpy_func: Any, bounds: Sequence[Bound], shapes: Sequence[Shape], **kwargs: Any) -> Bound:
    """The bound of ``numpy_func(parts)`` for a structural function (concatenate, stack, ...)."""
    if all(b.lo.size == 1 and b.hi.size == 1 for b in bounds):
        los = {float(b.lo.reshape(-1)[0]) for b in bounds}
        his = {float(b.hi.reshape(-1)[0]) for b in bounds}
        if len(los) == 1 and len(his) == 1:
            ndim = np.ndim(numpy_func([np.zeros((1,) * len(s)) for s in shapes], **kwargs))
            return Bound.of(los.pop(), his.pop(), ndim)
    lo = numpy_func([np.broadcast_to(b.lo, s) for b, s in zip(bounds, shapes)], **kwargs)
    hi = numpy_func([np.broadcast_to(b.hi, s) for b, s in zip(bounds, shapes)], **kwargs)
    return Bound(_compact_values(np.asarray(lo)), _compact_values(np.asarray(hi)))


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
