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
- ``pattern``: per element, a public hash such that two elements with the same pattern hold the
  same value (constants, aggregates) or enter a sum the same way (a row's data times the same
  public or secret factor). A sum whose rows enter with different patterns (public weights, a
  public one-hot column, a secret factor that differs between rows) is a combination of smaller
  sums: see ``form``.
- ``form``: per aggregate element, the rows behind it grouped into *atoms*: rows whose data enter
  every sum combined into it the same way. Differences and weighted sums can tell atoms apart but
  nothing finer, so an atom is what a release can single out. ``x.sum() - x[1:].sum()`` has an
  atom of one row; so has ``x @ (np.eye(n) + 1)`` or ``(x * w).sum()`` for a public ``w`` that
  singles out a row. Several releases of a cell are checked on the atoms of all of them together.
- ``support``: per element, the fewest rows in any atom behind it (:data:`NO_ROWS` when no
  aggregate is). ``x[:2].sum()`` has a support of 2 however it is scaled.
- ``monomials``: for row-level values, the secret 0/1 selections (comparisons, 0/1 columns, levels,
  clipped or signed values) they were multiplied by; ``()`` is the unselected part.
- ``selections``: secret selections that a reduction summed over, with the rows summed: the engine
  checks each subset's size (and its complement's) inside the computation before a release.
