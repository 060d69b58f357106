"""The provenance a secret carries (smpc_magic/secret/provenance.py) against the truth.

A random program of the operations a cell can write is run twice: on plain numbers, and on the
public facts the engine tracks. Wherever the engine's public rules would release a value under the
strictest policy (not row-level, at least ``MIN_ROWS`` rows behind every part, no part from one
site alone), perturbing one input row at a time must show the same: every released number
depends on no row or on at least ``MIN_ROWS`` rows, of more than one site. Inputs and public
factors are non-negative, so nothing cancels (differences of overlapping sums are a documented
limit, README "Governance").
"""

from __future__ import annotations

import numpy as np
import pytest

from smpc_magic.secret.provenance import Provenance

pytestmark = pytest.mark.timeout(120)

MIN_ROWS = 3
SITES = np.array([0] * 8 + [1] * 8 + [2] * 8)
N = len(SITES)


def _program(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, Provenance]:
    """A random program over x (N rows x 2 columns); returns its plain value and provenance."""
    values = [(x[:, 0], Provenance.rows(SITES, 1)), (x, Provenance.rows(SITES, 2))]
    v, p = values[rng.integers(len(values))]
    for _ in range(rng.integers(1, 7)):
        op = rng.integers(9)
        if op == 0 and v.ndim >= 1 and v.shape[0] > 2:  # a public slice of rows
            a = int(rng.integers(0, v.shape[0] - 1))
            b = int(rng.integers(a + 1, v.shape[0] + 1))
            v, p = v[a:b], p.index(v.shape, slice(a, b))
        elif op == 1 and v.ndim == 1:  # public padding
            pad = np.zeros(int(rng.integers(1, 4)))
            v, p = np.concatenate([v, pad]), _joined_with_public(p, v.shape, pad)
        elif op == 2:  # a positive public scale
            c = float(rng.uniform(0.5, 3))
            v, p = v * c, p.times_public(np.asarray(c))
        elif op == 3 and v.ndim >= 1:  # a public non-negative weight per row, some zero
            w = rng.integers(0, 2, v.shape[0]).astype(float) * rng.uniform(0.5, 2, v.shape[0])
            w = w.reshape((-1,) + (1,) * (v.ndim - 1))
            v, p = v * w, p.times_public(w)
        elif op == 4:  # a sum over an axis or all
            axis = None if v.ndim == 0 or rng.random() < 0.4 else int(rng.integers(v.ndim))
            v, p = v.sum(axis=axis), p.reduce(v.shape, axis)
        elif op == 5 and v.ndim >= 1:  # a public non-negative matrix on the left
            m = int(rng.integers(1, 4))
            public = rng.integers(0, 2, (m, v.shape[0])).astype(float)
            v, p = public @ v, p.matmul_public(public, v.shape, True)
        elif op == 6:  # plus or times one of the starting values, where shapes line up
            u, q = values[rng.integers(len(values))]
            if _fits(u.shape, v.shape):
                if rng.random() < 0.5:
                    v, p = v + u, p.plus(q)
                else:
                    v, p = v * u, p.times(q)
        elif op == 7 and v.ndim == 1 and v.shape[0] % 2 == 0:  # reshape and transpose
            v2 = v.reshape(2, -1)
            v, p = v2.T, p.reshape(v.shape, v2.shape).transpose()
        elif op == 8 and v.ndim == 2:
            v, p = v.T, p.transpose()
    return v, p


def _fits(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    try:
        return len(small) <= len(big) and np.broadcast_shapes(small, big) == big
    except ValueError:
        return False


def _joined_with_public(p: Provenance, shape: tuple[int, ...], pad: np.ndarray) -> Provenance:
    from smpc_magic.secret.provenance import joined

    return joined(np.concatenate, [p, Provenance.constant(pad)], [shape, pad.shape])


def _released(p: Provenance) -> bool:
    """What the engine's public rules release under the strictest policy."""
    fewest = p.fewest_rows()
    return not p.is_row_level() and (fewest is None or fewest >= MIN_ROWS) and p.single_site() is None


@pytest.mark.parametrize("seed", range(6))
def test_what_the_rules_release_depends_on_enough_rows_of_several_sites(seed):
    rng = np.random.default_rng(seed)
    released = withheld = 0
    for _ in range(150):
        x = rng.uniform(1, 10, (N, 2))
        program = int(rng.integers(1 << 32))
        value, prov = _program(np.random.default_rng(program), x)
        if not _released(prov):
            withheld += 1
            continue
        released += 1
        support: list[set[int]] = [set() for _ in range(max(np.size(value), 1))]
        for row in range(N):  # the same program on each perturbed input
            bumped = x.copy()
            bumped[row] += 1.0
            again, _ = _program(np.random.default_rng(program), bumped)
            for e in np.nonzero(np.atleast_1d(np.abs(again - value) > 1e-9).reshape(-1))[0]:
                support[e].add(row)
        for rows in support:
            assert len(rows) == 0 or len(rows) >= MIN_ROWS, (rows, prov)
            assert len(rows) == 0 or len({int(SITES[r]) for r in rows}) > 1, (rows, prov)
    assert released and withheld  # the programs exercise both sides of the rules


def test_a_kept_secret_keeps_what_it_is_derived_from(parties):
    """--keep: a value kept from one cell is rebound in the next with its provenance and its
    statistics mark (a kept x[1:] is still row-level)."""
    from smpc_magic.engine.release import rebind

    def body(ctx, share):
        from smpc_magic.secret.array import SecretArray

        x = SecretArray(ctx, share, 0, prov=Provenance.rows(SITES[:4], 1))
        kept = rebind(x[1:], ctx)
        return kept._prov.is_row_level() and kept._prov.rowid.tolist() == [1, 2, 3]

    shares, _ = parties.share(np.arange(4))
    assert all(parties.run(body, shares))


def test_selections_over_different_rows_are_different_selections():
    """Two selections by the same factor over row sets of the same size and the same sum of row
    ids ({0, 3} and {1, 2}) are checked separately (a merged key once skipped one of them)."""
    from smpc_magic.secret.provenance import Selection, _dedupe

    factor = object()
    first, second = Selection((factor,), np.array([0, 3])), Selection((factor,), np.array([1, 2]))
    assert len(_dedupe((first, second))) == 2
    assert len(_dedupe((first, Selection((factor,), np.array([0, 3]))))) == 1


@pytest.mark.parametrize(
    "build",
    [
        lambda x: x.reduce((N,), None).plus(x.index((N,), slice(1, None)).reduce((N - 1,), None).mapped("neg")),
        lambda x: x.times_public(np.r_[1.0, np.full(N - 1, 1e-6)]).reduce((N,), None),
        lambda x: x.matmul_public(np.eye(N) + 1, (N,), False),
    ],
)
def test_sums_that_single_out_a_row_have_an_atom_of_one_row(build):
    """Differences of overlapping sums and unequal public weights: the atoms behind the result
    say that one row can be told apart (support 1)."""
    assert build(Provenance.rows(SITES, 1, tag="x")).fewest_rows() == 1


def test_equal_weights_keep_every_row_in_one_atom():
    x = Provenance.rows(SITES, 1, tag="x")
    assert x.times_public(np.full(N, 2.5)).reduce((N,), None).fewest_rows() == N
    assert x.reduce((N,), None).plus(x.reduce((N,), None)).fewest_rows() == N
