"""What a secret is derived from: public facts the engine decides release rules by.

Every secret array carries a :class:`Provenance` beside its :class:`~.bounds.Bound`. It is public
(every party computes the same one from shapes, public values and the operations run), kept
engine-side (a cell cannot read a name beginning with ``_``), and never depends on a secret value.
Release rules (:mod:`smpc_magic.governance.disclosure`) follow from it, not from a value's dtype,
sign or container:

- ``rowid``: per element, the input row it is elementwise derived from (the row's position in the
  pooled input), :data:`NONE` where no single row is behind it (public values, aggregates), or
  :data:`MIXED` where several rows are combined elementwise or the layout is not tracked. An element
  that is not :data:`NONE` is row-level data.
- ``sites``: per element, a bit mask of the sites whose data it depends on.
- ``support``: per element, the fewest input rows behind any aggregate that went into it
  (:data:`NO_ROWS` when none did). ``x[:2].sum()`` has a support of 2 however it is scaled.
- ``monomials``: for row-level values, the secret 0/1 selections (comparisons, 0/1 columns, levels)
  they were multiplied by; ``()`` is the unselected part. ``(x * (age > 80)).sum()`` is a sum over
  a secret subset.
- ``selections``: secret selections that a reduction summed over, with the rows summed: the engine
  checks each subset's size (and its complement's) inside the computation before a release.

Like bounds, the arrays are compact: each dimension is 1 or the secret's length.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..protocols.base import Array

Shape = tuple[int, ...]

#: rowid of an element derived from no input row
NONE = -1
#: rowid of an element derived from several rows elementwise, or from rows in an untracked way
MIXED = -2
#: support of an element behind which no aggregate lies
NO_ROWS = np.iinfo(np.int64).max
#: every site (a value whose sites are not tracked)
ALL_SITES = -1
#: the most factors a tracked selection has (singles and pairs: each indicator and each 2 x 2 table)
MAX_FACTORS = 2
#: the most selections one value carries; beyond, the value is marked untracked (fails closed)
MAX_SELECTIONS = 64

Monomial = tuple[Any, ...]


@dataclass(frozen=True)
class Selection:
    """A secret 0/1 selection (the product of ``factors``, each a secret row vector with its own
    row ids) that a reduction summed over the input rows ``rows``."""

    factors: tuple[Any, ...]
    rows: Array

    def key(self) -> tuple[Any, ...]:
        return (
            tuple(sorted(id(f) for f in self.factors)),
            self.rows.size,
            int(self.rows.sum()) if self.rows.size else 0,
        )


def _arr(values: Any, ndim: int) -> Array:
    a = np.asarray(values, dtype=np.int64)
    return a.reshape((1,) * (ndim - a.ndim) + a.shape) if a.ndim < ndim else a


def _compact(arr: Array) -> Array:
    index = tuple(slice(0, 1) if n > 1 and s == 0 else slice(None) for n, s in zip(arr.shape, arr.strides))
    out = arr[index] if arr.ndim else arr
    for axis in range(out.ndim):  # collapse axes along which every value is equal
        if out.shape[axis] > 1:
            first = out.take([0], axis=axis)
            if np.array_equal(out, np.broadcast_to(first, out.shape)):
                out = first
    return out if out.flags.c_contiguous else out.copy()  # (ascontiguousarray makes 0-d arrays 1-d)


def _monomial_key(m: Monomial) -> tuple[int, ...]:
    return tuple(sorted(id(f) for f in m))


def _union(*sets: tuple[Monomial, ...]) -> tuple[Monomial, ...]:
    seen: dict[tuple[int, ...], Monomial] = {}
    for s in sets:
        for m in s:
            seen.setdefault(_monomial_key(m), m)
    return tuple(seen.values())


@dataclass(frozen=True)
class Provenance:
    """Public facts of what a secret is derived from (see the module's docstring)."""

    rowid: Array
    sites: Array
    support: Array
    monomials: tuple[Monomial, ...] = ((),)
    selections: tuple[Selection, ...] = ()
    untracked: bool = False  # too many selections to check: every release of it fails closed
    extras: dict[str, Any] = field(default_factory=dict, compare=False)

    # ----- constructors ---------------------------------------------------------------------------
    @classmethod
    def public(cls, ndim: int) -> Provenance:
        """A value every party knows (a constant): derived from nothing."""
        return cls(_arr(NONE, ndim), _arr(0, ndim), _arr(NO_ROWS, ndim))

    @classmethod
    def unknown(cls, ndim: int) -> Provenance:
        """Nothing is known of what it came from: treated as row-level data of a single row
        (every rule that could apply, applies; fails closed)."""
        return cls(_arr(MIXED, ndim), _arr(ALL_SITES, ndim), _arr(1, ndim), untracked=True)

    @classmethod
    def rows(cls, row_sites: Array, ndim: int, indicator: bool = False) -> Provenance:
        """An input: one element per input row along axis 0 (row ``i`` of the pooled input is
        row id ``i``); ``row_sites`` holds each row's site index. ``indicator``: a 0/1 column,
        a selection in its own right (set by :meth:`as_indicator`)."""
        n = len(row_sites)
        masks = np.left_shift(1, np.asarray(row_sites, dtype=np.int64))
        if ndim == 0:
            return cls(_arr(0, 0), _arr(masks.reshape(-1)[0], 0), _arr(NO_ROWS, 0))
        shape = (n,) + (1,) * (ndim - 1)
        return cls(np.arange(n, dtype=np.int64).reshape(shape), masks.reshape(shape), _arr(NO_ROWS, ndim))

    @classmethod
    def aggregate(cls, sites: Sequence[int], rows: int, ndim: int) -> Provenance:
        """An aggregate of ``rows`` input rows of ``sites`` (a site's local sum read in blocks)."""
        mask = 0
        for s in sites:
            mask |= 1 << int(s)
        return cls(_arr(NONE, ndim), _arr(mask, ndim), _arr(rows, ndim))

    def as_indicator(self, secret: Any) -> Provenance:
        """This row-level 0/1 value as a selection of its own rows."""
        if not self.is_row_level() or self.untracked:
            return self
        return replace(self, monomials=_union(self.monomials, ((secret,),)))

    def fitted(self, shape: Shape) -> Provenance:
        """These facts for a secret of ``shape`` (leading length-1 axes added or dropped); facts
        that do not fit the shape are replaced by unknown ones (fail closed)."""
        ndim = len(shape)
        if self.ndim == ndim:
            try:
                for a in (self.rowid, self.sites, self.support):
                    np.broadcast_shapes(a.shape, shape)
                return self
            except ValueError:
                pass
        try:
            parts = [
                np.asarray(
                    np.broadcast_to(
                        a.reshape(a.shape[max(0, a.ndim - ndim) :])
                        if all(d == 1 for d in a.shape[: max(0, a.ndim - ndim)])
                        else a,
                        shape,
                    )
                )
                for a in (self.rowid, self.sites, self.support)
            ]
        except ValueError:
            if os.environ.get("SMPC_DEBUG_PROVENANCE"):
                raise
            return replace(Provenance.unknown(ndim), selections=self.selections)
        return replace(self, rowid=_compact(parts[0]), sites=_compact(parts[1]), support=_compact(parts[2]))

    # ----- facts ----------------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return int(self.rowid.ndim)

    def is_row_level(self) -> bool:
        return self.untracked or bool(np.any(self.rowid != NONE))

    def fewest_rows(self) -> int | None:
        """The fewest rows behind any aggregated part (None: no aggregate lies behind it)."""
        least = int(self.support.min()) if self.support.size else NO_ROWS
        return None if least == NO_ROWS else least

    def site_masks(self) -> Array:
        return self.sites

    def released_with(self, other: Provenance) -> Provenance:
        """The facts of two values released together (a result's fields): every element's
        facts kept (flattened), selections and monomials of both."""
        flat = [np.concatenate(parts) for parts in zip(self._flat(), other._flat())]
        return self._merged(other, flat[0], flat[1], flat[2], _union(self.monomials, other.monomials))

    def _flat(self) -> list[Array]:
        n = max(self.rowid.ndim, self.sites.ndim, self.support.ndim)
        arrays = np.broadcast_arrays(*(_arr(a, n) for a in (self.rowid, self.sites, self.support)))
        return [a.reshape(-1) for a in arrays]

    def single_site(self) -> int | None:
        """A site index if some aggregate element depends on that one site's data alone (else
        None); a row-level element is always one site's (the row-level rule covers it)."""
        rowid, sites = np.broadcast_arrays(*_aligned(self.rowid, self.sites))
        masks = np.unique(sites[rowid == NONE])
        for m in masks.tolist():
            if m > 0 and (m & (m - 1)) == 0:
                return int(m).bit_length() - 1
        return None

    def all_sites(self) -> int:
        return int(np.bitwise_or.reduce(self.sites.reshape(-1))) if self.sites.size else 0

    # ----- structure ------------------------------------------------------------------------------
    def _each(self, fn: Any) -> Provenance:
        return replace(
            self, rowid=_compact(fn(self.rowid)), sites=_compact(fn(self.sites)), support=_compact(fn(self.support))
        )

    def _full(self, shape: Shape, fn: Any) -> Provenance:
        return self._each(lambda a: np.asarray(fn(np.broadcast_to(a, shape))))

    def index(self, shape: Shape, index: Any) -> Provenance:
        return self._full(shape, lambda a: a[index])

    def reshape(self, shape: Shape, new_shape: Shape) -> Provenance:
        if all(a.size == 1 for a in (self.rowid, self.sites, self.support)):
            return self._each(lambda a: a.reshape((1,) * len(new_shape)))
        return self._full(shape, lambda a: a.reshape(new_shape))

    def transpose(self, axes: Sequence[int] | None = None) -> Provenance:
        return self._each(lambda a: a.transpose(axes))

    def expand_dims(self, axis: int) -> Provenance:
        return self._each(lambda a: np.expand_dims(a, axis))

    def squeeze(self, shape: Shape, axis: Any) -> Provenance:
        axes = tuple(i for i, n in enumerate(shape) if n == 1) if axis is None else axis
        return self._each(lambda a: a.squeeze(axis=axes))

    def assign(self, shape: Shape, index: Any, value: Provenance) -> Provenance:
        """Elements at ``index`` replaced by ``value``'s (``x[i] = y``)."""
        out = []
        for mine, theirs in ((self.rowid, value.rowid), (self.sites, value.sites), (self.support, value.support)):
            full = np.array(np.broadcast_to(mine, shape))
            target = np.shape(full[index])
            t = theirs.reshape(-1) if theirs.size == 1 else theirs
            while t.ndim > len(target) and t.shape[0] == 1:
                t = t[0]
            full[index] = np.broadcast_to(t, target)
            out.append(_compact(full))
        return self._merged(value, out[0], out[1], out[2], _union(self.monomials, value.monomials))

    def choose(self, shape: Shape, mask: Array, other: Provenance) -> Provenance:
        """Where ``mask`` (public) is true this value's facts, elsewhere ``other``'s."""
        parts = [
            _compact(np.where(mask, np.broadcast_to(a, shape), np.broadcast_to(b, shape)))
            for a, b in ((self.rowid, other.rowid), (self.sites, other.sites), (self.support, other.support))
        ]
        return self._merged(other, parts[0], parts[1], parts[2], _union(self.monomials, other.monomials))

    def _merged(
        self, other: Provenance, rowid: Array, sites: Array, support: Array, monomials: tuple[Monomial, ...]
    ) -> Provenance:
        selections = _dedupe(self.selections + other.selections)
        untracked = self.untracked or other.untracked or len(selections) > MAX_SELECTIONS
        return Provenance(rowid, sites, support, monomials, selections[:MAX_SELECTIONS], untracked)

    # ----- arithmetic -----------------------------------------------------------------------------
    def plus(self, other: Provenance) -> Provenance:
        """An elementwise sum (or any elementwise function of both that is not a product)."""
        return self._elementwise(other, _union(self.monomials, other.monomials))

    def times(self, other: Provenance) -> Provenance:
        """An elementwise product: a selection of one selects the other."""
        products: list[Monomial] = []
        for a in self.monomials:
            for b in other.monomials:
                joint = tuple({id(f): f for f in a + b}.values())
                if len(joint) <= MAX_FACTORS:
                    products.append(joint)
                else:  # keep the pairs a longer product contains: each 2 x 2 table is checked
                    products += [(f, g) for i, f in enumerate(joint) for g in joint[i + 1 :]]
        return self._elementwise(other, _union(tuple(products)))

    def _elementwise(self, other: Provenance, monomials: tuple[Monomial, ...]) -> Provenance:
        ra, rb = np.broadcast_arrays(*_aligned(self.rowid, other.rowid))
        rowid = np.where(ra == rb, ra, np.where(ra == NONE, rb, np.where(rb == NONE, ra, MIXED)))
        sites = np.bitwise_or(*_aligned(self.sites, other.sites))
        support = np.minimum(*_aligned(self.support, other.support))
        if len(monomials) > MAX_SELECTIONS:
            return replace(Provenance.unknown(rowid.ndim), sites=_compact(sites))
        return self._merged(other, _compact(rowid), _compact(sites), _compact(support), monomials)

    def times_public(self, plain: Array) -> Provenance:
        """A product with a public array: where it is 0, no row and no site lies behind."""
        p = np.asarray(plain)
        if p.size == 0 or not np.any(p == 0):
            return self
        zero = np.asarray(p == 0)
        rowid, z = _aligned(self.rowid, zero)
        return replace(
            self,
            rowid=_compact(np.where(z, NONE, rowid)),
            sites=_compact(np.where(_aligned(self.sites, zero)[1], 0, _aligned(self.sites, zero)[0])),
            support=_compact(np.where(_aligned(self.support, zero)[1], NO_ROWS, _aligned(self.support, zero)[0])),
        )

    def reduce(self, shape: Shape, axis: Any, keepdims: bool = False) -> Provenance:
        """A sum (or mean) over ``axis``: rows summed become an aggregate whose support is the
        number of distinct rows; a secret selection summed over is recorded."""
        ndim = len(shape)
        if ndim == 0:
            return self
        axes = tuple(range(ndim)) if axis is None else tuple(sorted({a % ndim for a in np.atleast_1d(axis)}))
        rowid = _arr(self.rowid, ndim)
        sites = np.bitwise_or.reduce(_arr(self.sites, ndim), axis=axes, keepdims=True)
        support = np.minimum.reduce(_arr(self.support, ndim), axis=axes, keepdims=True)
        reduced = [a for a in axes if rowid.shape[a] > 1]
        selections, monomials = self.selections, self.monomials
        if reduced:
            kept = [a for a in range(ndim) if a not in reduced]
            moved = np.moveaxis(rowid, reduced, list(range(len(kept), ndim)))
            ids = np.sort(moved.reshape(moved.shape[: len(kept)] + (-1,)), axis=-1)
            mixed = np.any(ids == MIXED, axis=-1)
            real = ids >= 0
            distinct = real[..., 0].astype(np.int64) + (real[..., 1:] & (ids[..., 1:] != ids[..., :-1])).sum(axis=-1)
            out = np.where(mixed, MIXED, np.where(distinct == 1, ids[..., -1], NONE))
            aggregated = (~mixed) & (distinct >= 2)
            rows = np.where(aggregated, distinct, NO_ROWS)
            shape_kept = [rowid.shape[a] if a in kept else 1 for a in range(ndim)]
            rowid = out.reshape(shape_kept)
            support = np.minimum(support, rows.reshape(shape_kept))
            if np.any(aggregated):
                summed = np.unique(ids[aggregated])
                summed = summed[summed >= 0]
                selections = _dedupe(selections + tuple(Selection(m, summed) for m in monomials if m))
                if not np.any(rowid != NONE):
                    monomials = ((),)
        untracked = self.untracked or len(selections) > MAX_SELECTIONS
        result = Provenance(
            _compact(rowid), _compact(sites), _compact(support), monomials, selections[:MAX_SELECTIONS], untracked
        )
        return result if keepdims else result._each(lambda a: a.squeeze(axis=axes))

    def point(self) -> Provenance:
        """One element chosen by a secret comparison (a maximum, an argmax): one row's value."""
        return replace(self, rowid=_compact(np.where(self.rowid == NONE, NONE, MIXED)), support=_arr(1, self.ndim))

    def matmul_public(self, plain: Array, shape: Shape, left: bool) -> Provenance:
        """``X @ P`` or (``left``) ``P @ X`` for a public P: its zeros drop rows as in a product
        with a public array, then the shared axis is summed."""
        p = np.asarray(plain)
        public = Provenance.public(p.ndim)
        a_shape, b_shape = (p.shape, shape) if left else (shape, p.shape)
        a, b = (public, self) if left else (self, public)
        return a.matmul(b, a_shape, b_shape, zeros=(p == 0, left))

    def matmul(
        self, other: Provenance, a_shape: Shape, b_shape: Shape, zeros: tuple[Array, bool] | None = None
    ) -> Provenance:
        """``A @ B``: the product of A's rows with B's columns, summed along the shared axis."""
        a, b = self, other
        a_vector, b_vector = len(a_shape) == 1, len(b_shape) == 1
        sa, sb = a_shape, b_shape
        if a_vector:
            a, sa = a.reshape(sa, (1,) + sa), (1,) + sa
        if b_vector:
            b, sb = b.reshape(sb, sb + (1,)), sb + (1,)
        ea, eb = a.expand_dims(-1), b.expand_dims(-3)  # (..., m, k, 1) and (..., 1, k, p)
        shape = np.broadcast_shapes(sa + (1,), sb[:-2] + (1,) + sb[-2:])
        product = ea.times(eb)
        if zeros is not None and np.any(zeros[0]):  # a public factor's zeros: no row lies behind
            z, left = zeros
            z = (
                z.reshape((1,) + z.shape if a_vector else z.shape)
                if left
                else z.reshape(z.shape + (1,) if b_vector else z.shape)
            )
            z = z[..., :, :, None] if left else z[..., None, :, :]
            product = product.times_public((~z).astype(np.int64))
        out = product.reduce(shape, -2)
        out_shape = shape[:-2] + shape[-1:]
        if b_vector:
            out = out.squeeze(out_shape, -1)
            out_shape = out_shape[:-1]
        if a_vector:
            out = out.squeeze(out_shape, -2 if not b_vector else -1)
        return out


def _aligned(a: Array, b: Array) -> tuple[Array, Array]:
    n = max(a.ndim, b.ndim)
    return _arr(a, n), _arr(b, n)


def _dedupe(selections: tuple[Selection, ...]) -> tuple[Selection, ...]:
    seen: dict[Any, Selection] = {}
    for s in selections:
        seen.setdefault(s.key(), s)
    return tuple(seen.values())


def joined(numpy_func: Any, provs: Sequence[Provenance], shapes: Sequence[Shape], **kwargs: Any) -> Provenance:
    """The facts of ``numpy_func(parts)`` for a structural function (concatenate, stack, ...)."""
    parts = []
    for attr in ("rowid", "sites", "support"):
        arrays = [np.broadcast_to(getattr(p.fitted(s), attr), s) for p, s in zip(provs, shapes)]
        parts.append(_compact(np.asarray(numpy_func(arrays, **kwargs))))
    first = provs[0]
    out = Provenance(parts[0], parts[1], parts[2], first.monomials, first.selections, first.untracked)
    for p in provs[1:]:
        out = out._merged(p, out.rowid, out.sites, out.support, _union(out.monomials, p.monomials))
    return out
