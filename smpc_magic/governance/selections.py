"""Rules checked on secret data inside the computation: the secret selections behind a cell's
releases (each one's size and its complement's, every pair of nearly equal selections: one
product round per factor and one comparison batch) and dominance. Only whether any failed is
opened, with the cell's other rules, by :func:`smpc_magic.governance.disclosure.check_releases`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..secret.array import SecretArray
from ..secret.compare import argmax, stacked_signs
from ..secret.functions import divide
from ..secret.precision import claim_bound
from ..secret.provenance import inside_statistic
from .policy import SitePolicy


def selection_violations(selections: Sequence[Any], threshold: int, policy: SitePolicy) -> Any:
    """See :func:`_violations`; the check's own arithmetic is the engine's, not the cell's (no
    selection or soft selection of it is recorded)."""
    with inside_statistic():
        return _violations(selections, threshold, policy)


def _violations(selections: Sequence[Any], threshold: int, policy: SitePolicy) -> Any:
    """A secret 0/1: some selection's size k (or its complement's, n - k) lies in [1, threshold)
    (or k is 0 where zero counts are refused), or two selections over the same rows split them
    into a group (in both, in one only, in neither) of 1 to ``threshold - 1`` rows (``x > 63.5``
    and ``x > 64.5``: their difference is a small group; A, B and B's complement minus A's part
    single out A's part outside B; each column of a 2-d selection is one). An input a
    statistic counts (``counted``: its events, its groups) is a count: ``min_count`` applies to it
    and its complement. A product round per factor and one comparison batch."""
    groups: list[list[Any]] = []
    for sel in selections:
        parts = [rows_of(f, sel.rows) for f in sel.factors]
        if any(p is None for p in parts):
            return True  # a selection whose rows cannot be lined up: fail closed
        groups.append(parts)
    columns: list[tuple[Any, Any, int | None]] = []  # (selection, factor, column) compared pairwise
    for sel, parts in zip(selections, groups):
        if len(parts) == 1:
            width = parts[0].shape[1] if parts[0].ndim == 2 else None
            if parts[0].ndim > 2:
                return True  # fail closed
            columns += [(sel, sel.factors[0], j) for j in (range(width) if width is not None else [None])]
    if len(columns) > MAX_COMPARED:
        return True  # too many selections to compare pairwise: fail closed (the hint says so)
    pairs: list[tuple[Any, Any]] = []
    common_rows: list[int] = []
    strict: list[bool] = []  # both summed by the cell itself (a statistic's counted inputs are not sums)
    for i, (si, fi, ci) in enumerate(columns):
        for sj, fj, cj in columns[i + 1 :]:
            common = np.intersect1d(si.rows, sj.rows)
            if common.size:
                a, b = rows_of(fi, common), rows_of(fj, common)
                pairs.append((a if ci is None else a[:, ci], b if cj is None else b[:, cj]))
                common_rows.append(int(common.size))
                # (soft selections: the nearly-equal rule only; the four groups of two smooth
                # weights, such as log's and sqrt's, hold fractions of every row)
                strict.append(not si.counted and not sj.counted and not is_soft(si) and not is_soft(sj))
    sized = list(zip(selections, groups))
    products = [parts[0] for _, parts in sized]
    first_pairs: list[tuple[Any, Any, Any]] = []
    depth = 1
    while True:  # each selection's factors multiplied, and the pairs in the first round
        todo = [i for i, (_, parts) in enumerate(sized) if len(parts) > depth]
        extra = pairs if depth == 1 else []
        if not todo and not extra:
            break
        multiplied = _products([(products[i], sized[i][1][depth]) for i in todo] + extra)
        for i, m in zip(todo, multiplied):
            products[i] = m
        if extra:
            both = multiplied[len(todo) :]
            first_pairs = [(a.sum(), b.sum(), ab.sum()) for (a, b), ab in zip(extra, both)]
        depth += 1
    small_at: list[Any] = []
    empty_at: list[Any] = []
    # a selection by soft weights alone is checked by its spread instead (:func:`concentrated`):
    # scale-free, where a size over the weights' public range is not (exp(x / 10) over 0..100
    # weighs every ordinary row near 0)
    sized_products = [(sel, product) for (sel, _), product in zip(sized, products) if not all_soft(sel)]
    if sized_products:
        ks: list[Any] = []
        sizes: list[int] = []
        limits: list[int] = []
        crisp: list[float] = []  # 0 for a soft selection: a size near 0 is not exempt
        for sel, product in sized_products:
            ks.append(product.sum(axis=0).reshape(-1))
            sizes += [product.shape[0]] * ks[-1].size
            limits += [policy.min_count if sel.counted else threshold] * ks[-1].size
            crisp += [0.0 if is_soft(sel) else 1.0] * ks[-1].size
        k: Any = np.concatenate(ks)
        n = np.asarray(sizes, dtype=np.float64)
        t = np.asarray(limits, dtype=np.float64)
        small_at += [k - (t - 0.5), (n - t + 0.5) - k]
        empty_at += [k - 0.5, (n - 0.5) - k]
    if first_pairs:
        # the four groups two selections split their common rows into (in both, in one only, in
        # neither): sums over both selections tell each group apart, so each holds 0 or enough rows
        groups_of = [[a - ab, b - ab, ab, (float(m) - a - b) + ab] for (a, b, ab), m in zip(first_pairs, common_rows)]
        cells: Any = np.concatenate([g.reshape(1) for four in groups_of for g in four])
        small_at += [cells - (threshold - 0.5)]
        empty_at += [cells - 0.5]
    soft = list({id(f): (sel, f) for sel in selections for f in sel.factors if getattr(f, "_soft", None)}.values())
    if not small_at and not soft:
        return False
    if not small_at:
        return concentrated(soft, threshold)
    sizes_of = [int(v.size) for v in small_at]
    flat_small: Any = np.concatenate([v.reshape(-1) for v in small_at])
    flat_empty: Any = np.concatenate([v.reshape(-1) for v in empty_at])
    small_all, empty_all = stacked_signs([flat_small, flat_empty])
    cut = np.cumsum([0, *sizes_of])
    small = [small_all[cut[i] : cut[i + 1]] for i in range(len(sizes_of))]
    empty = [empty_all[cut[i] : cut[i + 1]] for i in range(len(sizes_of))]
    bad: Any = small_all[:1].sum() * 0
    if sized_products:  # small k that is not 0, or small n - k that is not 0 (soft: small at all)
        exempt = np.asarray(crisp)
        bad = bad + (small[0] * (1 - empty[0] * exempt)).sum() + (small[1] * (1 - empty[1] * exempt)).sum()
        if not policy.zero_counts:
            bad = bad + empty[0].sum()
    if first_pairs:
        i = 2 if sized_products else 0
        small_cells, empty_cells = small[i].reshape(-1, 4), empty[i].reshape(-1, 4)
        # two selections alone (with the total) tell apart only a small difference of nearly
        # equal sets: both differences small, not both empty; from three the cell sums itself
        # on, a combination can single out any of a pair's groups (A - B + C with C = B minus A)
        joint = _products([(small_cells[:, :2], small_cells[:, 1::-1]), (empty_cells[:, :2], empty_cells[:, 1::-1])])
        nearly = (joint[0][:, 0] - joint[1][:, 0]).reshape(-1)
        if sum(strict) >= 3 and any(strict):
            chosen = np.flatnonzero(strict)
            grouped = (small_cells[chosen] * (1 - empty_cells[chosen])).sum()
            rest = np.flatnonzero(~np.asarray(strict))
            bad = bad + grouped + (nearly[rest].sum() if rest.size else 0)
        else:
            bad = bad + nearly.sum()
    if soft:
        bad = bad + concentrated(soft, threshold)
    return bad


def concentrated(soft: Sequence[tuple[Any, Any]], k: int) -> Any:
    """How many soft selections set a few rows apart from the rest. ``soft``: (selection, factor)
    pairs; the factor's values as the cell computed them (``_raw``), at its rows. On either side
    of each column's mean, the deviations' effective number of rows ``(sum d) ** 2 / sum d ** 2``
    must be ``k`` or more, unless the deviations are all within a few steps of the value's
    precision (nothing to tell apart). A bump that is about the same for every row but one
    (``1 / -(4 + (x - 95) ** 2)``) passes the size rule, but its sum is the one row's value plus
    a known constant: this is the rule that sees it (a sum is the same release as the sum of any
    shift of it). Scale-free: the deviations are divided by their own secret total, so a public
    bound the cell widened on purpose changes nothing. Two comparison batches, a division batch
    and three product rounds."""
    raws = []
    for sel, factor in soft:
        part = rows_of(factor._raw, sel.rows)
        if part is None:
            return True  # fail closed
        raws.append(part.reshape(part.shape[0], -1))
    centred = [r - r.sum(axis=0) * (1.0 / r.shape[0]) for r in raws]
    flat: Any = np.concatenate([c.transpose().reshape(-1) for c in centred])
    sizes = [c.shape[0] for c in centred for _ in range(c.shape[1])]
    segments = np.zeros((len(sizes), int(sum(sizes))), dtype=np.int64)
    start = 0
    for j, size in enumerate(sizes):  # (a public 0/1 matrix: each column's sum)
        segments[j, start : start + size] = 1
        start += size
    below = stacked_signs([flat])[0]
    negative = _products([(flat, below)])[0]
    positive = flat - negative
    spread: Any = segments @ (positive - negative)  # each column's total deviation
    floor = 2.0 ** (4 - flat._scale)  # a few steps of the values' precision
    top = float(np.abs(flat._bound.magnitudes()).max()) * max(sizes) + 1.0
    flat_column = stacked_signs([spread - floor])[0]  # 1: nothing set apart
    total = claim_bound(spread + flat_column, floor / 2, top)
    share = divide(np.concatenate([positive, negative]), np.concatenate([segments.T @ total] * 2), known=(-1.0, 1.0))
    up, down = share[: flat.size], share[flat.size :]
    squares = _products([(up, up), (down, down)])
    sums = [segments @ v for v in (up, squares[0], down, squares[1])]
    mass = _products([(sums[0], sums[0]), (sums[2], sums[2])])
    few: Any = np.concatenate([mass[0] - sums[1] * float(k), mass[1] - sums[3] * float(k)])  # < 0: < k rows
    apart = stacked_signs([few])[0]
    exempt: Any = np.concatenate([flat_column, flat_column])
    return (apart * (1 - exempt)).sum()


def all_soft(selection: Any) -> bool:
    """A selection by soft weights only (no comparison, level or 0/1 column among its factors)."""
    return all(getattr(f, "_soft", None) for f in selection.factors)


def is_soft(selection: Any) -> bool:
    """A selection by a nonlinear function's values (:func:`~smpc_magic.secret.compare.soft_indicator`)."""
    return any(getattr(f, "_soft", None) for f in selection.factors)


#: the most single selections whose pairwise differences a cell's releases are checked for
MAX_COMPARED = 16


def _products(pairs: Sequence[tuple[Any, Any]]) -> list[Any]:
    """Elementwise products of several pairs of secrets (broadcast along trailing axes), in one round."""
    if not pairs:
        return []
    left, right, shapes = [], [], []
    for a, b in pairs:
        n = max(a.ndim, b.ndim)
        a = a.reshape(a.shape + (1,) * (n - a.ndim))
        b = b.reshape(b.shape + (1,) * (n - b.ndim))
        shape = np.broadcast_shapes(a.shape, b.shape)
        left.append((a + np.zeros(shape, dtype=np.int64)).reshape(-1))
        right.append((b + np.zeros(shape, dtype=np.int64)).reshape(-1))
        shapes.append(shape)
    both: Any = np.concatenate(left) * np.concatenate(right)
    out, offset = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(both[offset : offset + size].reshape(shape))
        offset += size
    return out


def rows_of(factor: Any, rows: Any) -> Any:
    """The part of a selection's secret factor at the input rows ``rows``, rows first (local), or
    None when the factor's rows are not laid out along one axis."""
    rowid = factor._prov.rowid
    if factor.ndim == 0 or rowid.ndim != factor.ndim:
        return None
    varying = [a for a, d in enumerate(rowid.shape) if d != 1]
    axis = varying[0] if len(varying) == 1 else (0 if not varying and factor.shape[0] == 1 else None)
    if axis is None or rowid.shape[axis] != factor.shape[axis]:
        return None
    ids = rowid.reshape(-1)
    if np.any(ids < 0):
        return None
    moved = factor if axis == 0 else factor.transpose([axis, *(a for a in range(factor.ndim) if a != axis)])
    return moved[np.nonzero(np.isin(ids, rows))[0]]


def dominated(contributions: Any, k: int, share: float) -> Any:
    """How many released cells have their ``k`` largest (non-negative) contributions above
    ``share`` of the cell's total: k rounds of a secret argmax down each column."""
    c: Any = contributions if contributions.ndim == 2 else contributions.reshape(-1, 1)
    rows = c.shape[0]
    total = c.sum(axis=0)
    top: Any = total * 0
    for _ in range(min(k, rows)):
        index = argmax(c, axis=0)
        chosen = index[None, :] == np.arange(rows)[:, None]  # one-hot of each column's largest
        largest = (chosen * c).sum(axis=0)
        top = top + largest
        c = c - chosen * c
    flags: Any = (top - total * share) > 0
    if not isinstance(flags, SecretArray):
        return bool(np.any(flags))
    return flags.sum() if flags.ndim else flags
