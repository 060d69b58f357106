"""Hashes and atoms behind provenance (:mod:`.provenance`).

A *pattern* is a 64-bit hash per element (equal patterns: equal values, or rows that enter a sum
the same way). A :class:`Form` holds the *atoms* behind an aggregate: its rows grouped so that
rows of one atom enter every sum combined into it the same way; differences and weighted sums
can tell atoms apart but nothing finer. Forms are keyed by content, so every party computes the
same keys.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..protocols.base import Array

#: support of an element behind which no aggregate lies
NO_ROWS = np.iinfo(np.int64).max
#: form of an element behind which no aggregate of tracked rows lies
NO_FORM = 0


# ----- hashes ----------------------------------------------------------------------------------------
def tag(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little") & ((1 << 63) - 1)


_M1, _M2, _GOLDEN = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


def _u64(value: Any) -> Array:
    return np.asarray(value).astype(np.int64).astype(np.uint64)


def mix(*parts: Any) -> Array:
    """A 64-bit hash of the parts, elementwise (broadcast): equal inputs, equal outputs."""
    with np.errstate(over="ignore"):
        h = np.asarray(np.uint64(0x5BD1E9955BD1E995))
        for part in parts:
            z = (h ^ _u64(part)) + _GOLDEN
            z = (z ^ (z >> np.uint64(30))) * _M1
            z = (z ^ (z >> np.uint64(27))) * _M2
            h = z ^ (z >> np.uint64(31))
    return h.astype(np.int64)


def value_pattern(values: Any) -> Array:
    """The pattern of public values: equal values, equal patterns."""
    v = np.array(np.asarray(values, dtype=np.float64) + 0.0, dtype=np.float64, order="C")  # (+0.0: -0.0 is 0.0)
    return mix(_VALUE, v.view(np.int64))


_VALUE, _PLUS, _TIMES, _SCALED, _REDUCE, _COPIES, _POINT, _AGG, _INPUT, _UNKNOWN = (
    tag(n) for n in ("value", "plus", "times", "scaled", "reduce", "copies", "point", "aggregate", "input", "unknown")
)
#: the pattern of a public zero (a product with it has no row behind it)
ZERO = int(value_pattern(0.0))


# ----- forms ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Form:
    """The rows behind an aggregate grouped into atoms (see the module's docstring)."""

    rows: Array  # sorted input row ids
    labels: Array  # each row's atom, 0 .. atoms - 1 (numbered in order of their first row)
    row_sites: Array  # each row's site mask
    sizes: Array  # rows per atom
    atom_sites: Array  # each atom's site mask
    key: int

    @property
    def smallest(self) -> int:
        return int(self.sizes.min()) if self.sizes.size else NO_ROWS

    def single_site_atom(self) -> int | None:
        """A site index if some atom holds rows of that one site only."""
        for m in np.unique(self.atom_sites).tolist():
            if m > 0 and (m & (m - 1)) == 0:
                return int(m).bit_length() - 1
        return None


_FORMS: weakref.WeakValueDictionary[int, Form] = weakref.WeakValueDictionary()
_REFINED: weakref.WeakValueDictionary[tuple[int, ...], Form] = weakref.WeakValueDictionary()


def digest(values: Array) -> int:
    data = np.ascontiguousarray(values, dtype=np.int64).tobytes()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") & ((1 << 63) - 1)


def make_form(rows: Array, labels: Array, row_sites: Array) -> Form:
    """The form of ``rows`` (sorted, distinct) grouped by equal ``labels``."""
    if labels.size and labels.min() == labels.max():  # one atom
        order = np.zeros(1, dtype=np.int64)
        canonical = np.zeros(labels.size, dtype=np.int64)
    else:
        _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        renumber = np.empty_like(order)
        renumber[order] = np.arange(order.size)
        canonical = renumber[inverse.reshape(-1)].astype(np.int64)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    row_sites = np.ascontiguousarray(row_sites, dtype=np.int64)
    digest = hashlib.blake2b(rows.tobytes() + canonical.tobytes() + row_sites.tobytes(), digest_size=8).digest()
    key = (int.from_bytes(digest, "little") & ((1 << 62) - 1)) | 1
    cached = _FORMS.get(key)
    if cached is not None:
        return cached
    sizes = np.bincount(canonical, minlength=order.size).astype(np.int64)
    if sizes.size == 1:
        atom_sites = np.bitwise_or.reduce(row_sites, keepdims=True) if rows.size else np.zeros(0, np.int64)
    else:
        by_atom = np.argsort(canonical, kind="stable")
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        atom_sites = np.bitwise_or.reduceat(row_sites[by_atom], starts) if rows.size else np.zeros(0, np.int64)
    form = Form(rows, canonical, row_sites, sizes, atom_sites, key)
    _FORMS[key] = form
    return form


def refine(forms: Sequence[Form]) -> Form:
    """The atoms of several forms together: rows grouped by their atom in every one."""
    unique = list({f.key: f for f in forms}.values())
    if len(unique) == 1:
        return unique[0]
    key = tuple(sorted(f.key for f in unique))
    cached = _REFINED.get(key)
    if cached is not None:
        return cached
    rows = np.unique(np.concatenate([f.rows for f in unique]))
    labels = np.zeros(rows.size, dtype=np.int64)
    sites = np.zeros(rows.size, dtype=np.int64)
    for f in unique:
        pos = np.minimum(np.searchsorted(f.rows, rows), max(f.rows.size - 1, 0))
        present = f.rows[pos] == rows if f.rows.size else np.zeros(rows.size, dtype=bool)
        labels = mix(labels, np.where(present, f.labels[pos] if f.rows.size else 0, -1))
        sites |= np.where(present, f.row_sites[pos] if f.rows.size else 0, 0)
    form = make_form(rows, labels, sites)
    _REFINED[key] = form
    return form


def levels(ids: Array, sites: Array, patterns: Array, outputs: Array) -> Form:
    """The atoms of the rows summed into the ``outputs`` (a mask over the rows of ``ids``):
    rows grouped by which outputs they enter, how often and with which patterns."""
    take = outputs[:, None] & (ids >= 0)
    which = np.broadcast_to(np.arange(ids.shape[0])[:, None], ids.shape)[take]
    e_ids, e_sites = ids[take], sites[take]
    with np.errstate(over="ignore"):
        e_hash = mix(which, patterns[take]).astype(np.uint64)
    order = np.argsort(e_ids, kind="stable")
    e_ids, e_sites, e_hash = e_ids[order], e_sites[order], e_hash[order]
    starts = np.flatnonzero(np.concatenate([[True], e_ids[1:] != e_ids[:-1]]))
    with np.errstate(over="ignore"):
        labels = np.add.reduceat(e_hash, starts).astype(np.int64)
    return make_form(e_ids[starts], labels, np.bitwise_or.reduceat(e_sites, starts))


def forms_per_output(
    e_frm: Array, outputs: Array, forms: dict[int, Form], out_form: Array, shape_kept: list[int]
) -> Array:
    """For outputs not aggregating rows: the forms of the aggregates in their summed elements."""
    result = out_form.reshape(-1).copy() if out_form.size == outputs.size else None
    if result is None:
        result = np.broadcast_to(out_form, tuple(shape_kept)).reshape(-1).copy()
    for k in np.flatnonzero(outputs):
        keys = [int(f) for f in np.unique(e_frm[k]) if f != NO_FORM and int(f) in forms]
        if keys:
            form = refine([forms[f] for f in keys])
            forms[form.key] = form
            result[k] = form.key
    return result.reshape(tuple(shape_kept))


def combined_forms(
    fa: Array, fb: Array, forms: dict[int, Form], support: Array
) -> tuple[Array, dict[int, Form], Array]:
    """Elementwise: the forms of two combined elements refined together (their atoms and the
    support that follows)."""
    fa, fb = np.broadcast_arrays(fa, fb)
    both = (fa != NO_FORM) & (fb != NO_FORM) & (fa != fb)
    form = np.where(fa == NO_FORM, fb, fa)
    if not np.any(both):
        return form, forms, support
    forms = dict(forms)
    pairs, inverse = np.unique(np.stack([fa[both], fb[both]]), axis=1, return_inverse=True)
    keys = np.empty(pairs.shape[1], dtype=np.int64)
    smallest = np.empty(pairs.shape[1], dtype=np.int64)
    for i in range(pairs.shape[1]):
        a, b = int(pairs[0, i]), int(pairs[1, i])
        if a in forms and b in forms:
            joint = refine([forms[a], forms[b]])
            forms[joint.key] = joint
            keys[i], smallest[i] = joint.key, joint.smallest
        else:  # a form not carried along: fail closed (one row)
            keys[i], smallest[i] = a, 1
    form = form.copy()
    form[both] = keys[inverse.reshape(-1)]
    support = np.broadcast_to(support, form.shape).copy()
    support[both] = np.minimum(support[both], smallest[inverse.reshape(-1)])
    return form, forms, support