- ``requirements``: the rules a statistic declared for the values it is derived from (they
  follow a result's fields wherever they go).
- ``observed``: the secret 0/1 ``:observed`` columns of the variables that may be missing which
  the value is derived from (a missing entry is shared as 0): statistics leave those rows out.
- ``degree``: for row-level values, how many row-level factors a cell multiplied together (an
  input is 1, a comparison 0, a nonlinear function's result 1): a product of three or more picks
  the rows where they are largest, as ``x ** 3`` does (a soft selection, see
  :func:`~.compare.soft_indicator`).

Like bounds, the arrays are compact: each dimension is 1 or the secret's length.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..protocols.base import Array
from .atoms import (
    _AGG,
    _COPIES,
    _INPUT,
    _PLUS,
    _POINT,
    _REDUCE,
    _TIMES,
    _UNKNOWN,
    NO_FORM,
    NO_ROWS,
    ZERO,
    Form,
    combined_forms,
    digest,
    forms_per_output,
    levels,
    make_form,
    mix,
    refine,
    value_pattern,
)
from .atoms import (
    tag as name_hash,
)

Shape = tuple[int, ...]

#: rowid of an element derived from no input row
NONE = -1
#: rowid of an element derived from several rows elementwise, or from rows in an untracked way
MIXED = -2
#: every site (a value whose sites are not tracked)
ALL_SITES = -1
#: the most factors a tracked selection has (each indicator, each 2 x 2 and 2 x 2 x 2 table)
MAX_FACTORS = 3
#: the most selections one value carries; beyond, the value is marked untracked (fails closed)
MAX_SELECTIONS = 64

Monomial = tuple[Any, ...]
_FIELDS = ("rowid", "sites", "support", "pattern", "form")


class _Depth(threading.local):
    """How many statistics are running (nested), per thread (in-memory parties are threads):
    inside one, its own comparisons are not selections (its declared rules cover them) and a
    product of many selections keeps its pairs."""

    value = 0


_INSIDE = _Depth()


class inside_statistic:  # noqa: N801 - used as a context manager, like a function
    """While a statistic of smpc.stats runs (see :func:`smpc_magic.stats.disclosure.statistic`)."""

    def __enter__(self) -> None:
        _INSIDE.value += 1

    def __exit__(self, *exc: object) -> None:
        _INSIDE.value -= 1


def in_statistic() -> bool:
    return _INSIDE.value > 0


# ----- selections ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """A secret 0/1 selection (the product of ``factors``, each a secret row vector with its own
    row ids) that a reduction summed over the input rows ``rows``."""

    factors: tuple[Any, ...]
    rows: Array
    #: True: an input a statistic counts (its events, its groups): a count, so its size and its
    #: complement's are checked against ``min_count`` (not ``min_rows``)
    counted: bool = False

    def key(self) -> tuple[Any, ...]:
        rows = hashlib.blake2b(np.ascontiguousarray(self.rows, dtype=np.int64).tobytes(), digest_size=16)
        return (tuple(sorted(id(f) for f in self.factors)), rows.hexdigest(), self.counted)


#: a factor standing for a rounded row value (a count in disguise): sums over it are refused
ROUNDED = "rounded"


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


def _positions(shape: Shape | None, ndim: int) -> Array:
    if shape is None:
        return _arr(0, ndim)
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)


@dataclass(frozen=True)
class Provenance:
    """Public facts of what a secret is derived from (see the module's docstring)."""

    rowid: Array
    sites: Array
    support: Array
    pattern: Array
    form: Array
    monomials: tuple[Monomial, ...] = ((),)
    selections: tuple[Selection, ...] = ()
    untracked: bool = False  # too many selections to check: every release of it fails closed
    forms: Mapping[int, Form] = field(default_factory=dict, compare=False)
    requirements: tuple[Any, ...] = ()
    observed: tuple[Any, ...] = ()
    degree: int = 0

    # ----- constructors ---------------------------------------------------------------------------
    @classmethod
    def constant(cls, values: Any) -> Provenance:
        """A value every party knows (a public constant): derived from nothing."""
        v = np.asarray(values, dtype=np.float64)
        ndim = v.ndim
        return cls(
            _arr(NONE, ndim), _arr(0, ndim), _arr(NO_ROWS, ndim), _compact(value_pattern(v)), _arr(NO_FORM, ndim)
        )

    @classmethod
    def unknown(cls, ndim: int) -> Provenance:
        """Nothing is known of what it came from: treated as row-level data of a single row
        (every rule that could apply, applies; fails closed)."""
        return cls(
            _arr(MIXED, ndim),
            _arr(ALL_SITES, ndim),
            _arr(1, ndim),
            _arr(_UNKNOWN, ndim),
            _arr(NO_FORM, ndim),
            untracked=True,
        )

    @classmethod
    def rows(cls, row_sites: Array, ndim: int, tag: str = "", shape: Shape | None = None) -> Provenance:
        """An input: one element per input row along axis 0 (row ``i`` of the pooled input is
        row id ``i``); ``row_sites`` holds each row's site index; ``tag`` names the input (so
        that sums of different inputs are different values)."""
        n = len(row_sites)
        masks = np.left_shift(1, np.asarray(row_sites, dtype=np.int64))
        name = name_hash("input:" + tag)
        if ndim == 0:
            masks0 = _arr(masks.reshape(-1)[0], 0)
            return cls(_arr(0, 0), masks0, _arr(NO_ROWS, 0), mix(_INPUT, name), _arr(NO_FORM, 0), degree=1)
        rows_shape = (n,) + (1,) * (ndim - 1)
        columns = _positions(None if shape is None or ndim == 1 else (1,) + tuple(shape[1:]), ndim)
        return cls(
            np.arange(n, dtype=np.int64).reshape(rows_shape),
            masks.reshape(rows_shape),
            _arr(NO_ROWS, ndim),
            _compact(mix(_INPUT, name, columns)),
            _arr(NO_FORM, ndim),
            degree=1,
        )

    @classmethod
    def aggregate(cls, sites: Sequence[int], rows: int, shape: Shape, salt: int = 0) -> Provenance:
        """An aggregate of ``rows`` input rows of ``sites`` (a site's local sum read in blocks);
        ``salt`` tells apart aggregates computed at different steps."""
        mask = 0
        for s in sites:
            mask |= 1 << int(s)
        ndim = len(shape)
        pattern = _compact(mix(_AGG, salt, _positions(tuple(shape), ndim)))
        return cls(_arr(NONE, ndim), _arr(mask, ndim), _arr(rows, ndim), pattern, _arr(NO_FORM, ndim))

    def as_indicator(self, secret: Any) -> Provenance:
        """This row-level 0/1 value as a selection of its own rows."""
        if not self.is_row_level() or self.untracked:
            return self
        return replace(self, monomials=_union(self.monomials, ((secret,),)))

    def as_rounded(self) -> Provenance:
        """A rounded row value: whole numbers whose sums count rows over secret thresholds."""
        if not self.is_row_level() or self.untracked:
            return self
        return replace(self, monomials=_union(self.monomials, ((ROUNDED,),)))

    def with_observed(self, observed: Any) -> Provenance:
        """This value may be missing where the secret 0/1 ``observed`` (an input column) is 0."""
        return replace(self, observed=_same(self.observed + (observed,)))

    def with_requirements(self, requirements: Sequence[Any]) -> Provenance:
        return replace(self, requirements=_dedupe_requirements(self.requirements + tuple(requirements)))

    def without_selections_after(self, serial: int, covered: frozenset[int] = frozenset()) -> Provenance:
        """Selections made by a statistic itself (factors numbered ``serial`` or later) and those
        of the inputs its rules count (``covered``: factor ids) dropped: the statistic's declared
        rules cover them; the cell's other selections stay."""

        def inner(f: Any) -> bool:
            return int(getattr(f, "_serial", -1)) >= serial

        kept: list[Selection] = []
        for s in self.selections:
            outer = tuple(f for f in s.factors if not inner(f) and id(f) not in covered)
            if outer and not s.counted:
                kept.append(Selection(outer, s.rows) if len(outer) < len(s.factors) else s)
            kept += [Selection((f,), s.rows, counted=True) for f in s.factors if id(f) in covered and not inner(f)]
            if s.counted:
                kept += [s for f in s.factors[:1] if not inner(f)]
        monomials = _union(tuple(tuple(f for f in m if not inner(f) and id(f) not in covered) for m in self.monomials))
        return replace(self, selections=_dedupe(tuple(kept)), monomials=monomials or ((),))

    def rebound(self, factor: Callable[[Any], Any], requirement: Callable[[Any], Any]) -> Provenance:
        """The same facts with every secret they hold (selection factors, declared rules'
        quantities) moved by ``factor`` / ``requirement`` (a value kept for a later cell)."""
        cache: dict[int, Any] = {}

        def moved(f: Any) -> Any:
            if isinstance(f, str):
                return f
            if id(f) not in cache:
                cache[id(f)] = factor(f)
            return cache[id(f)]

        monomials = tuple(tuple(moved(f) for f in m) for m in self.monomials)
        selections = tuple(Selection(tuple(moved(f) for f in s.factors), s.rows, s.counted) for s in self.selections)
        return replace(
            self,
            monomials=monomials,
            selections=selections,
            observed=tuple(moved(f) for f in self.observed),
            requirements=tuple(requirement(r) for r in self.requirements),
        )

    def fitted(self, shape: Shape) -> Provenance:
        """These facts for a secret of ``shape`` (leading length-1 axes added or dropped); facts
        that do not fit the shape are replaced by unknown ones (fail closed)."""
        ndim = len(shape)
        if self.ndim == ndim:
            try:
                for a in self._arrays():
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
                for a in self._arrays()
            ]
        except ValueError:
            if os.environ.get("SMPC_DEBUG_PROVENANCE"):
                raise
            return replace(
                Provenance.unknown(ndim),
                selections=self.selections,
                requirements=self.requirements,
                observed=self.observed,
            )
        return self._with(*(_compact(p) for p in parts))

    # ----- facts ----------------------------------------------------------------------------------
    def _arrays(self) -> tuple[Array, ...]:
        return (self.rowid, self.sites, self.support, self.pattern, self.form)

    def _with(self, rowid: Array, sites: Array, support: Array, pattern: Array, form: Array) -> Provenance:
        return replace(self, rowid=rowid, sites=sites, support=support, pattern=pattern, form=form)

    @property
    def ndim(self) -> int:
        return int(self.rowid.ndim)

    def is_row_level(self) -> bool:
        return self.untracked or bool(np.any(self.rowid != NONE))

    def fewest_rows(self) -> int | None:
        """The fewest rows behind any aggregated part (None: no aggregate lies behind it)."""
        least = int(self.support.min()) if self.support.size else NO_ROWS
        return None if least == NO_ROWS else least

    def joint_form(self) -> Form | None:
        """The atoms of every aggregate behind any element, together (None: none)."""
        keys = [int(k) for k in np.unique(self.form) if k != NO_FORM]
        if not keys:
            return None
        missing = [k for k in keys if k not in self.forms]
        if missing:  # a form not carried along: fail closed (one row)
            return make_form(np.zeros(1, np.int64), np.zeros(1, np.int64), np.full(1, ALL_SITES))
        return refine([self.forms[k] for k in keys])

    def site_masks(self) -> Array:
        return self.sites

    def released_with(self, other: Provenance) -> Provenance:
        """The facts of two values released together (a result's fields): every element's
        facts kept (flattened), selections and monomials of both."""
        flat = [np.concatenate(parts) for parts in zip(self._flat(), other._flat())]
        return self._merged(other, flat, _union(self.monomials, other.monomials))

    def _flat(self) -> list[Array]:
        n = max(a.ndim for a in self._arrays())
        arrays = np.broadcast_arrays(*(_arr(a, n) for a in self._arrays()))
        return [a.reshape(-1) for a in arrays]

    def single_site(self) -> int | None:
        """A site index if some aggregate element, or an atom behind one, depends on that one
        site's data alone (else None); a row-level element is always one site's (the row-level
        rule covers it)."""
        rowid, sites = np.broadcast_arrays(*_aligned(self.rowid, self.sites))
        masks = np.unique(sites[rowid == NONE])
        for m in masks.tolist():
            if m > 0 and (m & (m - 1)) == 0:
                return int(m).bit_length() - 1
        joint = self.joint_form()
        return joint.single_site_atom() if joint is not None else None

    def all_sites(self) -> int:
        return int(np.bitwise_or.reduce(self.sites.reshape(-1))) if self.sites.size else 0

    # ----- structure ------------------------------------------------------------------------------
    def _each(self, fn: Any) -> Provenance:
        return self._with(*(_compact(fn(a)) for a in self._arrays()))

    def _full(self, shape: Shape, fn: Any) -> Provenance:
        return self._each(lambda a: np.asarray(fn(np.broadcast_to(a, shape))))

    def index(self, shape: Shape, index: Any) -> Provenance:
        return self._full(shape, lambda a: a[index])

    def reshape(self, shape: Shape, new_shape: Shape) -> Provenance:
        if all(a.size == 1 for a in self._arrays()):
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
        for mine, theirs in zip(self._arrays(), value._arrays()):
            full = np.array(np.broadcast_to(mine, shape))
            target = np.shape(full[index])
            t = theirs.reshape(-1) if theirs.size == 1 else theirs
            while t.ndim > len(target) and t.shape[0] == 1:
                t = t[0]
            full[index] = np.broadcast_to(t, target)
            out.append(_compact(full))
        return self._merged(value, out, _union(self.monomials, value.monomials))

    def choose(self, shape: Shape, mask: Array, other: Provenance) -> Provenance:
        """Where ``mask`` (public) is true this value's facts, elsewhere ``other``'s."""
        parts = [
            _compact(np.where(mask, np.broadcast_to(a, shape), np.broadcast_to(b, shape)))
            for a, b in zip(self._arrays(), other._arrays())
        ]
        return self._merged(other, parts, _union(self.monomials, other.monomials))

    def _merged(self, other: Provenance, arrays: Sequence[Array], monomials: tuple[Monomial, ...]) -> Provenance:
        rowid, sites, support, pattern, form = arrays
        selections = _dedupe(self.selections + other.selections)
        untracked = self.untracked or other.untracked or len(selections) > MAX_SELECTIONS
        forms = {**self.forms, **other.forms} if other.forms else self.forms
        requirements = _dedupe_requirements(self.requirements + other.requirements)
        observed = _same(self.observed + other.observed)
        return Provenance(
            rowid,
            sites,
            support,
            pattern,
            form,
            monomials,
            selections[:MAX_SELECTIONS],
            untracked,
            forms,
            requirements,
            observed,
            max(self.degree, other.degree),
        )

    # ----- arithmetic -----------------------------------------------------------------------------
    def mapped(self, op: str, *params: Any, offset: bool = False) -> Provenance:
        """An elementwise function of this value alone (``op`` with public ``params``, which
        may be arrays): same rows, a new value. ``offset``: a public addend, which changes a
        constant's or an aggregate's value but not how a row's data enters a sum (the sum of
        ``x + c`` is the sum of ``x`` plus the sum of ``c``)."""
        addends = [_compact(np.asarray(value_pattern(p))) for p in params]
        pattern = mix(name_hash("map:" + op), self.pattern, *addends)
        n = max([self.rowid.ndim, *(a.ndim for a in addends)])
        rows = _arr(self.rowid, n)
        uniform = all(  # the same addend for every row: x + c sums to the sum of x plus n c
            _arr(a, n).shape[axis] == 1 for a in addends for axis in range(n) if rows.shape[axis] > 1
        )
        if offset and uniform:  # (an addend that differs by row weighs rows once multiplied: not here)
            pattern = np.where(rows != NONE, mix(name_hash("map:" + op), self.pattern), pattern)
        return replace(self, pattern=_compact(np.asarray(pattern)))

    def plus(self, other: Provenance) -> Provenance:
        """An elementwise sum (or any elementwise function of both that is not a product)."""
        return self._elementwise(other, _union(self.monomials, other.monomials), _PLUS)

    def times(self, other: Provenance) -> Provenance:
        """An elementwise product: a selection of one selects the other; a public zero in
        either leaves no row behind."""
        products: list[Monomial] = []
        for a in self.monomials:
            for b in other.monomials:
                joint = tuple({id(f): f for f in a + b}.values())
                if len(joint) <= MAX_FACTORS:
                    products.append(joint)
                elif in_statistic():  # a model's covariates: its rules count each, keep the pairs
                    products += [(f, g) for i, f in enumerate(joint) for g in joint[i + 1 :]]
                else:  # too many conditions to check together: fails closed
                    return replace(
                        Provenance.unknown(self.ndim),
                        requirements=self.requirements + other.requirements,
                        observed=_same(self.observed + other.observed),
                    )
        return self._elementwise(other, _union(tuple(products)), _TIMES)

    def _elementwise(self, other: Provenance, monomials: tuple[Monomial, ...], op: int) -> Provenance:
        a, b = self._arrays(), other._arrays()
        n = max(x.ndim for x in a + b)
        ra, sa, ua, pa, fa = (_arr(x, n) for x in a)
        rb, sb, ub, pb, fb = (_arr(x, n) for x in b)
        if ra.shape == rb.shape and np.array_equal(ra, rb):  # (a value times itself, X' X)
            rowid = ra
        else:
            rowid = np.where(ra == rb, ra, np.where(ra == NONE, rb, np.where(rb == NONE, ra, MIXED)))
        sites = sa if sa.shape == sb.shape and np.array_equal(sa, sb) else np.bitwise_or(sa, sb)
        support = np.minimum(ua, ub)
        pattern = mix(op, pa, pb)
        if op == _TIMES and not in_statistic() and not (self.is_selection() or other.is_selection()):
            pattern = _weighted_by_another_site(pattern, ra, sa, rb, sb)
        form, forms, support = combined_forms(fa, fb, {**self.forms, **other.forms}, support)
        if op == _TIMES:  # a product with a public zero: nothing behind it
            zero = self._zero(n) | other._zero(n)
            if np.any(zero):
                rowid = np.where(zero, NONE, rowid)
                sites = np.where(zero, 0, sites)
                support = np.where(zero, NO_ROWS, support)
                pattern = np.where(zero, ZERO, pattern)
                form = np.where(zero, NO_FORM, form)
        if len(monomials) > MAX_SELECTIONS:
            observed = _same(self.observed + other.observed)
            return replace(Provenance.unknown(rowid.ndim), sites=_compact(sites), observed=observed)
        arrays = [_compact(np.asarray(a)) for a in (rowid, sites, support, pattern, form)]
        merged = self._merged(other, arrays, monomials)
        if op == _TIMES and not in_statistic():
            return replace(merged, forms=forms, degree=self.row_degree() + other.row_degree())
        return replace(merged, forms=forms)

    def row_degree(self) -> int:
        """How many row-level factors this value multiplies together (0 if it is not row-level)."""
        return self.degree if self.is_row_level() else 0

    def with_degree(self, degree: int) -> Provenance:
        """The same facts, counted as a product of ``degree`` row-level factors."""
        return replace(self, degree=degree)

    def is_selection(self) -> bool:
        """A secret 0/1 selection of rows as made (a comparison, a 0/1 integer column; slices of
        them): a product with it keeps or drops rows, whose numbers the engine checks. Any
        arithmetic on it changes its pattern, and it is a weight like any other value."""
        for m in self.monomials:
            made = getattr(m[0], "_prov", None) if len(m) == 1 else None
            if (
                made is not None
                and made.pattern.shape == self.pattern.shape
                and np.array_equal(made.pattern, self.pattern)
            ):
                return not self.untracked
        return False

    def _zero(self, ndim: int) -> Array:
        """Where this value is a known public zero."""
        if not np.any(self.pattern == ZERO):
            return np.zeros((1,) * ndim, dtype=bool)
        r, s, u, p, f = (_arr(x, ndim) for x in self._arrays())
        return np.asarray((p == ZERO) & (r == NONE) & (s == 0) & (u == NO_ROWS) & (f == NO_FORM))

    def times_public(self, plain: Array) -> Provenance:
        """A product with a public array: where it is 0, no row and no site lies behind; each
        element's pattern takes the public factor in."""
        product: Provenance = self.times(Provenance.constant(plain))
        return product

    def reduce(self, shape: Shape, axis: Any, keepdims: bool = False, salt: int = 0) -> Provenance:
        """A sum (or mean) over ``axis``: rows summed become an aggregate whose atoms group the
        rows by how they enter it; a secret selection summed over is recorded. ``salt`` (the
        computation's serial number) makes its values differ from any other sum's."""
        ndim = len(shape)
        if ndim == 0:
            return self
        axes = tuple(range(ndim)) if axis is None else tuple(sorted({a % ndim for a in np.atleast_1d(axis)}))
        pat, frm = _arr(self.pattern, ndim), _arr(self.form, ndim)
        pat_varies = any(pat.shape[a] > 1 for a in axes)
        frm_varies = any(frm.shape[a] > 1 for a in axes)
        rowid, sites, support, wpat, wfrm = np.broadcast_arrays(
            _arr(self.rowid, ndim),
            _arr(self.sites, ndim),
            _arr(self.support, ndim),
            pat if pat_varies else _arr(0, ndim),
            frm if frm_varies else _arr(NO_FORM, ndim),
        )
        copies = int(np.prod([shape[a] for a in axes if rowid.shape[a] == 1]))
        reduced = [a for a in axes if rowid.shape[a] > 1]
        kept = [a for a in range(ndim) if a not in reduced]
        out_sites = np.bitwise_or.reduce(sites, axis=axes, keepdims=True)
        out_support = np.minimum.reduce(support, axis=axes, keepdims=True)
        pat_kept = pat if not pat_varies else _arr(0, ndim)
        frm_kept = frm if not frm_varies else _arr(NO_FORM, ndim)
        selections, monomials, forms = self.selections, self.monomials, dict(self.forms)
        if not reduced:
            out_rowid = np.amax(rowid, axis=axes, keepdims=True) if rowid.size else rowid
            signature = mix(_COPIES, copies)
            out_form = frm_kept
        else:
            shape_kept = [rowid.shape[a] if a in kept else 1 for a in range(ndim)]

            def flat(a: Array) -> Array:
                moved = np.moveaxis(a, reduced, list(range(len(kept), ndim)))
                return moved.reshape(int(np.prod(moved.shape[: len(kept)], dtype=np.int64)), -1)

            ids, e_sites, e_pat, e_frm = flat(rowid), flat(sites), flat(wpat), flat(wfrm)
            plain = not pat_varies and not frm_varies
            if not (plain and ids.shape[1] > 1 and np.all(ids[:, 1:] > ids[:, :-1]) and ids[:, 0].min() >= 0):
                order = np.argsort(ids, axis=-1, kind="stable")
                ids = np.take_along_axis(ids, order, axis=-1)
                e_sites, e_pat, e_frm = (np.take_along_axis(a, order, axis=-1) for a in (e_sites, e_pat, e_frm))
                plain = False
            # plain: distinct input rows, in order, each entering the same way (a whole column summed)
            mixed = np.any(ids == MIXED, axis=-1)
            real = ids >= 0
            distinct = real[:, 0].astype(np.int64) + (real[:, 1:] & (ids[:, 1:] != ids[:, :-1])).sum(axis=-1)
            out_rowid = np.where(mixed, MIXED, np.where(distinct == 1, ids[:, -1], NONE))
            aggregated = (~mixed) & (distinct >= 2)
            one_row = (~mixed) & (distinct == 1)
            if plain:  # the same rows entering the same way have the same content
                by_row = np.array([digest(row) for row in ids], dtype=np.int64)
                by_way = np.zeros(ids.shape[0], dtype=np.int64)
            else:
                with np.errstate(over="ignore"):  # (uint64 sums wrap: they are hashes)
                    by_row = mix(ids, e_pat, e_frm).astype(np.uint64).sum(axis=-1).astype(np.int64)
                    by_way = mix(e_pat, e_frm).astype(np.uint64).sum(axis=-1).astype(np.int64)
            signature = mix(_COPIES, copies, np.where(one_row, by_way, by_row)).reshape(shape_kept)
            out_form = np.broadcast_to(frm_kept, np.broadcast_shapes(frm_kept.shape, tuple(shape_kept))).copy()
            rows_behind = np.full(ids.shape[0], NO_ROWS, dtype=np.int64)
            if np.any(aggregated):
                if plain and ids.shape[0] == 1:  # one sum of distinct rows entering alike: one atom
                    form = make_form(ids[0], np.zeros(ids.shape[1], dtype=np.int64), e_sites[0])
                else:
                    form = levels(ids, e_sites, e_pat, aggregated)
                entry_forms = np.unique(e_frm[aggregated]) if frm_varies else np.zeros(0, dtype=np.int64)
                behind = [forms[int(k)] for k in entry_forms if k != NO_FORM and int(k) in forms]
                behind += [forms[int(k)] for k in np.unique(frm_kept) if k != NO_FORM and int(k) in forms]
                form = refine([form, *behind])
                forms[form.key] = form
                rows_behind = np.where(aggregated, min(form.smallest, int(distinct[aggregated].min())), NO_ROWS)
                aggregated_kept = np.broadcast_to(aggregated.reshape(shape_kept), out_form.shape)
                out_form = np.where(aggregated_kept, form.key, out_form)
                if any(monomials):
                    summed = ids[0] if plain and ids.shape[0] == 1 else np.unique(ids[aggregated][real[aggregated]])
                    selections = _dedupe(selections + tuple(Selection(m, summed) for m in monomials if m))
            if frm_varies:  # one row's or no row's elements carrying aggregates: their forms together
                out_form = forms_per_output(e_frm, ~aggregated, forms, out_form, shape_kept)
            out_rowid = out_rowid.reshape(shape_kept)
            out_support = np.minimum(out_support, rows_behind.reshape(shape_kept))
            if not np.any(out_rowid != NONE):
                monomials = ((),)
        pattern = mix(_REDUCE, signature, pat_kept, salt)
        untracked = self.untracked or len(selections) > MAX_SELECTIONS
        known = {k: forms[k] for k in (int(v) for v in np.unique(out_form)) if k in forms}
        result = Provenance(
            _compact(np.asarray(out_rowid)),
            _compact(out_sites),
            _compact(np.asarray(out_support)),
            _compact(np.asarray(pattern)),
            _compact(np.asarray(out_form)),
            monomials,
            selections[:MAX_SELECTIONS],
            untracked,
            known,
            self.requirements,
            self.observed,
            self.degree,
        )
        return result if keepdims else result._each(lambda a: a.squeeze(axis=axes))

    def point(self) -> Provenance:
        """One element chosen by a secret comparison (a maximum, an argmax): one row's value."""
        return replace(
            self,
            rowid=_compact(np.where(self.rowid == NONE, NONE, MIXED)),
            support=_arr(1, self.ndim),
            pattern=_compact(mix(_POINT, self.pattern)),
        )

    def matmul_public(self, plain: Array, shape: Shape, left: bool, salt: int = 0) -> Provenance:
        """``X @ P`` or (``left``) ``P @ X`` for a public P: a product with P's entries (zeros
        drop rows, unequal entries weight rows differently), summed along the shared axis."""
        p = np.asarray(plain)
        public = Provenance.constant(p)
        a_shape, b_shape = (p.shape, shape) if left else (shape, p.shape)
        a, b = (public, self) if left else (self, public)
        return a.matmul(b, a_shape, b_shape, salt)

    def matmul(self, other: Provenance, a_shape: Shape, b_shape: Shape, salt: int = 0) -> Provenance:
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
        out = ea.times(eb).reduce(shape, -2, salt=salt)
        out_shape = shape[:-2] + shape[-1:]
        if b_vector:
            out = out.squeeze(out_shape, -1)
            out_shape = out_shape[:-1]
        if a_vector:
            out = out.squeeze(out_shape, -2 if not b_vector else -1)
        return out


def _weighted_by_another_site(pattern: Array, ra: Array, sa: Array, rb: Array, sb: Array) -> Array:
    """A row's data times another site's data on the same row (columns of one patient held by
    two sites; or a product whose factors hold both, as (x + w) ** 2 does): that site chose its factor, which may differ between rows however alike its
    pattern (a one-hot column given as floating point, weights of 1e-6 but for one row). Each
    such row enters a sum on its own, so the sum's atoms are single rows and ``min_rows``
    withholds it. A factor that is a selection (a 0/1 integer column, a comparison) only keeps
    or drops rows, whose numbers are checked instead; a statistic's products are covered by its
    declared rules."""
    both = np.bitwise_or(sa, sb)  # (a site's data plus another's minus it is still both sites')
    crossed = (ra != NONE) & (rb != NONE) & ((both & (both - 1)) != 0)
    if not np.any(crossed):
        return pattern
    rows = np.where(ra >= 0, ra, rb)  # (MIXED rows: still one pattern per position)
    shape = np.broadcast_shapes(pattern.shape, crossed.shape, rows.shape)
    own = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    return np.where(crossed, mix(_TIMES, pattern, rows, own), pattern)


def _aligned(a: Array, b: Array) -> tuple[Array, Array]:
    n = max(a.ndim, b.ndim)
    return _arr(a, n), _arr(b, n)


def _dedupe(selections: tuple[Selection, ...]) -> tuple[Selection, ...]:
    seen: dict[Any, Selection] = {}
    for s in selections:
        seen.setdefault(s.key(), s)
    return tuple(seen.values())


def _dedupe_requirements(requirements: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple({id(r): r for r in requirements}.values())


def _same(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Each object once (by identity), in order."""
    return tuple({id(v): v for v in values}.values())


def joined(numpy_func: Any, provs: Sequence[Provenance], shapes: Sequence[Shape], **kwargs: Any) -> Provenance:
    """The facts of ``numpy_func(parts)`` for a structural function (concatenate, stack, ...)."""
    parts = []
    for index in range(len(_FIELDS)):
        arrays = [np.broadcast_to(p.fitted(s)._arrays()[index], s) for p, s in zip(provs, shapes)]
        parts.append(_compact(np.asarray(numpy_func(arrays, **kwargs))))
    first = provs[0]
    out = replace(first, rowid=parts[0], sites=parts[1], support=parts[2], pattern=parts[3], form=parts[4])
    for p in provs[1:]:
        out = out._merged(p, out._arrays(), _union(out.monomials, p.monomials))
    return out
